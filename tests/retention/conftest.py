"""Retention fixtures: a real InfluxDB database with mixed-type data, an archive folder, a runner."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.retention import DataRetentionConfig
from retention.store import ArchiveStore, StoreSettings
from storage import InfluxClient
from storage.lineprotocol import encode_point

NS = 1_000_000_000
LEVELS = ("debug", "info", "warning", "error", "critical")


def retention_config(archive_url: str, state_dir: Path, **overrides) -> DataRetentionConfig:
    """Ages short enough for test data: raw after 1 day, logs after 24 h (errors after 3 days)."""
    data = {
        "archive": {"url": archive_url},
        "state_dir": str(state_dir),
        "policies": [
            {"measurement": "telemetry", "retention_policy": "raw", "age": "1d"},
            {"measurement": "heartbeat", "retention_policy": "raw", "age": "1d"},
            {
                "measurement": "log",
                "retention_policy": "logs",
                "age": "24h",
                "levels": {"error": "3d", "critical": "3d"},
            },
        ],
        "downsample": [],
        "usage": {"enabled": False},
        "delete_slice": "20m",
    }
    data.update(overrides)
    return DataRetentionConfig.model_validate(data)


def fleet_lines(
    now_s: float, hours: float = 40, boxes: int = 4, step_s: int = 60, seed: int = 3, first_box: int = 0
) -> dict[str, list]:
    """Telemetry (floats, one integer-valued float), heartbeats (int, string, bool, float) and logs
    with every level, ending 10 minutes before ``now_s``, in line protocol per retention policy."""
    rng = random.Random(seed)
    end = int(now_s) - 600
    start = end - int(hours * 3600)
    raw, logs = [], []
    for b in range(first_box, first_box + boxes):
        tags = {"jbox_id": f"jbox-{b:04d}", "site": f"site-{b % 2}", "region": ("IDF", "PACA")[b % 2], "service": "fcr"}
        for t in range(start, end, step_s):
            fields = {"p_meas_kw": rng.uniform(-900, 900), "soc_pct": float(rng.randint(20, 80)), "grid_freq_hz": 50.0}
            if rng.random() < 0.1:
                fields.pop("grid_freq_hz")  # a sparse field: nulls in the archive
            raw.append(encode_point("telemetry", tags, fields, t * NS + b))
            if t % 3600 < step_s:
                heartbeat = {"uptime_s": t - start, "fw_version": f'2.{b}."q"', "up": rng.random() < 0.9, "disk": 1.0}
                raw.append(encode_point("heartbeat", tags, heartbeat, t * NS))
            if rng.random() < 0.3:
                level = rng.choice(LEVELS)
                logs.append(encode_point("log", {**tags, "level": level}, {"code": "E1", "message": "a b,c=d"}, t * NS))
    return {"raw": raw, "logs": logs}


def load(influx: InfluxClient, lines: dict[str, list]) -> None:
    for policy, batch in lines.items():
        influx.write_batches(batch, retention_policy=policy)


def snapshot(influx: InfluxClient, policy: str, measurement: str, database: str | None = None) -> set[tuple]:
    """Every row as (tags, time, fields with their InfluxDB types), for exact comparisons."""
    source = f'"{policy}"."{measurement}"'
    types_result = influx.query_raw(f"SHOW FIELD KEYS FROM {source}", database=database)
    types = {row[0]: row[1] for s in types_result[0].get("series", []) for row in s["values"]}
    results = influx.query_raw(f"SELECT * FROM {source} GROUP BY *", database=database)
    rows = set()
    for series in results[0].get("series", []):
        tags = tuple(sorted((k, v) for k, v in (series.get("tags") or {}).items() if v))
        for row in series["values"]:
            fields = tuple(
                sorted((c, types[c], v) for c, v in zip(series["columns"][1:], row[1:], strict=True) if v is not None)
            )
            rows.add((tags, row[0], fields))
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ArchiveStore]:
    with ArchiveStore(StoreSettings(url=f"file://{tmp_path}/archive")) as store:
        yield store


@pytest.fixture
def now() -> float:
    return time.time()
