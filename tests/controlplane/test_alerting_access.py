"""The attacks of the issue, replayed on a real alerting service with the shipped auth default: without
a credential, from a web page (text/plain, foreign Origin), through DNS rebinding (foreign Host),
with the wrong role, with a box token. And what must keep working: Bearer and Basic credentials,
each role's own calls, curl's body-less reload, the audit of who did what."""

from __future__ import annotations

import base64
import json

import requests

from inventory import Registry
from jboxmon.alerting_component import AlertingComponent
from tests.controlplane.helpers import issue_operator

EVERYTHING = {"matchers": [{"name": "alertname", "value": ".+", "isRegex": True}],
              "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
              "createdBy": "mallory", "comment": "a year of quiet"}  # fmt: skip
FORGED = [{"labels": {"alertname": "Forged", "severity": "critical", "jbox_id": "jbox-0001"}}]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_credential_nothing_changes_and_nothing_is_read(alerting: AlertingComponent) -> None:
    url = alerting.url
    assert requests.post(url + "/api/v2/silences", json=EVERYTHING, timeout=5).status_code == 401
    assert requests.post(url + "/api/v2/alerts", json=FORGED, timeout=5).status_code == 401
    refused = requests.post(url + "/-/reload", timeout=5)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.delete(url + "/api/v2/silence/anything", timeout=5).status_code == 401
    assert requests.get(url + "/api/v2/alerts", timeout=5).status_code == 401
    assert requests.get(url + "/metrics", timeout=5).status_code == 401
    assert requests.get(url + "/health", timeout=5).status_code == 200  # load balancers, the status page
    assert alerting.service.silences.list() == [] and alerting.service.alert_views() == []


def test_roles(alerting: AlertingComponent, tmp_path) -> None:
    url, inventory = alerting.url, tmp_path / "registry.sqlite"
    _, viewer = issue_operator(inventory, "viewer")
    _, producer = issue_operator(inventory, "producer")
    _, operator = issue_operator(inventory, "operator")
    _, admin = issue_operator(inventory, "admin")
    assert requests.get(url + "/api/v2/silences", headers=_bearer(viewer), timeout=5).status_code == 200
    denied = requests.post(url + "/api/v2/silences", json=EVERYTHING, headers=_bearer(viewer), timeout=5)
    assert denied.status_code == 403 and "role viewer" in denied.json()["message"]
    assert requests.post(url + "/api/v2/alerts", json=FORGED, headers=_bearer(viewer), timeout=5).status_code == 403
    # a producer posts alerts and does nothing else, not even read
    assert requests.post(url + "/api/v2/alerts", json=FORGED, headers=_bearer(producer), timeout=5).status_code == 200
    assert requests.get(url + "/api/v2/alerts", headers=_bearer(producer), timeout=5).status_code == 403
    assert requests.post(url + "/api/v2/silences", json=EVERYTHING, headers=_bearer(producer),
                         timeout=5).status_code == 403  # fmt: skip
    # an operator silences, but does not reload; an admin does
    assert requests.post(url + "/-/reload", headers=_bearer(operator), timeout=5).status_code == 403
    created = requests.post(url + "/api/v2/silences", json=EVERYTHING, headers=_bearer(operator), timeout=5)
    assert created.status_code == 200
    assert requests.post(url + "/-/reload", headers=_bearer(admin), timeout=5).json()["reloaded"] is True


def test_basic_auth_names_the_operator(alerting: AlertingComponent, tmp_path) -> None:
    name, token = issue_operator(tmp_path / "registry.sqlite", "viewer")
    assert requests.get(alerting.url + "/api/v2/alerts", auth=(name, token), timeout=5).status_code == 200
    assert requests.get(alerting.url + "/api/v2/alerts", auth=("someone-else", token), timeout=5).status_code == 401
    garbage = {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}
    assert requests.get(alerting.url + "/api/v2/alerts", headers=garbage, timeout=5).status_code == 401


def test_box_and_gateway_tokens_get_no_control_plane_rights(alerting: AlertingComponent, tmp_path) -> None:
    with Registry(tmp_path / "registry.sqlite") as registry:
        box = registry.issue("jbox-0001", site="s1")
        gateway = registry.issue_gateway("gw-1", site="s1")
        _, operator = issue_operator(tmp_path / "registry.sqlite", "admin")
        # nor the reverse: an operator token writes no data
        assert registry.authenticate(operator) is None
    for token in (box, gateway):
        for scheme in ("Bearer", "Token"):
            headers = {"Authorization": f"{scheme} {token}"}
            assert requests.get(alerting.url + "/api/v2/alerts", headers=headers, timeout=5).status_code == 401
        assert requests.get(alerting.url + "/api/v2/alerts", auth=("jbox-0001", token), timeout=5).status_code == 401


