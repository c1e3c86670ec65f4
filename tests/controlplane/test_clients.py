"""What real clients do with credentials: amtool (its --http.config.file, Bearer and Basic) adds and
queries silences; the rules engine issues its own producer credential and posts alerts to a separate
alerting service; the rules API refuses a reload without an admin, and audits it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from config import load_config
from inventory.operators import OperatorStore
from jboxmon.alerting_component import AlertingComponent
from jboxmon.rules_component import RulesComponent
from storage.server import free_port
from tests.controlplane.conftest import write_config
from tests.controlplane.helpers import issue_operator

AMTOOL = shutil.which("amtool")


def _amtool(url: str, http_config: Path, *args: str) -> subprocess.CompletedProcess:
    command = [AMTOOL, f"--alertmanager.url={url}", f"--http.config.file={http_config}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(AMTOOL is None, reason="Debian's prometheus-alertmanager (amtool) is not installed")
def test_amtool_adds_and_queries_silences_with_a_bearer_token(alerting: AlertingComponent, tmp_path: Path) -> None:
    name, token = issue_operator(tmp_path / "registry.sqlite", "operator")
    bearer = tmp_path / "bearer.yml"
    bearer.write_text(f"authorization:\n  type: Bearer\n  credentials: {token}\n")
    added = _amtool(alerting.url, bearer, "silence", "add", "jbox_id=jbox-0042", "--duration=2h",
                    "--comment=inverter swap", "--author=someone")  # fmt: skip
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()
    basic = tmp_path / "basic.yml"
    basic.write_text(f"basic_auth:\n  username: {name}\n  password: {token}\n")
    queried = _amtool(alerting.url, basic, "silence", "query", "-o", "json")
    assert queried.returncode == 0, queried.stderr
    (silence,) = json.loads(queried.stdout)
    assert silence["id"] == silence_id and silence["createdBy"] == name
    assert silence["matchers"][0]["name"] == "jbox_id" and silence["matchers"][0]["value"] == "jbox-0042"
    nobody = tmp_path / "nobody.yml"
    nobody.write_text("authorization:\n  type: Bearer\n  credentials: jbo_not-a-token\n")
    refused = _amtool(alerting.url, nobody, "silence", "add", "jbox_id=jbox-0001", "--comment=x")
    assert refused.returncode != 0 and len(alerting.service.silences.list()) == 1


def test_rules_post_to_alerting_with_their_own_producer_credential(tmp_path: Path, influx_config) -> None:
    alerting_port = free_port()
    path = write_config(
        tmp_path,
        f"influxdb: {{url: '{influx_config.url}', database: {influx_config.database}}}\n"
        f"rules:\n  listen: 127.0.0.1:{free_port()}\n  state_db: {tmp_path}/state.sqlite\n"
        f"  alerting_url: http://127.0.0.1:{alerting_port}/api/v2/alerts\n",
    )
    config = load_config(path)
    from storage import InfluxClient, InfluxSettings

    alerting = AlertingComponent(config, None, path, port=alerting_port).start()
    influx = InfluxClient(InfluxSettings.from_config(config.influxdb))
    rules = RulesComponent(config, influx).start()
    try:
        url = f"http://{config.rules.listen}"
        headers = rules._credential_headers()
        alert = [{"labels": {"alertname": "FromRules", "jbox_id": "jbox-0001"}}]
        assert requests.post(alerting.url + "/api/v2/alerts", json=alert, headers=headers, timeout=5).ok
        # a producer and nothing more
        assert requests.get(alerting.url + "/api/v2/alerts", headers=headers, timeout=5).status_code == 403
        assert [v["labels"]["alertname"] for v in alerting.service.alert_views()] == ["FromRules"]
        # the rules API: reads need a viewer, a reload an admin, and it is audited
        assert requests.post(url + "/-/reload", timeout=5).status_code == 401
        assert requests.get(url + "/api/v1/rules", timeout=5).status_code == 401
        _, viewer = issue_operator(tmp_path / "registry.sqlite", "viewer")
        admin_name, admin = issue_operator(tmp_path / "registry.sqlite", "admin")
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        assert requests.get(url + "/api/v1/rules", headers=as_viewer, timeout=5).status_code == 200
        assert requests.post(url + "/-/reload", headers=as_viewer, timeout=5).status_code == 403
        assert requests.post(url + "/-/reload", headers={"Host": "attacker.example"}, timeout=5).status_code == 421
        assert requests.post(url + "/-/reload", headers={"Authorization": f"Bearer {admin}"}, timeout=5).ok
        events = rules.control.audit.query(action="reload")
        assert [(e.actor, e.target) for e in events] == [(admin_name, "rules")]
    finally:
        rules.stop()
        influx.close()
        alerting.stop()
    # its credential dies with it
    with OperatorStore(tmp_path / "registry.sqlite") as store:
        assert store.authenticate(headers["Authorization"].removeprefix("Bearer ")) is None
