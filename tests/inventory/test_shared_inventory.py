"""The inventory on a shared PostgreSQL: two nodes (two config folders) see one fleet.

Real PostgreSQL (Debian's, private, loopback), real collectors, the real ``jboxmon`` CLI.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests
import yaml

from config import load_config
from inventory import Registry, TokenCache
from inventory.audit import AuditLog
from inventory.operators import OperatorStore
from jboxmon.cli import main
from jboxmon.services import Services, collector_components
from storage import InfluxClient
from storage.pgserver import PostgresServer, private_data_dir
from storage.server import free_port

PASSWORD_ENV = "JBOXMON_TEST_PG_PASSWORD"
LINE = "telemetry,jbox_id={box} p_meas_kw=1.5 {ns}"


def node_config(
    folder: Path, url: str, influx: InfluxClient | None = None, alerting_port: int | None = None, **collector
) -> Path:
    """A node's config folder: the URL without its password, the password from the environment."""
    bare, _, tail = url.partition("://")[2].partition("@")
    user = bare.split(":")[0]
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "inventory": {"url": f"postgresql://{user}@{tail}", "password": {"env": PASSWORD_ENV}},
        "collector": {"spool_dir": str(folder / "spool"), "token_refresh": "1s", **collector},
    }
    if influx is not None:
        document["influxdb"] = {"url": influx.settings.url, "database": influx.settings.database}
    if alerting_port is not None:
        files = {key: str(folder / f"{key}.sqlite") for key in ("outbox", "silences", "history")}
        document["alerting"] = {"listen": f"127.0.0.1:{alerting_port}", **files}
    path = folder / "jboxmon.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def pg_password(monkeypatch: pytest.MonkeyPatch, postgres_server: PostgresServer) -> str:
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    return postgres_server.password


