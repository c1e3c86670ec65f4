"""Alertmanager's semantics where jboxmon once differed: inhibition released at the source's end time,
the two-sided inhibition rule, resolutions carrying only endsAt, its fingerprint and groupKey formats,
and the alert states of its v2 API. Time is injected (``threads=False``)."""

from __future__ import annotations

import time

import pytest
import requests

from alerting.alerts import StoredAlert, iso
from alerting.identity import fingerprint, fingerprints, go_quote, group_key
from alerting.route import build
from config.alerting import RouteConfig
from jboxmon.alerting_component import AlertingComponent

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _item(name: str, box: str, severity: str, *, starts: float | None = T0, ends: float | None = None) -> dict:
    item = {"labels": {"alertname": name, "jbox_id": box, "severity": severity}}
    if starts is not None:
        item["startsAt"] = iso(starts)
    if ends is not None:
        item["endsAt"] = iso(ends)
    return item


def _states(service) -> dict[tuple[str, str], dict]:
    return {(v["labels"]["alertname"], v["labels"]["jbox_id"]): v["status"] for v in service.alert_views()}


INHIBIT = {"inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                              "equal": ["jbox_id"]}]}  # fmt: skip


def test_inhibition_ends_with_the_source_endsat(service_factory) -> None:
    clock = Clock()
    service = service_factory({"route": {"receiver": "log", "group_by": ["alertname", "jbox_id"], "group_wait": "1s",
                                         "group_interval": "2s"}, **INHIBIT}, clock=clock, threads=False)  # fmt: skip
    service.receive([_item("Overtemp", "b1", "critical", ends=T0 + 12), _item("Fan", "b1", "warning")])
    clock.now = T0 + 1
    service.tick()
    source = fingerprint({"alertname": "Overtemp", "jbox_id": "b1", "severity": "critical"})
    assert _states(service)[("Fan", "b1")] == {"state": "suppressed", "silencedBy": [], "inhibitedBy": [source]}
    clock.now = T0 + 12.05  # nothing arrives: the source ends by its own endsAt
    service.tick()
    history = [(e.alertname, e.state, e.at) for e in service.history.query(kind="alert")]
    assert ("Fan", "firing", T0 + 12.05) in history  # released at the end time by the scheduled recompute
    assert _states(service) == {("Fan", "b1"): {"state": "active", "silencedBy": [], "inhibitedBy": []}}
    clock.now = T0 + 13
    service.tick()
    notified = [e.detail["alertnames"] for e in service.history.query(kind="notification")]
    assert notified[-1] == ["Fan"] and ["Fan"] not in notified[:-1]


def test_alerts_matching_both_sides_are_not_inhibited_by_sources_matching_both_sides(service_factory) -> None:
    rules = {"inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['alertname=~"Disk.*"'],
                                "equal": ["jbox_id"]}]}  # fmt: skip
    service = service_factory({"route": {"receiver": "log"}, **rules}, clock=Clock(), threads=False)
    service.receive([_item("DiskFull", "b1", "critical"), _item("DiskSlow", "b1", "critical"),
                     _item("DiskWarn", "b1", "warning")])  # fmt: skip
    states = _states(service)
    assert states[("DiskFull", "b1")]["state"] == states[("DiskSlow", "b1")]["state"] == "active"
    assert states[("DiskWarn", "b1")]["state"] == "suppressed"  # target side only: inhibited
    # a source matching only the source side still inhibits the two-sided alerts
    service.receive([_item("Fire", "b1", "critical")])
    fire = fingerprint({"alertname": "Fire", "jbox_id": "b1", "severity": "critical"})
    states = _states(service)
    assert states[("DiskFull", "b1")]["inhibitedBy"] == states[("DiskSlow", "b1")]["inhibitedBy"] == [fire]
    assert states[("Fire", "b1")]["state"] == "active"


