"""Golden folders: ``golden/<case>/config.yaml`` (an ``alerting:`` section), ``alerts.json`` (what
arrives when, in seconds from ``start``) and ``expected.json`` (the notifications queued, when, for
whom, with which alerts). Driven with an injected clock, one tick per ``step`` seconds: hours of
alert time in well under a second. ``JBOXMON_UPDATE_GOLDEN=1`` rewrites the expected files."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
import yaml

from alerting.alerts import iso, parse_time
from alerting.service import AlertingService
from alerting.silences import Silence
from config.alerting import AlertingConfig

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def run_case(folder: Path, tmp_path: Path) -> list[dict]:
    section = yaml.safe_load((folder / "config.yaml").read_text())["alerting"]
    section |= {"outbox": str(tmp_path / "o.sqlite"), "silences": str(tmp_path / "s.sqlite"),
                "history": str(tmp_path / "h.sqlite")}  # fmt: skip
    scenario = json.loads((folder / "alerts.json").read_text())
    start = parse_time(scenario["start"], "start")
    clock = [start]
    service = AlertingService(AlertingConfig.model_validate(section), clock=lambda: clock[0], threads=False).start()
    try:
        steps = sorted(scenario["steps"], key=lambda s: s["at"])
        t = 0.0
        while t <= scenario["until"]:
            clock[0] = start + t
            for step in [s for s in steps if s["at"] == t]:
                for body in step.get("silences", []):
                    service.silences.put(Silence.from_api(_times(body, start), clock[0]))
                if step.get("alerts"):
                    service.receive([_times(item, start) for item in step["alerts"]])
            service.tick()
            _deliver_all(service, clock[0])  # a receiver that answers at once
            t += scenario.get("step", 1)
    finally:
        service.stop()
    db = sqlite3.connect(tmp_path / "o.sqlite")
    rows = db.execute("SELECT created_at, integration, payload FROM outbox ORDER BY id").fetchall()
    db.close()
    out = []
    for created, integration, payload in rows:
        body = json.loads(payload)
        alerts = sorted(f"{a['labels']['alertname']}/{a['labels'].get('jbox_id', '-')}/{a['status']}"
                        for a in body["alerts"])  # fmt: skip
        out.append({"at": round(created - start, 3), "integration": integration, "status": body["status"],
                    "groupLabels": body["groupLabels"], "alerts": alerts})  # fmt: skip
    return out


def _deliver_all(service: AlertingService, now: float) -> None:
    for integration in service.outbox.pending_integrations():
        while (row := service.outbox.next_due(integration, now)) is not None:
            service.outbox.mark_sent(row.id, now)


def _times(body: dict, start: float) -> dict:
    """Times written as offsets in seconds (numbers) become RFC 3339 strings."""
    out = dict(body)
    for key in ("startsAt", "endsAt"):
        if isinstance(out.get(key), int | float):
            out[key] = iso(start + out[key])
    return out


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path) -> None:
    folder = GOLDEN / case
    got = run_case(folder, tmp_path)
    expected_path = folder / "expected.json"
    if os.environ.get("JBOXMON_UPDATE_GOLDEN"):
        expected_path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(expected_path.read_text())
