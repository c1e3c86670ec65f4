"""The status page tells the truth: its banner says the worst of the components, the alerts and the
fleet (critical alerts firing make it red, counted), durations run from the firing time, the box view
shows the alert's chart (drawn by the alerting service from a real InfluxDB) and links to a silence
form prefilled with the alert's matchers."""

from __future__ import annotations

import time
from pathlib import Path

from inventory import Box
from jboxmon.alerting_component import AlertingComponent
from jboxmon.status_component import StatusComponent
from status.banner import banner
from status.model import AlertRow, AlertsView, ComponentStatus, FleetView, Snapshot
from storage.http import HttpClient
from storage.lineprotocol import encode_point
from tests.status.conftest import HealthServer, _wait_for_snapshot, make_config, post_alerts, register

NOW = 1_800_000_000.0


def _get(url: str):
    with HttpClient() as http:
        return http.request("GET", url, check=False)


def _snapshot(states=("up", "up", "up", "up"), alerts=(), error=None, registered=10, reporting=10) -> Snapshot:
    names = ("collector", "rules", "alerting", "retention")
    components = tuple(ComponentStatus(n, f"http://{n}", s) for n, s in zip(names, states, strict=True))
    return Snapshot(components, FleetView(registered=registered, reporting=reporting),
                    AlertsView(rows=tuple(alerts), error=error), taken_at=NOW)  # fmt: skip


def _row(severity: str, box: str = "jbox-1", silenced: bool = False) -> AlertRow:
    return AlertRow("A", severity, box, "s", "r", "", NOW - 300, silenced_by=("id",) if silenced else ())


def test_critical_alerts_make_the_banner_red_with_counts() -> None:
    shown = banner(_snapshot(alerts=[_row("critical")] * 4 + [_row("warning")]))
    assert shown == {"level": "red", "headline": "4 critical alerts firing", "details": ["1 warning alert firing"]}


def test_banner_orders_findings_worst_first() -> None:
    shown = banner(_snapshot(states=("up", "degraded", "up", "down"), alerts=[_row("critical")], registered=10,
                             reporting=8))  # fmt: skip
    assert shown["level"] == "red"
    assert shown["headline"] == "Monitoring down: retention"
    assert shown["details"] == ["1 critical alert firing", "monitoring degraded: rules", "2 of 10 boxes silent"]


def test_silenced_criticals_and_warnings_are_amber_and_nothing_is_green() -> None:
    shown = banner(_snapshot(alerts=[_row("critical", silenced=True), _row("warning")]))
    assert (shown["level"], shown["headline"]) == ("amber", "1 warning alert firing")
    assert banner(_snapshot(error="cannot read"))["level"] == "amber"
    clear = banner(_snapshot(states=("up", "up", "up", "disabled")))
    assert clear == {"level": "green", "headline": "All clear: monitoring up (3 components), no alert firing",
                     "details": []}  # fmt: skip


def test_page_banner_and_box_view(fleet_page: StatusComponent) -> None:
    doc = _get(fleet_page.url + "/api/v1/status").json()
    # the fixture: retention down, collector and rules degraded, 3 critical alerts unsilenced
    assert doc["banner"]["level"] == "red" and doc["banner"]["headline"] == "Monitoring down: retention"
    assert doc["banner"]["details"][0] == "3 critical alerts firing"
    page = _get(fleet_page.url + "/").text
    assert 'class="banner level-red"' in page and "Monitoring down: retention" in page
    assert '<td class="id"><a href="/box/jbox-0002">jbox-0002</a></td>' in page  # ids never wrap (CSS)
    css = _get(fleet_page.url + "/static/status.css").text
    assert "td.id, th.id, .id, td.alertname { white-space: nowrap; }" in css
    # 'firing for' counts from the alert's start (15 minutes ago in the fixture), not from a template
    overheat = next(a for a in doc["alerts"]["items"] if a["jbox_id"] == "jbox-0002")
    assert 890 < overheat["for_s"] < 1000
    box = _get(fleet_page.url + "/box/jbox-0002").text
    assert 'src="/box/jbox-0002/chart.png"' in box
    assert 'href="/silences/new?matcher=alertname%3D%22Overheating%22&amp;matcher=jbox_id%3D%22jbox-0002%22"' in box
    # this alerting service reads no InfluxDB: the chart's 404 says so
    chart = _get(fleet_page.url + "/box/jbox-0002/chart.png")
    assert chart.status_code == 404 and "no charts" in chart.text


def test_silence_form_is_prefilled_and_escaped(fleet_page: StatusComponent) -> None:
    url = fleet_page.url + '/silences/new?matcher=jbox_id%3D%22jbox-0002%22&matcher=%3Cb%3Ebad'
    page = _get(url)
    assert page.status_code == 200
    assert '<li class="mono id">jbox_id=&#34;jbox-0002&#34;</li>' in page.text
    assert "not a matcher" in page.text and "<b>bad" not in page.text
    assert "jboxmon silences add &#39;jbox_id=&#34;jbox-0002&#34;&#39;" in page.text


def test_box_view_chart_drawn_by_alerting_from_influxdb(tmp_path: Path, influx, health_servers) -> None:
    up = HealthServer()
    health_servers.append(up)
    now = int(time.time())
    influx.write([encode_point("telemetry", {"jbox_id": "jbox-0007"},
                               {"p_setpoint_kw": 400.0, "p_meas_kw": 400.0 if k < 100 else 0.0, "soc_pct": 55.0},
                               (now - 3600 + k * 30) * 1_000_000_000) for k in range(120)])  # fmt: skip
    urls = {"collector": up.url, "rules": up.url, "retention": up.url}
    alerting = AlertingComponent(make_config(tmp_path, urls), influx, port=0).start()  # charts from InfluxDB
    try:
        config = make_config(tmp_path, {**urls, "alerting": alerting.url})
        register(config.inventory.path, [Box("jbox-0007", site="s", region="r")], {"jbox-0007": now})
        labels = {"alertname": "SetpointNotFollowed", "jbox_id": "jbox-0007", "severity": "critical"}
        post_alerts(alerting.url, [{"labels": labels, "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                time.gmtime(now - 600))}])  # fmt: skip
        status = StatusComponent(config, port=0).start()
        try:
            _wait_for_snapshot(status)
            chart = _get(status.url + "/box/jbox-0007/chart.png")
            assert chart.status_code == 200 and chart.headers["Content-Type"] == "image/png"
            assert chart.content.startswith(b"\x89PNG") and len(chart.content) > 10_000
            direct = _get(alerting.url + "/api/v1/chart?jbox_id=jbox-0007")
            assert "SetpointNotFollowed" in direct.headers["X-Chart-Caption"]  # the alert's chart, not the box's
            assert _get(status.url + "/box/jbox-0007/chart.png").content == chart.content  # kept for a refresh
        finally:
            status.stop()
    finally:
        alerting.stop()