def test_a_resolution_with_only_endsat_resolves(service_factory) -> None:
    clock = Clock()
    service = service_factory({"route": {"receiver": "log"}}, clock=clock, threads=False)
    service.receive([_item("Fan", "b1", "warning")])
    clock.now = T0 + 30
    service.receive([_item("Fan", "b1", "warning", starts=None, ends=T0 + 20)])
    held = next(iter(service.alerts.values()))
    assert (held.starts_at, held.ends_at) == (T0, T0 + 20)  # one episode: the first start, the given end
    assert service.alert_views() == []  # resolved alerts are not in Alertmanager's v2 list
    [view] = service.jboxmon_alert_views()
    assert view["state"] == "resolved"
    # a new alert with only endsAt starts at its end, as Alertmanager sets it
    service.receive([_item("Pump", "b2", "warning", starts=None, ends=T0 + 25)])
    pump = service.alerts[fingerprint({"alertname": "Pump", "jbox_id": "b2", "severity": "warning"})]
    assert pump.starts_at == pump.ends_at == T0 + 25


def test_merge_keeps_a_later_explicit_end_over_a_resolve_timeout() -> None:
    labels = {"alertname": "A"}
    held = StoredAlert(labels, {}, T0, T0 + 3600, T0, ends_given=True)
    update = StoredAlert(labels, {}, T0 + 10, T0 + 10 + 300, T0 + 10, ends_given=False)
    held.merge(update)
    assert (held.starts_at, held.ends_at) == (T0, T0 + 3600)


def test_fingerprint_is_fnv1a_64_over_sorted_labels() -> None:
    assert fingerprint({}) == "cbf29ce484222325"  # the FNV-1a 64 offset basis: Go's emptyLabelSignature
    # FNV-1a 64 of the bytes "a\xffb\xff", computed step by step from the published constants
    value = 0xCBF29CE484222325
    for byte in b"a\xffb\xff":
        value = ((value ^ byte) * 0x100000001B3) % 2**64
    assert fingerprint({"a": "b"}) == f"{value:016x}"
    assert fingerprint({"b": "2", "a": "1"}) == fingerprint({"a": "1", "b": "2"})
    assert fingerprint({"a": "b\xffc"}) != fingerprint({"a": "b", "c": ""})


def test_batch_fingerprints_equal_one_by_one() -> None:
    """The numpy path (large batches) against the scalar one: varying lengths, non-ASCII, the empty set."""
    sets = [{"alertname": "A" * (i % 7), "jbox_id": f"jbox-{i:05d}", "site": "Zürich"[: i % 6]} for i in range(600)]
    sets += [{}, {"a": "b"}]
    assert fingerprints(sets) == [fingerprint(labels) for labels in sets]


def test_group_key_is_alertmanagers() -> None:
    root = build(RouteConfig.model_validate({
        "receiver": "r", "routes": [{"receiver": "r", "matchers": ['team=~"a|b"', 'severity="critical"'],
                                     "routes": [{"receiver": "r", "match": {"site": "s1"}}]}]}))  # fmt: skip
    child = root.routes[0].routes[0]
    assert root.key == "{}"
    assert child.key == '{}/{severity="critical",team=~"a|b"}/{site="s1"}'
    labels = {"site": 'Z\u00fcrich "n"\t\\', "alertname": "X"}
    assert group_key(child.key, labels) == (
        '{}/{severity="critical",team=~"a|b"}/{site="s1"}:{alertname="X", site="Z\u00fcrich \\"n\\"\\t\\\\"}'
    )
    assert go_quote("\x01\u2028") == '"\\x01\\u2028"'


