"""``jboxmon db init``, ``--config`` on either side of the verb, and history older than a retention
policy: refused in the live database with a message naming the policy, accepted in a backtest database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from jboxmon.cli import main
from storage import InfluxClient, InfluxSettings


@pytest.fixture
def config_file(tmp_path: Path, influx_server) -> Path:
    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        yaml.safe_dump({"influxdb": {"url": influx_server.url, "database": f"live_{uuid.uuid4().hex[:10]}"}})
    )
    return path


def _policies(url: str, database: str) -> dict[str, str]:
    with InfluxClient(InfluxSettings(url=url, database=database)) as client:
        frame = client.query(f'SHOW RETENTION POLICIES ON "{database}"')
        client.execute(f'DROP DATABASE "{database}"', database="")
    return dict(zip(frame["name"], frame["duration"], strict=True))


@pytest.mark.parametrize("before", [True, False], ids=["config-before-verb", "config-after-verb"])
def test_db_init_creates_the_database_and_policies(config_file, influx_server, capsys, before):
    argv = ["--config", str(config_file), "db", "init"] if before else ["db", "init", "--config", str(config_file)]
    assert main(argv) == 0
    assert "retention policy raw: 7d (default)" in capsys.readouterr().out
    database = yaml.safe_load(config_file.read_text())["influxdb"]["database"]
    policies = _policies(influx_server.url, database)
    assert policies["raw"] == "168h0m0s" and {"logs", "ds_1m", "ds_1h"} <= set(policies)


def test_old_history_is_refused_with_the_policy_and_goes_into_a_backtest_database(
    config_file, influx_server, tmp_path, capsys
):
    old = ["simulate", "--backfill", "10m", "--boxes", "3", "--start", "2020-01-01T00:00:00Z"]
    truth = ["--truth", str(tmp_path / "truth.jsonl")]
    assert main([*old, *truth, "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert "older than the 'raw' retention policy keeps (influxdb.retention.raw: 7d)" in err
    assert "--database NAME" in err
    backtest_db = f"history_{uuid.uuid4().hex[:10]}"
    assert main([*old, *truth, "--database", backtest_db, "--config", str(config_file)]) == 0
    code = main(
        ["rules", "backtest", "--rules", "rules/default/jbox.yaml", "--from", "2020-01-01T00:00:00Z"]
        + ["--to", "2020-01-01T00:10:00Z", "--database", backtest_db, "--inventory", "data", "--json"]
        + ["--config", str(config_file)]
    )
    assert code == 0, capsys.readouterr().err
    assert set(_policies(influx_server.url, backtest_db).values()) == {"0s"}  # every policy: forever
