"""Usage energy, exactly: each sample stands for the gap to the next one in its hour (capped), the
hour's last one for the gap before it, a lone one for ``default_sample_period``; checked against an
independent computation on regular, irregular, sparse and gapped sampling, and availability and
faulty share against a real registry and alert history written as the rules write it."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest

from config.retention import UsageConfig
from inventory import Registry
from retention.checkpoint import Checkpoints
from retention.usage import UsageRollup, box_hour_energy, usage_report
from storage import InfluxClient
from storage.lineprotocol import encode_point
from tests.retention.conftest import NS

HOUR = 3600
CONFIG = UsageConfig(default_sample_period=10, max_sample_period=60)


def ns(t: float) -> int:
    """Test times are in seconds with at most millisecond digits: exact integer nanoseconds."""
    return round(t * 1000) * 1_000_000


def independent(samples: list[tuple[float, float]], config: UsageConfig = CONFIG) -> tuple[float, float]:
    """(delivered, absorbed) kWh of one box-hour, sample by sample, from the definition."""
    samples = sorted((ns(t), p) for t, p in samples)
    delivered = absorbed = 0.0
    for i, (t, p) in enumerate(samples):
        if len(samples) == 1:
            period = config.default_sample_period
        elif i + 1 < len(samples):
            period = min((samples[i + 1][0] - t) / NS, config.max_sample_period)
        else:
            period = min((t - samples[i - 1][0]) / NS, config.max_sample_period)
        if p > 0:
            delivered += p * period / 3600
        else:
            absorbed -= p * period / 3600
    return delivered, absorbed


def write(influx: InfluxClient, series: dict[str, list[tuple[float, float]]]) -> None:
    lines = [
        encode_point(
            "telemetry", {"jbox_id": box, "site": "s", "region": "R", "service": "fcr"}, {"p_meas_kw": p}, ns(t)
        )
        for box, samples in series.items()
        for t, p in samples
    ]
    influx.write_batches(lines, retention_policy="raw")


def per_box_hour(series: dict[str, list[tuple[float, float]]]) -> dict[tuple[str, int], tuple[float, float]]:
    hours: dict[tuple[str, int], list] = defaultdict(list)
    for box, samples in series.items():
        for t, p in samples:
            hours[(box, int(t) // HOUR * HOUR)].append((t, p))
    return {key: independent(samples) for key, samples in hours.items()}


def measured(influx: InfluxClient, start: int, hours: int, batch: int = 500) -> dict[tuple[str, int], tuple]:
    frame = box_hour_energy(influx, CONFIG, start * NS, (start + hours * HOUR) * NS, batch=batch)
    return {(row.jbox_id, int(row.time) // NS): (row.delivered_kwh, row.absorbed_kwh) for row in frame.itertuples()}


@pytest.fixture
def hour0(now: float) -> int:
    return (int(now) // HOUR - 6) * HOUR


def test_constructed_cases_are_exact(influx: InfluxClient, hour0: int) -> None:
    series = {
        # the issue's case: one 100 kW sample in each of three hours = 3 x 100 kW x 10 s
        "lone": [(hour0 + 1800, 100.0), (hour0 + HOUR + 60, 100.0), (hour0 + 2 * HOUR + 3599, 100.0)],
        # 10 s sampling, then silent 10 minutes (the sample before the gap counts 60 s, not 600 s)
        "gapped": [(hour0 + t, 50.0) for t in range(0, 600, 10)] + [(hour0 + t, -20.0) for t in range(1200, 1800, 10)],
        # two samples 30 s apart: 30 s each (the last one the gap before it)
        "pair": [(hour0 + 100, 360.0), (hour0 + 130, -720.0)],
        # irregular, sub-second timestamps
        "odd": [(hour0 + 0.25, 10.0), (hour0 + 1.5, 20.0), (hour0 + 47.75, -30.0), (hour0 + 49.0, 40.0)],
    }
    write(influx, series)
    got = measured(influx, hour0, 3)
    assert got[("lone", hour0)] == pytest.approx((100 * 10 / 3600, 0.0), rel=1e-12)
    assert sum(got[("lone", hour0 + h * HOUR)][0] for h in range(3)) == pytest.approx(0.8333333, rel=1e-6)
    assert got[("pair", hour0)] == pytest.approx((360 * 30 / 3600, 720 * 30 / 3600), rel=1e-12)
    assert got[("gapped", hour0)] == pytest.approx((50 * (590 + 60) / 3600, 20 * 600 / 3600), rel=1e-12)
    expected = per_box_hour(series)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


@pytest.mark.parametrize("kind", ["regular", "irregular", "sparse"])
def test_random_sampling_matches_the_definition(influx: InfluxClient, hour0: int, kind: str) -> None:
    rng = random.Random(kind)
    series = {}
    for b in range(6):
        t, samples = hour0 + rng.uniform(0, 10), []
        while t < hour0 + 3 * HOUR:
            samples.append((round(t, 3), rng.uniform(-1000, 1000)))
            t += {"regular": 10, "irregular": rng.uniform(0.5, 90), "sparse": rng.expovariate(1 / 1500)}[kind]
        series[f"jbox-{b}"] = samples
    write(influx, series)
    got = measured(influx, hour0, 3, batch=4)  # two box batches
    expected = per_box_hour(series)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    if kind == "regular":  # and within 0.1 % of the plain "samples x 10 s"
        for box, samples in series.items():
            plain = sum(p for _, p in samples if p > 0) * 10 / 3600
            total = sum(v[0] for k, v in got.items() if k[0] == box)
            assert abs(total / plain - 1) < 0.001


def test_availability_and_faulty_share_from_registry_and_alert_history(
    influx: InfluxClient, hour0: int, tmp_path: Path, now: float
) -> None:
    with Registry(tmp_path / "registry.sqlite") as registry:
        for i in range(6):
            registry.issue(f"jbox-{i}", site=f"site-{i % 2}", region=("IDF", "PACA")[i % 2], service="fcr")
        inventory = registry.boxes()
    tags = {box.jbox_id: box.tags() for box in inventory}
    lines = []
    for box in ("jbox-0", "jbox-1", "jbox-2", "jbox-3"):  # jbox-4 (IDF) and jbox-5 (PACA) never report
        for t in range(hour0, hour0 + 3 * HOUR, 60):
            lines.append(encode_point("telemetry", tags[box], {"p_meas_kw": 100.0}, t * NS))

    def alert(box: str, state: str, at: int) -> str:  # as rules/sinks.py InfluxHistory writes them
        point_tags = {"alertname": "SetpointNotFollowed", "jbox_id": box, "state": state, "severity": "critical"}
        return encode_point("alerts", point_tags, {"value": 1.0, "group": "jbox"}, at * NS)

    lines += [
        alert("jbox-1", "pending", hour0 - 700),
        alert("jbox-1", "firing", hour0 - 600),  # firing since before
        alert("jbox-1", "resolved", hour0 + HOUR + 5),  # ... until the second hour
        alert("jbox-0", "firing", hour0 + 2 * HOUR + 10),  # the third hour, never resolved
        alert("jbox-4", "firing", hour0 + 30),
        alert("jbox-4", "resolved", hour0 + 90),  # silent box, 1st hour
    ]
    influx.write_batches(lines)
    UsageRollup(influx, CONFIG, Checkpoints(tmp_path).load(), 3, clock=lambda: now, inventory=lambda: inventory).run()
    frame = influx.query(f'SELECT * FROM "ds_1h"."usage" WHERE time >= {hour0 * NS} GROUP BY "region"')
    frame["hour"] = (frame["time"].astype("int64") // NS - hour0) // HOUR
    got = {(r.region, r.hour): (r.boxes_expected, r.boxes_reporting, r.faulty_boxes) for r in frame.itertuples()}
    assert got[("IDF", 0)] == (3, 2, 1)  # jbox-4 faulty though silent
    assert got[("IDF", 2)] == (3, 2, 1)  # jbox-0
    assert got[("PACA", 0)] == (3, 2, 1) and got[("PACA", 1)] == (3, 2, 1)  # jbox-1 firing since before
    assert got[("PACA", 2)] == (3, 2, 0)
    assert got[("IDF", 1)] == (3, 2, 0)
    report = usage_report(influx, CONFIG, "region", hour0 * NS, (hour0 + 3 * HOUR) * NS).set_index("region")
    assert report.loc["IDF", "availability"] == pytest.approx(2 / 3)
    assert report.loc["IDF", "faulty_share"] == pytest.approx(2 / 9)
    assert report.loc["PACA", "faulty_share"] == pytest.approx(2 / 9)
    assert report.loc["IDF", "energy_delivered_kwh"] == pytest.approx(2 * 3 * 60 * 100 * 60 / 3600)