def test_deep_json_and_huge_bodies_are_client_errors(tmp_path, monkeypatch) -> None:
    from config import load_config

    path = tmp_path / "jboxmon.yaml"
    path.write_text("auth: {mode: none}\n"  # loopback; this test is about the body parser
                    f"alerting:\n  outbox: {tmp_path}/o.sqlite\n  silences: {tmp_path}/s.sqlite\n"
                    f"  history: {tmp_path}/h.sqlite\n")  # fmt: skip
    component = AlertingComponent(load_config(path), None, path, port=0).start()
    json_body = {"Content-Type": "application/json"}  # else the control plane's CSRF check answers 415
    try:
        url = component.url + "/api/v2/alerts"
        deep = requests.post(url, data="[" * 100_000 + "]" * 100_000, headers=json_body, timeout=30)
        assert deep.status_code == 400 and "nested too deeply" in deep.json()["message"]
        assert requests.post(component.url + "/api/v2/silences", data='{"a":' * 50_000, headers=json_body,
                             timeout=30).status_code == 400  # fmt: skip
        monkeypatch.setattr("alerting.api.MAX_BODY_BYTES", 4096)  # read at request time
        assert requests.post(url, data=b"[" + b" " * 5000 + b"]", headers=json_body, timeout=5).status_code == 413
        no_length = iter([b"[", b" " * 3000, b" " * 3000, b"]"])  # sent chunked
        chunked = requests.post(url, data=no_length, headers=json_body, timeout=5)
        assert chunked.status_code == 413
        ok = requests.post(url, json=[{"labels": {"alertname": "A"}, "endsAt": iso(T0)}], timeout=5)
        assert ok.status_code == 200
    finally:
        component.stop()


def test_v2_groups_receivers_filters_and_silence_order(tmp_path) -> None:
    from config import load_config

    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        "auth: {mode: none}\n"  # loopback; this test is about Alertmanager's API semantics
        f"alerting:\n  outbox: {tmp_path}/o.sqlite\n  silences: {tmp_path}/s.sqlite\n  history: {tmp_path}/h.sqlite\n"
        "  route: {receiver: ops, group_by: [site], group_wait: 1h,\n"
        "          routes: [{receiver: pager, matchers: ['severity=\"critical\"'], continue: true}]}\n"
        "  receivers: [{name: ops}, {name: pager}]\n"
    )
    component = AlertingComponent(load_config(path), None, path, port=0).start()
    base = component.url + "/api/v2"
    try:
        items = [
            {"labels": {"alertname": "A", "site": "s2", "severity": "critical"}},
            {"labels": {"alertname": "B", "site": "s1"}},
            {"labels": {"alertname": "C", "site": "s1"}},
        ]
        assert requests.post(base + "/alerts", json=items, timeout=5).status_code == 200
        mixed = [{"labels": {"bad-name": "x"}}, {"labels": {"alertname": "D", "site": "s3"}}, {"labels": {}}]
        bad = requests.post(base + "/alerts", json=mixed, timeout=5)
        assert bad.status_code == 400  # as Alertmanager answers: the bad items named, the good one taken
        assert "2 of 3" in bad.json()["message"] and "alerts[0].labels: invalid label name 'bad-name'" in bad.json()[
            "message"] and "alerts[2].labels" in bad.json()["message"]  # fmt: skip
        assert "D" in [a["labels"]["alertname"] for a in requests.get(base + "/alerts", timeout=5).json()]
        groups = requests.get(base + "/alerts/groups", timeout=5).json()
        shown = [(g["labels"], g["receiver"]["name"], [a["labels"]["alertname"] for a in g["alerts"]]) for g in groups]
        assert shown == [
            ({"site": "s1"}, "ops", ["B", "C"]),
            ({"site": "s2"}, "pager", ["A"]),
            ({"site": "s3"}, "ops", ["D"]),
        ]
        assert requests.get(base + "/receivers", timeout=5).json() == [{"name": "ops"}, {"name": "pager"}]
        paged = requests.get(base + "/alerts", params={"receiver": "pag.*"}, timeout=5).json()
        assert [a["labels"]["alertname"] for a in paged] == ["A"]
        assert requests.get(base + "/alerts", params={"receiver": "("}, timeout=5).status_code == 400
        ids = []
        for starts, ends in ((-60, 7200), (-60, 3600), (600, 900), (-60, 60), (-60, -1)):
            body = {
                "matchers": [{"name": "site", "value": "s9", "isRegex": False}],
                "createdBy": "t",
                "comment": "order",
                "startsAt": iso(time.time() + starts),
                "endsAt": iso(time.time() + ends),
            }
            answer = requests.post(base + "/silences", json=body, timeout=5)
            if ends < 0:
                assert answer.status_code == 400 and "in the past" in answer.json()["message"]
            else:
                ids.append(answer.json()["silenceID"])
        assert requests.delete(f"{base}/silence/{ids[3]}", timeout=5).status_code == 200
        listed = requests.get(base + "/silences", timeout=5).json()
        assert [s["id"] for s in listed] == [ids[1], ids[0], ids[2], ids[3]]  # active by end, pending, expired
    finally:
        component.stop()


