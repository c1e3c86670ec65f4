"""Exactly one runner: a second one says who holds the lease and exits."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from jboxmon.cli import main
from retention.lease import LEASE_PATH, Lease, LeaseHeld


def test_a_second_runner_is_refused_and_the_lease_comes_back(store, tmp_path: Path) -> None:
    first = Lease(store, tmp_path / "state", ttl_s=60).acquire()
    with pytest.raises(LeaseHeld, match="another retention runner"):
        Lease(store, tmp_path / "state", ttl_s=60).acquire()
    first.release()
    first.release()  # idempotent
    Lease(store, tmp_path / "state", ttl_s=60).acquire().release()


def test_a_lease_of_another_host_is_respected_until_it_expires(store, tmp_path: Path) -> None:
    clock = [1000.0]
    other = {"version": 1, "owner": "elsewhere:1:abc", "expires_at": 1060.0}
    store.write_bytes(LEASE_PATH, json.dumps(other).encode())
    with pytest.raises(LeaseHeld, match="elsewhere:1:abc until"):
        Lease(store, tmp_path / "state", ttl_s=60, clock=lambda: clock[0]).acquire()
    clock[0] = 1061.0
    lease = Lease(store, tmp_path / "state", ttl_s=60, clock=lambda: clock[0]).acquire()
    # a runner that lost its lease stops before deleting
    store.write_bytes(LEASE_PATH, json.dumps(other | {"expires_at": 9999.0}).encode())
    with pytest.raises(LeaseHeld, match="lost"):
        lease.check()
    lease.release()
    assert json.loads(store.read_bytes(LEASE_PATH))["owner"] == "elsewhere:1:abc"


def test_a_dead_runner_of_this_host_does_not_block(store, tmp_path: Path) -> None:
    dead = {"version": 1, "owner": f"{socket.gethostname()}:99999:dead", "expires_at": 1e12}
    store.write_bytes(LEASE_PATH, json.dumps(dead).encode())
    Lease(store, tmp_path / "state", ttl_s=60).acquire().release()


def test_cli_exits_3_when_the_lease_is_held(influx_config, tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"influxdb: {{url: '{influx_config.url}', database: {influx_config.database}}}\n"
        f"retention:\n  archive: {{url: 'file://{tmp_path}/archive'}}\n  state_dir: {tmp_path}/state\n"
    )
    from retention.store import ArchiveStore, StoreSettings

    with ArchiveStore(StoreSettings(url=f"file://{tmp_path}/archive")) as store:
        held = Lease(store, tmp_path / "state", ttl_s=60).acquire()
        try:
            assert main(["--config", str(config), "retention", "run"]) == 3
        finally:
            held.release()
    assert "another retention runner is running on this host" in capsys.readouterr().err
