"""The other auth modes (trusted-proxy, none on loopback), and the operator verbs of the command line:
``jboxmon users``, ``jboxmon audit``, ``jboxmon config check`` saying what protects the control plane."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import requests

from config import load_config
from jboxmon.alerting_component import AlertingComponent
from jboxmon.cli import main
from tests.controlplane.conftest import write_config
from tests.controlplane.helpers import issue_operator

SILENCE = {"matchers": [{"name": "jbox_id", "value": "jbox-0001", "isRegex": False}],
           "endsAt": "2099-01-01T00:00:00Z", "createdBy": "x", "comment": "maintenance"}  # fmt: skip


def _start(path: Path) -> AlertingComponent:
    return AlertingComponent(load_config(path), None, path, port=0).start()


def test_trusted_proxy_believes_the_user_header_from_the_proxy_only(tmp_path: Path) -> None:
    path = write_config(tmp_path, "auth:\n  mode: trusted-proxy\n  trusted_proxy:\n    proxies: [127.0.0.1/32]\n")
    issue_operator(tmp_path / "registry.sqlite", "operator", name="olga")
    alerting = _start(path)
    try:
        url = alerting.url + "/api/v2/silences"
        as_olga = requests.post(url, json=SILENCE, headers={"X-Forwarded-User": "olga"}, timeout=5)
        assert as_olga.status_code == 200
        assert alerting.service.silences.list()[0].created_by == "olga"
        # a user the inventory does not know gets the default role (viewer): may read, not silence
        stranger = {"X-Forwarded-User": "stranger"}
        assert requests.get(url, headers=stranger, timeout=5).status_code == 200
        assert requests.post(url, json=SILENCE, headers=stranger, timeout=5).status_code == 403
        assert requests.post(url, json=SILENCE, timeout=5).status_code == 401  # no header: credentials
    finally:
        alerting.stop()
    # the same header from an address that is not a proxy is ignored
    other = write_config(tmp_path, "auth:\n  mode: trusted-proxy\n  trusted_proxy:\n    proxies: [10.9.9.9]\n")
    alerting = _start(other)
    try:
        refused = requests.post(alerting.url + "/api/v2/silences", json=SILENCE,
                                headers={"X-Forwarded-User": "olga"}, timeout=5)  # fmt: skip
        assert refused.status_code == 401
    finally:
        alerting.stop()


def test_mode_none_on_loopback_still_guards_the_browser(tmp_path: Path) -> None:
    alerting = _start(write_config(tmp_path, "auth: {mode: none}\n"))
    try:
        url = alerting.url + "/api/v2/silences"
        assert requests.post(url, json=SILENCE, timeout=5).status_code == 200
        assert requests.post(url, data=json.dumps(SILENCE), headers={"Content-Type": "text/plain"},
                             timeout=5).status_code == 415  # fmt: skip
        foreign = requests.post(url, json=SILENCE, headers={"Origin": "http://evil.example"}, timeout=5)
        assert foreign.status_code == 403
        assert requests.get(url, headers={"Host": "attacker.example"}, timeout=5).status_code == 421
        (event,) = alerting.control.audit.query()
        assert event.actor == "anonymous@127.0.0.1" and event.action == "silence.create"
    finally:
        alerting.stop()


def test_users_and_audit_verbs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)
    cli = ["--config", str(path)]
    saved = tmp_path / "secrets" / "alice.token"
    assert main([*cli, "users", "add", "alice", "--role", "operator", "--save", str(saved)]) == 0
    assert saved.stat().st_mode & 0o777 == 0o600 and saved.read_text().startswith("jbo_")
    assert main([*cli, "users", "add", "bob", "--role", "viewer"]) == 0
    bob = capsys.readouterr().out.strip().splitlines()[-1]
    assert bob.startswith("jbo_")
    with pytest.raises(SystemExit):  # argparse: not one of the roles
        main([*cli, "users", "add", "carol", "--role", "root"])
    capsys.readouterr()
    assert main([*cli, "users", "add", "bob", "--role", "viewer"]) == 2
    assert "already has an active token" in capsys.readouterr().err
    assert main([*cli, "users", "revoke", "bob"]) == 0
    assert main([*cli, "users", "list", "--json"]) == 0
    listed = {u["name"]: u for u in json.loads(capsys.readouterr().out.split("\n", 1)[1])}
    assert (listed["alice"]["role"], listed["alice"]["active_tokens"]) == ("operator", 1)
    assert listed["bob"]["active_tokens"] == 0
    assert main([*cli, "audit", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["target"]) for e in events] == [("token.revoke", "bob"), ("token.issue", "bob"),
                                                            ("token.issue", "alice")]  # fmt: skip
    assert {e["address"] for e in events} == {"local"} and events[0]["actor"]
    assert main([*cli, "audit", "--action", "token.revoke"]) == 0
    assert "token.revoke" in capsys.readouterr().out


def test_config_check_says_what_protects_the_control_plane(tmp_path: Path, capsys) -> None:
    assert main(["config", "check", str(write_config(tmp_path, "auth: {mode: none}\n"))]) == 0
    out = capsys.readouterr().out
    assert "auth.mode: none — accepted because every control-plane service listens on loopback" in out
    wide = write_config(tmp_path, "auth: {mode: none}\nstatus: {listen: '0.0.0.0:8186'}\n")
    assert main(["config", "check", str(wide)]) == 2
    err = capsys.readouterr().err
    assert "status.listen: listens on '0.0.0.0:8186' (beyond loopback) while auth.mode is 'none'" in err
    assert main(["config", "check", str(write_config(tmp_path, "status: {listen: '0.0.0.0:8186'}\n"))]) == 0
    assert "auth.mode: credentials" in capsys.readouterr().out
    assert os.environ.get("JBOXMON_TOKEN") is None


def test_a_retention_pass_over_http_needs_an_admin(tmp_path: Path) -> None:
    from config import JboxmonConfig
    from jboxmon.retention_component import RetentionComponent
    from storage.server import free_port

    port = free_port()
    config = JboxmonConfig.model_validate({
        "influxdb": {"url": "http://127.0.0.1:1", "database": "nowhere", "timeout": "1s"},
        "inventory": {"path": str(tmp_path / "registry.sqlite")},
        "retention": {"listen": f"127.0.0.1:{port}", "archive": {"url": f"file://{tmp_path}/a"},
                      "state_dir": str(tmp_path / "state")},
    })  # fmt: skip
    _, operator = issue_operator(config.inventory.path, "operator")
    admin_name, admin = issue_operator(config.inventory.path, "admin")
    component = RetentionComponent(config, None, first_delay_s=3600).start()
    try:
        url = f"http://127.0.0.1:{port}/-/run"
        assert requests.post(url, timeout=5).status_code == 401
        assert requests.post(url, headers={"Authorization": f"Bearer {operator}"}, timeout=5).status_code == 403
        started = requests.post(url, headers={"Authorization": f"Bearer {admin}"}, timeout=5)
        assert started.status_code == 202 and started.json() == {"started": True}
        deadline = time.monotonic() + 60
        while component.last_error is None:  # InfluxDB is nowhere: the pass fails, and says so
            assert time.monotonic() < deadline, "the pass asked for never ran"
            time.sleep(0.2)
    finally:
        component.stop()
    (event,) = component.control.audit.query(action="retention")
    assert (event.actor, event.action, event.details) == (admin_name, "retention.run", {"started": True})


def test_a_listen_given_on_the_command_line_cannot_open_auth_none_beyond_loopback(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "auth: {mode: none}\n"))
    wide = config.model_copy(update={"alerting": config.alerting.model_copy(update={"listen": "0.0.0.0:0"})})
    with pytest.raises(RuntimeError, match=r"refusing to start: alerting.listen listens on '0.0.0.0:0' \(beyond"):
        AlertingComponent(wide, None, port=0).start()