def test_status_in_alertmanagers_shape(tmp_path, monkeypatch) -> None:
    """Grafana's Alertmanager data source and karma check GET /api/v2/status; no secret in the config."""
    import yaml

    from config import load_config

    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        "auth: {mode: none}\n"  # loopback; this test is about the status answer's shape
        f"alerting:\n  outbox: {tmp_path}/o.sqlite\n  silences: {tmp_path}/s.sqlite\n  history: {tmp_path}/h.sqlite\n"
        "  route: {receiver: hook, group_wait: 1500ms}\n"
        "  receivers: [{name: hook, webhook_configs: [{url: 'http://127.0.0.1:9/x',\n"
        "                                           hmac_secret: {env: HOOK_SECRET}}]}]\n"
    )
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t-value")
    component = AlertingComponent(load_config(path), None, path, port=0).start()
    try:
        status = requests.get(component.url + "/api/v2/status", timeout=5).json()
    finally:
        component.stop()
    assert status["cluster"]["status"] == "disabled" and status["versionInfo"]["version"].startswith("jboxmon")
    original = yaml.safe_load(status["config"]["original"])
    assert original["route"] == {"receiver": "hook", "group_wait": "1500ms"}
    assert original["receivers"] == [{"name": "hook"}] and "s3cr3t" not in status["config"]["original"]
    assert status["outbox"]["depth"] == 0 and iso(T0).endswith("Z") and status["uptime"].endswith("Z")


def test_silence_start_and_end_change_states_at_that_time(service_factory) -> None:
    clock = Clock()
    service = service_factory({"route": {"receiver": "log", "group_wait": "1h"}}, clock=clock, threads=False)
    service.receive([_item("Fan", "b1", "warning")])
    service.tick()
    matcher = [{"name": "jbox_id", "value": "b1", "isRegex": False}]
    service.put_silence({"matchers": matcher, "startsAt": iso(T0 + 10), "endsAt": iso(T0 + 20), "createdBy": "a",
                         "comment": "swap"})  # fmt: skip
    for step in range(1, 30):
        clock.now = T0 + step
        service.tick()
    states = [(e.state, e.at - T0) for e in service.history.query(kind="alert")]
    assert states == [("firing", 0), ("silenced", 10), ("firing", 20)]


def test_silence_updates_follow_alertmanager(service_factory) -> None:
    """In place when Alertmanager's canUpdate allows it (same id); else the old one expires and a new one
    (new id) replaces it; an unknown id is refused; a new silence starts now at the earliest."""
    from alerting.silences import SilenceNotFound

    clock = Clock()
    service = service_factory({"route": {"receiver": "log"}}, clock=clock, threads=False)
    body = {"matchers": [{"name": "jbox_id", "value": "b1", "isRegex": False}], "startsAt": iso(T0 - 600),
            "endsAt": iso(T0 + 3600), "createdBy": "a", "comment": "swap"}  # fmt: skip
    first = service.put_silence(body)
    assert first.starts_at == T0  # clamped to now
    extended = service.put_silence({**body, "id": first.id, "startsAt": iso(T0), "endsAt": iso(T0 + 7200)})
    assert extended.id == first.id and service.silences.get(first.id).ends_at == T0 + 7200
    clock.now = T0 + 60
    other = {**body, "id": first.id, "startsAt": iso(T0), "matchers": [{"name": "jbox_id", "value": "b2"}]}
    replaced = service.put_silence(other)
    assert replaced.id != first.id and service.silences.get(first.id).state(clock.now) == "expired"
    states = [(e.state, e.detail["silence"]) for e in service.history.query(kind="silence")]
    assert states == [("created", first.id), ("updated", first.id), ("expired", first.id), ("created", replaced.id)]
    with pytest.raises(SilenceNotFound):
        service.put_silence({**body, "id": "no-such-id"})