def cli(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def until(predicate, timeout_s: float) -> float | None:
    """Seconds until ``predicate()`` held, None if it never did within ``timeout_s``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def start_collector(config_path: Path, influx: InfluxClient):
    config = load_config(config_path)
    components = collector_components(config, influx)
    for component in components:
        component.start()
    return components[0]


def test_a_token_issued_on_one_node_works_on_the_other_and_its_revocation_too(
    tmp_path: Path, postgres_url: str, pg_password: str, influx: InfluxClient, capsys
) -> None:
    one = node_config(tmp_path / "node-1", postgres_url, influx)
    two = node_config(tmp_path / "node-2", postgres_url, influx)
    assert cli(one, capsys, "tokens", "issue", "jbox-0", "--site", "s0")[0] == 0  # the schema exists
    first, second = start_collector(one, influx), start_collector(two, influx)
    try:
        code, out, _ = cli(one, capsys, "tokens", "issue", "jbox-1", "--site", "s1", "--json")
        assert code == 0
        token = yaml.safe_load(out)["jbox-1"]

        def status(server) -> int:
            body = LINE.format(box="jbox-1", ns=time.time_ns())
            headers = {"Authorization": f"Token {token}"}
            return requests.post(server.url + "/write", data=body, headers=headers, timeout=5).status_code

        assert until(lambda: status(second) == 204, 3.0) is not None, "issued on node 1, refused by node 2"
        assert status(first) == 204
        code, out, _ = cli(two, capsys, "tokens", "revoke", "jbox-1")  # revoked through the other node
        assert code == 0 and "revoked 1" in out
        for server in (first, second):
            assert until(lambda s=server: status(s) == 401, 3.0) is not None, "revoked, still accepted"
        code, out, _ = cli(two, capsys, "tokens", "list")
        assert "jbox-1" in out and "jbox-0" in out
    finally:
        first.stop()
        second.stop()
    # last-seen was written by the collectors (in batches, at stop at the latest)
    with Registry(postgres_url) as registry:
        seen = {box.jbox_id: box.last_seen for box in registry.boxes()}
    assert seen["jbox-1"] is not None and seen["jbox-0"] is None


def test_postgresql_away_known_tokens_keep_working_and_writes_fail_clearly(
    tmp_path: Path, influx: InfluxClient, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    data = private_data_dir()
    server = PostgresServer(data).start()
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    try:
        alerting_port = free_port()
        node = node_config(tmp_path / "node", server.url_with_password, influx, alerting_port)
        code, out, _ = cli(node, capsys, "tokens", "issue", "jbox-1", "--json")
        token = yaml.safe_load(out)["jbox-1"]
        code, out, _ = cli(node, capsys, "users", "add", "alice", "--role", "viewer")
        viewer = {"Authorization": "Bearer " + next(w for w in out.split() if w.startswith("jbo_"))}
        alerts_url = f"http://127.0.0.1:{alerting_port}/api/v2/alerts"
        collector = start_collector(node, influx)
        control = Services(load_config(node), components=("alerting",)).start()
        headers = {"Authorization": f"Token {token}"}
        try:
            assert requests.get(alerts_url, headers=viewer, timeout=5).status_code == 200
            server.stop()
            assert until(lambda: collector.service.tokens.problem is not None, 5.0) is not None
            body = LINE.format(box="jbox-1", ns=time.time_ns())
            assert requests.post(collector.url + "/write", data=body, headers=headers, timeout=5).status_code == 204
            assert (
                requests.post(
                    collector.url + "/write", data=body, headers={"Authorization": "Token jbx_unknown"}, timeout=5
                ).status_code
                == 401
            )
            health = requests.get(collector.url + "/health", timeout=5).json()
            assert "inventory unreachable since" in health["inventory"] and "serving 1 tokens" in health["inventory"]

            code, _, err = cli(node, capsys, "tokens", "issue", "jbox-2")
            assert code == 1
            message = err.strip().splitlines()[-1]  # the lines before: this process's own log (the collector)
            assert message.startswith("jboxmon tokens issue: inventory: PostgreSQL at postgresql://jboxmon@127.0.0.1:")
            assert "Connection refused; nothing was changed, try again" in message
            assert server.password not in err and "Traceback" not in err
            refused = requests.get(alerts_url, headers=viewer, timeout=10)  # the control plane: a clear 503
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
            assert refused.json()["message"].startswith("credentials cannot be checked now (inventory: PostgreSQL at")

            server.start()  # same folder, same port
            assert until(lambda: collector.service.tokens.problem is None, 5.0) is not None
            assert "inventory" not in requests.get(collector.url + "/health", timeout=5).json()
            assert cli(node, capsys, "tokens", "issue", "jbox-2")[0] == 0
            assert requests.get(alerts_url, headers=viewer, timeout=5).status_code == 200
        finally:
            control.stop()
            collector.stop()
        with Registry(server.url_with_password) as registry:
            assert registry.boxes()[0].last_seen is not None  # the time seen while away was kept and written
    finally:
        server.stop()
        shutil.rmtree(data.parent, ignore_errors=True)


def test_migrate_copies_a_sqlite_inventory_whose_tokens_then_work(
    tmp_path: Path, postgres_url: str, pg_password: str, capsys
) -> None:
    path = tmp_path / "registry.sqlite"
    with Registry(path) as old:
        box = old.issue("jbox-1", site="s1", region="IDF", service="fcr")
        old.issue("jbox-2", site="s1")
        gateway = old.issue_gateway("gw-1", site="s1")
        old.revoke("jbox-2")
        old.mark_seen([("jbox-1", 1234.5)])
    config = tmp_path / "jboxmon.yaml"
    config.write_text(yaml.safe_dump({"inventory": {"path": str(path), "password": {"env": PASSWORD_ENV}}}))
    bare = postgres_url.replace(f":{pg_password}@", "@")
    code, out, err = cli(config, capsys, "inventory", "migrate", "--to", bare)
    assert code == 0, err
    assert "2 boxes, 2 tokens, 1 gateways, 0 gateway_boxes, 1 gateway_tokens" in out
    with Registry(postgres_url) as shared:
        assert shared.authenticate(box).jbox_id == "jbox-1"
        assert shared.authenticate(gateway).gateway_id == "gw-1"
        rows = {b.jbox_id: b for b in shared.boxes()}
        assert rows["jbox-1"].last_seen == 1234.5 and rows["jbox-2"].active_tokens == 0
        cache = TokenCache(shared)
        cache.reload()
        assert len(cache._credentials.tokens) == 2  # the revoked token stays revoked
    code, _, err = cli(config, capsys, "inventory", "migrate", "--to", bare)
    assert code == 2 and "already holds 2 boxes: migrate copies into an empty inventory only" in err


def test_operators_and_the_audit_log_are_shared_by_every_node(
    tmp_path: Path, postgres_url: str, pg_password: str, capsys
) -> None:
    one = node_config(tmp_path / "node-1", postgres_url)
    two = node_config(tmp_path / "node-2", postgres_url)
    code, out, err = cli(one, capsys, "users", "add", "alice", "--role", "operator")
    assert code == 0, err
    token = next(word for word in out.split() if word.startswith("jbo_"))
    assert cli(two, capsys, "tokens", "issue", "jbox-1")[0] == 0
    with OperatorStore(postgres_url) as operators:  # as node 2's control plane reads it
        assert operators.authenticate(token).name == "alice"
    assert cli(two, capsys, "users", "revoke", "alice")[0] == 0
    with OperatorStore(postgres_url) as operators:
        assert operators.authenticate(token) is None
    events = AuditLog(postgres_url).query()
    assert [(e.action, e.target) for e in reversed(events)][-3:] == [
        ("token.issue", "alice"),
        ("token.issue", "jbox-1"),
        ("token.revoke", "alice"),
    ]