def test_a_web_page_cannot_change_anything_even_with_a_credential(alerting: AlertingComponent, tmp_path) -> None:
    """The browser holds Basic credentials for the page: the request still fails on its shape."""
    name, token = issue_operator(tmp_path / "registry.sqlite", "admin")
    url, auth = alerting.url, (name, token)
    as_form = {"Content-Type": "text/plain"}
    refused = requests.post(url + "/api/v2/silences", data=json.dumps(EVERYTHING), headers=as_form, auth=auth,
                            timeout=5)  # fmt: skip
    assert refused.status_code == 415 and "application/json" in refused.json()["message"]
    foreign = {"Origin": "https://evil.example"}
    assert requests.post(url + "/api/v2/silences", json=EVERYTHING, headers=foreign, auth=auth,
                         timeout=5).status_code == 403  # fmt: skip
    assert requests.post(url + "/-/reload", headers={"Origin": "null"}, auth=auth, timeout=5).status_code == 403
    # an empty no-cors fetch carries an Origin: it is not taken for curl
    assert requests.post(url + "/-/reload", headers={"Origin": "https://evil.example"}, auth=auth,
                         timeout=5).status_code == 403  # fmt: skip
    rebinding = {"Host": "attacker.example"}
    assert requests.get(url + "/api/v2/alerts", headers=rebinding, auth=auth, timeout=5).status_code == 421
    forged = requests.post(url + "/api/v2/alerts", json=FORGED, headers=rebinding, auth=auth, timeout=5)
    assert forged.status_code == 421
    assert alerting.service.silences.list() == [] and alerting.service.alert_views() == []
    # the same origin (a page this service served), localhost and curl's body-less POST pass
    port = url.rsplit(":", 1)[1]
    same = {"Origin": url, "Host": f"127.0.0.1:{port}"}
    assert requests.post(url + "/api/v2/alerts", json=FORGED, headers=same, auth=auth, timeout=5).status_code == 200
    assert requests.get(url + "/api/v2/alerts", headers={"Host": f"localhost:{port}"}, auth=auth,
                        timeout=5).status_code == 200  # fmt: skip
    assert requests.post(url + "/-/reload", auth=auth, timeout=5).status_code == 200
    # ... but a body with no content type is not body-less, even sent in chunks without a length
    chunks = (part for part in [json.dumps(EVERYTHING).encode()])
    assert requests.post(url + "/api/v2/silences", data=chunks, auth=auth, timeout=5).status_code == 415


def test_audit_says_who_did_what_from_where(alerting: AlertingComponent, tmp_path) -> None:
    url = alerting.url
    name, token = issue_operator(tmp_path / "registry.sqlite", "operator")
    _, producer = issue_operator(tmp_path / "registry.sqlite", "producer")
    created = requests.post(url + "/api/v2/silences", json=EVERYTHING, headers=_bearer(token), timeout=5).json()
    silence_id = created["silenceID"]
    listed = requests.get(url + f"/api/v2/silence/{silence_id}", headers=_bearer(token), timeout=5).json()
    assert listed["createdBy"] == name  # who proved it, not the "mallory" the client wrote
    assert requests.delete(url + f"/api/v2/silence/{silence_id}", headers=_bearer(token), timeout=5).ok
    resolved = [{**FORGED[0], "startsAt": "2019-12-31T00:00:00Z", "endsAt": "2020-01-01T00:00:00Z"}]
    assert requests.post(url + "/api/v2/alerts", json=FORGED, headers=_bearer(token), timeout=5).ok
    assert requests.post(url + "/api/v2/alerts", json=resolved, headers=_bearer(token), timeout=5).ok
    assert requests.post(url + "/api/v2/alerts", json=FORGED, headers=_bearer(producer), timeout=5).ok  # not by hand
    events = requests.get(url + "/api/v1/audit", headers=_bearer(token), timeout=5).json()["events"]
    mine = [(e["action"], e["target"]) for e in events if e["actor"] == name]
    assert mine == [("alert.resolve", "Forged"), ("alert.post", "Forged"), ("silence.expire", silence_id),
                    ("silence.create", silence_id)]  # fmt: skip
    assert {e["address"] for e in events if e["actor"] == name} == {"127.0.0.1"}
    create = next(e for e in events if e["action"] == "silence.create")
    assert create["details"]["matchers"][0]["value"] == ".+" and create["details"]["endsAt"].startswith("2099")
    assert not [e for e in events if e["actor"].startswith("test-producer")]
    only = requests.get(url + "/api/v1/audit", params={"action": "silence"}, headers=_bearer(token), timeout=5)
    assert [e["action"] for e in only.json()["events"]] == ["silence.expire", "silence.create"]
