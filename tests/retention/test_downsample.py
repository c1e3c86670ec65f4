"""Downsampling tiers on a real InfluxDB: exact mean/min/max/count, idempotent, late data taken."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from config.retention import Tier
from retention.checkpoint import Checkpoints
from retention.downsample import Downsampler
from storage import InfluxClient
from storage.lineprotocol import encode_point
from tests.retention.conftest import NS

HOUR = 3600


def tiers() -> list[Tier]:
    return [
        Tier(name="1m", every=60, source="raw", retention_policy="ds_1m"),
        Tier(name="1h", every=3600, source="1m", retention_policy="ds_1h"),
    ]


@pytest.fixture
def raw(influx: InfluxClient, now: float) -> pd.DataFrame:
    rng = random.Random(9)
    start = (int(now) // HOUR - 4) * HOUR
    rows = []
    for box in ("jbox-0001", "jbox-0002"):
        for t in range(start, start + 3 * HOUR, 10):
            rows.append(
                {"jbox_id": box, "time": t, "p_meas_kw": rng.uniform(-1000, 1000), "soc_pct": rng.randint(0, 100)}
            )
    frame = pd.DataFrame(rows)
    lines = [
        encode_point("telemetry", {"jbox_id": r.jbox_id}, {"p_meas_kw": r.p_meas_kw, "soc_pct": r.soc_pct}, r.time * NS)
        for r in frame.itertuples()
    ]
    influx.write_batches(lines, retention_policy="raw")
    return frame


def ds_frame(influx: InfluxClient, policy: str, measurement: str) -> pd.DataFrame:
    return influx.query(f'SELECT * FROM "{policy}"."{measurement}" GROUP BY "jbox_id"')


def test_tiers_keep_exact_mean_min_max_count_and_rerun_changes_nothing(
    influx: InfluxClient, raw: pd.DataFrame, tmp_path: Path, now: float
) -> None:
    checkpoints = Checkpoints(tmp_path).load()
    Downsampler(influx, tiers(), checkpoints, late_windows=3, clock=lambda: now).run()
    minute = ds_frame(influx, "ds_1m", "telemetry_1m")
    hour = ds_frame(influx, "ds_1h", "telemetry_1h")
    assert len(minute) == 2 * 180 and len(hour) == 2 * 3

    raw = raw.assign(hour=raw["time"] // HOUR * HOUR)
    expected = raw.groupby(["jbox_id", "hour"])["p_meas_kw"].agg(["mean", "min", "max", "count"]).reset_index()
    hour = hour.assign(hour=hour["time"].astype("int64") // NS).merge(expected, on=["jbox_id", "hour"])
    assert len(hour) == 6
    assert (hour["p_meas_kw_mean"] - hour["mean"]).abs().max() < 1e-9
    assert (hour["p_meas_kw_min"] == hour["min"]).all() and (hour["p_meas_kw_max"] == hour["max"]).all()
    assert (hour["p_meas_kw_count"] == hour["count"]).all()
    assert (minute["soc_pct_count"] == 6).all()

    Downsampler(influx, tiers(), Checkpoints(tmp_path).load(), late_windows=3, clock=lambda: now).run()
    assert len(ds_frame(influx, "ds_1m", "telemetry_1m")) == 2 * 180  # same points, rewritten in place


def test_late_data_within_the_late_windows_is_aggregated(
    influx: InfluxClient, raw: pd.DataFrame, tmp_path: Path, now: float
) -> None:
    clock = [float(raw["time"].max() + 1)]  # the last minute window is not complete yet
    checkpoints = Checkpoints(tmp_path).load()
    downsampler = Downsampler(influx, tiers()[:1], checkpoints, late_windows=3, clock=lambda: clock[0])
    downsampler.run()
    done = checkpoints.get("1m/telemetry") // NS
    late_t = done - 95  # inside the second window before the checkpoint, between two samples
    influx.write([encode_point("telemetry", {"jbox_id": "jbox-0001"}, {"p_meas_kw": 5000.0}, late_t * NS)])
    clock[0] += 120
    downsampler.run()
    window = late_t // 60 * 60
    row = influx.query(f'SELECT * FROM "ds_1m"."telemetry_1m" WHERE time = {window * NS} AND "jbox_id" = \'jbox-0001\'')
    assert row["p_meas_kw_max"].iloc[0] == 5000.0 and row["p_meas_kw_count"].iloc[0] == 7
