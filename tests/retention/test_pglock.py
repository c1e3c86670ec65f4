"""One retention runner at a time across nodes: PostgreSQL's advisory lock when the inventory is
on PostgreSQL. Two "nodes" are two config folders sharing ``inventory.url``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jboxmon.cli import main
from retention.lease import LeaseHeld
from retention.pglock import AdvisoryLock
from storage import InfluxClient

PASSWORD_ENV = "JBOXMON_TEST_PG_PASSWORD"


def node(folder: Path, url: str, influx: InfluxClient, archive: Path) -> Path:
    user_and_password, _, tail = url.partition("://")[2].partition("@")
    folder.mkdir(parents=True)
    document = {
        "influxdb": {"url": influx.settings.url, "database": influx.settings.database},
        "inventory": {
            "url": f"postgresql://{user_and_password.split(':')[0]}@{tail}",
            "password": {"env": PASSWORD_ENV},
        },
        "retention": {"archive": {"url": f"file://{archive}"}, "state_dir": str(folder / "retention")},
    }
    path = folder / "jboxmon.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_two_nodes_one_runs_the_other_says_who_holds_the_lock(
    tmp_path: Path, postgres_url: str, postgres_server, influx: InfluxClient, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    archive = tmp_path / "archive"  # shared by both nodes
    one = node(tmp_path / "node-1", postgres_url, influx, archive)
    two = node(tmp_path / "node-2", postgres_url, influx, archive)
    with AdvisoryLock(postgres_url):  # node 1's pass, running
        with pytest.raises(
            LeaseHeld, match=r"holds the PostgreSQL advisory lock: jboxmon retention runner on \S+ pid \d+"
        ):
            AdvisoryLock(postgres_url).acquire()
        code = main(["--config", str(two), "retention", "run", "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert code == 3
        assert err.startswith("jboxmon retention: another retention runner holds the PostgreSQL advisory lock: ")
        assert "jboxmon retention runner on" in err and "connected since" in err and err.endswith("; exiting")
    assert main(["--config", str(one), "retention", "run", "--no-progress"]) == 0  # released: it runs
    assert "retention pass:" in capsys.readouterr().out


def test_a_runner_whose_session_is_cut_stops_before_deleting(postgres_url: str, postgres_server) -> None:
    lock = AdvisoryLock(postgres_url).acquire()
    try:
        lock.check()  # held
        with postgres_server._connect("postgres") as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'jboxmon retention%'"
            )
        with pytest.raises(LeaseHeld, match="the retention lock was lost"):
            lock.check()
        AdvisoryLock(postgres_url).acquire().release()  # the server freed it with the session
    finally:
        lock.release()
