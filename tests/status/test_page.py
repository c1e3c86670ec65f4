"""The status page end to end: real upstreams (health servers on port 0, the real alerting service with
real alerts and a real silence posted over HTTP), a real inventory; assertions on the JSON and the HTML."""

from __future__ import annotations

import re
from pathlib import Path

from jboxmon.status_component import StatusComponent
from storage.http import HttpClient
from tests.status.conftest import EVIL, HealthServer, closed_port_url, make_config


def _get(url: str):
    with HttpClient() as http:
        return http.request("GET", url, check=False)


def test_json_shows_components_fleet_and_alerts(fleet_page: StatusComponent) -> None:
    doc = _get(fleet_page.url + "/api/v1/status").json()
    components = {c["name"]: c for c in doc["components"]}
    assert {n: c["state"] for n, c in components.items()} == {
        "collector": "degraded", "rules": "degraded", "alerting": "up", "retention": "down"
    }  # fmt: skip
    assert components["collector"]["reason"] == "degraded: InfluxDB unreachable, spooling"
    assert components["retention"]["reason"] == "unreachable: Connection refused"
    assert components["alerting"]["checked_ago_s"] < 30 and not components["alerting"]["stale"]
    assert doc["overall"] == "down" and doc["stale"] is False

    fleet = doc["fleet"]
    assert (fleet["registered"], fleet["reporting"], fleet["silent"]) == (6, 2, 4)
    # most recently lost first, never-reported last; capped at max_listed (3) with the rest counted
    assert [b["jbox_id"] for b in fleet["silent_boxes"]] == ["jbox-0002", "jbox-0003", "jbox-0004"]
    assert fleet["silent_boxes_more"] == 1
    assert 590 < fleet["silent_boxes"][0]["silent_for_s"] < 700
    assert fleet["silent_boxes"][0]["link"] == "/box/jbox-0002"
    assert {r["name"]: (r["registered"], r["reporting"]) for r in fleet["regions"]} == {"IDF": (4, 2), "PACA": (2, 0)}
    assert fleet["sites"][0]["silent"] >= fleet["sites"][1]["silent"]

    alerts = doc["alerts"]
    assert alerts["error"] is None
    assert alerts["counts"]["firing"] == 5 and alerts["counts"]["silenced"] == 1
    # unsilenced first, critical before warning, newest first within a severity; capped at 3
    assert [(a["alertname"], a["jbox_id"]) for a in alerts["items"]] == [
        ("LabelInjection", EVIL), ("Overheating", "jbox-0000"), ("Overheating", "jbox-0002")
    ]  # fmt: skip
    assert alerts["more"] == 2
    assert alerts["items"][1]["severity"] == "critical" and 50 < alerts["items"][1]["for_s"] < 200
    assert alerts["items"][0]["link"] == "/box/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E"


def test_silenced_alert_is_listed_last_and_marked(tmp_path: Path, fleet_page: StatusComponent) -> None:
    rows = fleet_page.service.snapshot.alerts.rows
    assert [r.jbox_id for r in rows][-1] == "jbox-0003"
    assert rows[-1].silenced_by and rows[-2].severity == "warning" and not rows[-2].suppressed


def test_html_escapes_labels_and_shows_the_same_data(fleet_page: StatusComponent) -> None:
    response = _get(fleet_page.url + "/")
    assert response.status_code == 200
    page = response.text
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'id="component-retention"' in page and 'class="component state-down"' in page
    assert "degraded: InfluxDB unreachable, spooling" in page
    assert 'href="/box/jbox-0002"' in page and "Overheating" in page
    assert "2 more" in page  # alerts beyond max_listed
    # the only script is our own file; no external asset anywhere
    assert page.count("<script") == 1 and 'src="/static/refresh.js"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_box_page_lists_its_alerts_and_unknown_box_is_404(fleet_page: StatusComponent) -> None:
    box = _get(fleet_page.url + "/api/v1/box/jbox-0002").json()
    assert box["region"] == "IDF" and box["reporting"] is False
    assert [a["alertname"] for a in box["alerts"]] == ["Overheating"]
    page = _get(fleet_page.url + "/box/jbox-0002")
    assert page.status_code == 200 and "Overheating" in page.text and "silent" in page.text
    missing = _get(fleet_page.url + "/box/" + "%3Cb%3Enope")
    assert missing.status_code == 404 and "<b>nope" not in missing.text and "&lt;b&gt;nope" in missing.text


def test_static_files_are_a_fixed_list(fleet_page: StatusComponent) -> None:
    assert _get(fleet_page.url + "/static/refresh.js").status_code == 200
    assert _get(fleet_page.url + "/static/status.css").headers["Content-Type"].startswith("text/css")
    assert _get(fleet_page.url + "/static/..%2Fapp.py").status_code == 404
    assert _get(fleet_page.url + "/static/app.py").status_code == 404


def test_own_health_and_metrics(fleet_page: StatusComponent) -> None:
    assert _get(fleet_page.url + "/health").json() == {"status": "ok"}
    metrics = _get(fleet_page.url + "/metrics").text
    assert 'jboxmon_status_component_up{component="retention"} 0.0' in metrics
    assert 'jboxmon_status_component_up{component="alerting"} 1.0' in metrics
    assert 'jboxmon_status_boxes{state="silent"} 4.0' in metrics


def test_alerting_down_means_alerts_unknown_not_none(tmp_path: Path, health_servers: list[HealthServer]) -> None:
    up = HealthServer()
    health_servers.append(up)
    urls = {"collector": up.url, "rules": up.url, "retention": up.url, "alerting": closed_port_url()}
    status = StatusComponent(make_config(tmp_path, urls), port=0)
    snapshot = status.service.refresher.refresh_once()
    status.service.stop()
    assert snapshot.alerts.error and "unreachable" in snapshot.alerts.error
    assert snapshot.fleet.error and "no fleet inventory" in snapshot.fleet.error
    assert not (tmp_path / "registry.sqlite").exists()  # the page reports a missing registry, never creates one
