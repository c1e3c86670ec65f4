"""Usage by region: the roll-up's energy per region equals the sum computed from raw telemetry."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pandas as pd

from config.retention import UsageConfig
from inventory import Box
from jboxmon.cli import main
from retention.checkpoint import Checkpoints
from retention.usage import UsageRollup, usage_report
from storage import InfluxClient
from storage.lineprotocol import encode_point
from tests.retention.conftest import NS

HOUR = 3600


def test_energy_per_region_equals_the_raw_sum(
    influx: InfluxClient, influx_config, tmp_path: Path, now: float, capsys
) -> None:
    rng = random.Random(4)
    start = (int(now) // HOUR - 5) * HOUR
    boxes = [
        Box(f"jbox-{i:04d}", site=f"site-{i % 3}", region=("IDF", "PACA", "ARA")[i % 3], service="fcr")
        for i in range(9)
    ]
    rows, lines = [], []
    for box in boxes[:-1]:  # the last box never reports: availability below 1
        for t in range(start, start + 3 * HOUR, 10):
            if rng.random() < 0.02:
                continue  # a few missed samples
            p = rng.uniform(-1000, 1000)
            rows.append({"region": box.region, "box": box.jbox_id, "hour": t // HOUR, "t": t, "p": p})
            lines.append(encode_point("telemetry", box.tags(), {"p_meas_kw": p}, t * NS))
    influx.write_batches(lines, retention_policy="raw")
    influx.write(
        [
            encode_point("alerts", {"jbox_id": "jbox-0001", "state": "firing"}, {"value": 1.0}, (start + 60) * NS),
            encode_point("alerts", {"jbox_id": "jbox-0001", "state": "resolved"}, {"value": 0.0}, (start + 90) * NS),
        ]
    )
    raw = pd.DataFrame(rows)
    # a missed sample: the one before it stands for 20 s (the gap to the next one, within the 60 s cap)
    raw["period"] = raw.groupby(["box", "hour"])["t"].diff(-1).abs()
    raw["period"] = raw["period"].fillna(raw.groupby(["box", "hour"])["t"].diff().abs())
    raw["e"] = raw["p"] * raw["period"] / 3600
    delivered = raw[raw.p > 0].groupby("region")["e"].sum()
    absorbed = -raw[raw.p < 0].groupby("region")["e"].sum()

    config = UsageConfig()
    UsageRollup(influx, config, Checkpoints(tmp_path).load(), 3, clock=lambda: now, inventory=lambda: boxes).run()
    report = usage_report(influx, config, "region", start * NS, (start + 3 * HOUR) * NS).set_index("region")
    for region in ("IDF", "PACA", "ARA"):
        assert abs(report.loc[region, "energy_delivered_kwh"] / delivered[region] - 1) < 0.001
        assert abs(report.loc[region, "energy_absorbed_kwh"] / absorbed[region] - 1) < 0.001
    assert report.loc["ARA", "availability"] == 2 / 3  # jbox-0008 (ARA) never reported
    assert report.loc["PACA", "faulty_share"] == 1 / 9  # jbox-0001 fired in one of 3 hours x 3 boxes

    config_file = tmp_path / "c.yaml"
    config_file.write_text(f"influxdb: {{url: '{influx_config.url}', database: {influx_config.database}}}\n")
    out = tmp_path / "usage.parquet"
    span = [
        "--from",
        pd.Timestamp(start, unit="s").isoformat(),
        "--to",
        pd.Timestamp(start + 3 * HOUR, unit="s").isoformat(),
    ]
    assert (
        main(
            [
                "--config",
                str(config_file),
                "report",
                "usage",
                "--by",
                "site",
                *span,
                "--format",
                "parquet",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    by_site = pd.read_parquet(out)
    assert sorted(by_site["site"]) == ["site-0", "site-1", "site-2"]
    assert abs(by_site["energy_delivered_kwh"].sum() / delivered.sum() - 1) < 0.001
    capsys.readouterr()
    assert main(["--config", str(config_file), "report", "usage", "--by", "region", *span]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("region")
    assert list(csv.columns) == [
        "energy_delivered_kwh",
        "energy_absorbed_kwh",
        "box_hours",
        "availability",
        "faulty_share",
    ]
    assert abs(csv.loc["IDF", "energy_delivered_kwh"] / delivered["IDF"] - 1) < 0.001
