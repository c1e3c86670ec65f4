"""Every key of the shipped ``config/jboxmon.yaml`` is read by something: a key that is accepted and
ignored is worse than one refused.

Two proofs. A walk over the sample's keys finds, for each, code outside ``config/`` that reads the
attribute (a cheap net that catches a new key nobody reads). For the keys that used to be ignored,
a poison value changes what the program does (logging in ``tests/jboxmon/test_logsetup.py``).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import BaseModel

from config import JboxmonConfig
from config.model import FleetConfig, InfluxDBConfig
from simulator import faults
from simulator.engine import FleetSimulator
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxSettings

ROOT = Path(__file__).resolve().parents[2]
# where configuration is read: every package but config itself (and the tests)
READERS = ["storage", "inventory", "collector", "rules", "alerting", "retention", "dashboards", "status", "simulator",
           "jboxmon"]


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


class Key(typing.NamedTuple):
    path: str  # as written in the YAML: collector.schema.log.tags
    attribute: str  # the python attribute that holds it: tags
    owner: tuple[str, ...]  # names that show the code holds the owning section: .schema_, MeasurementSchema


def shipped_keys(data: dict, model: type[BaseModel], prefix: str = "", owner: tuple[str, ...] = ()) -> list[Key]:
    """Every key written in the sample, models walked through dicts and lists of models."""
    by_alias = {(f.alias or name): name for name, f in model.model_fields.items()}
    keys = []
    for key, value in data.items():
        attribute = by_alias[key]
        keys.append(Key(f"{prefix}{key}", attribute, owner))
        inner = _models_in(model.model_fields[attribute].annotation)
        if not inner or not isinstance(value, dict):
            continue
        holder = (f".{attribute}", inner[0].__name__)
        aliases = {(f.alias or name) for name, f in inner[0].model_fields.items()}
        if set(value) <= aliases:
            keys += shipped_keys(value, inner[0], f"{prefix}{key}.", holder)
        else:  # a dict of models: payload_versions.v1, schema.telemetry
            for name, item in value.items():
                if isinstance(item, dict):
                    keys += shipped_keys(item, inner[0], f"{prefix}{key}.{name}.", holder)
    return keys


def _sources() -> dict[Path, str]:
    return {p: p.read_text() for room in READERS for p in sorted((ROOT / room).rglob("*.py"))}


def readers(key: Key, sources: dict[Path, str]) -> list[Path]:
    """Files that read ``.attribute`` in a package that names the section holding it (so a string's
    ``.format()`` does not count for ``logging.format``; ``collector/app.py`` reads ``.max_body_bytes``
    of the CollectorConfig that ``collector/service.py`` holds)."""

    def names_owner(text: str) -> bool:
        return not key.owner or any(re.search(rf"{re.escape(name)}\b", text) for name in key.owner)

    rooms = {_room(path) for path in sources}
    owning = {room for room in rooms if any(names_owner(t) for p, t in sources.items() if _room(p) == room)}
    return [p for p, t in sources.items() if re.search(rf"\.{key.attribute}\b", t) and _room(p) in owning]


def _room(path: Path) -> str:
    return (path.relative_to(ROOT) if path.is_absolute() else path).parts[0]


SOURCES = _sources()
SAMPLE = yaml.safe_load((ROOT / "config/jboxmon.yaml").read_text())
KEYS = shipped_keys(SAMPLE, JboxmonConfig)


def test_the_walk_sees_nested_keys() -> None:
    paths = {key.path for key in KEYS}
    assert {"logging.format", "fleet.temp_warning_c", "collector.schema.log.tags", "collector.pull.timeout"} <= paths
    assert len(paths) > 60


@pytest.mark.parametrize("key", KEYS, ids=[key.path for key in KEYS])
def test_every_shipped_key_is_read_outside_config(key: Key) -> None:
    assert readers(key, SOURCES), f"{key.path}: nothing outside config/ reads .{key.attribute}"


def test_the_check_would_see_an_unread_key() -> None:
    assert readers(Key("x.never_read_anywhere", "never_read_anywhere", ()), SOURCES) == []
    # a string's .format() is no reader of logging.format
    text = {Path("fake.py"): "'{}'.format(1)\n"}
    assert readers(Key("logging.format", "format", (".logging", "LoggingConfig")), text) == []


# -- poison values for the keys that were accepted and ignored ------------------------------------


def _run(fleet: FleetConfig, boxes: int = 60, hours: float = 2.0):
    scenario = build_scenario(
        boxes=boxes, seed=5, window=SimWindow(1_764_400_000_000, hours * 3600, 10), fleet_config=fleet
    )
    return scenario, list(FleetSimulator(scenario).steps())


def test_heartbeat_interval_sets_how_often_boxes_beat() -> None:
    scenario, steps = _run(FleetConfig(heartbeat_interval=600), boxes=20, hours=1)
    silent = {e.jbox_id for e in scenario.plan.events if e.kind == "silent"}
    beats = np.concatenate([s.heartbeats.box for s in steps])
    counts = np.bincount(beats, minlength=20)
    talking = [i for i, box in enumerate(scenario.fleet.ids) if box not in silent]
    assert set(counts[talking].tolist()) == {6}  # one beat every 10 minutes, not one an hour


def test_heartbeat_interval_sets_how_long_silent_boxes_stay_quiet() -> None:
    scenario, _ = _run(FleetConfig(heartbeat_interval=600), boxes=60, hours=6)
    silent = [e for e in scenario.plan.events if e.kind == "silent"]
    assert silent and all(e.end_ms - e.start_ms <= faults.SILENT_MAX_BEATS * 600_000 for e in silent)


def test_temp_warning_c_caps_healthy_boxes_below_it() -> None:
    scenario, steps = _run(FleetConfig(temp_warning_c=25.0))
    healthy = scenario.plan.kind == faults.NO_FAULT
    # after an hour (three thermal time constants) the HVAC holds cells 2 °C under the warning threshold
    hottest = max(float(s.temp_max_c[healthy].max()) for s in steps[360:])
    assert hottest <= 23.0 + 0.3
    _, default_steps = _run(FleetConfig())
    assert max(float(s.temp_max_c[healthy].max()) for s in default_steps[360:]) > 24.0


def test_temp_critical_c_sets_where_overheating_boxes_peak() -> None:
    scenario, _ = _run(FleetConfig(temp_critical_c=80.0))
    peaks = [e.details["peak_c"] for e in scenario.plan.events if e.kind == "overheat"]
    assert peaks and min(peaks) >= 83.0


def test_influxdb_defaults_are_declared_once() -> None:
    settings, config = InfluxSettings(), InfluxDBConfig()
    assert (settings.url, settings.database, settings.timeout_s, settings.gzip, settings.verify) == (
        config.url,
        config.database,
        config.timeout,
        config.gzip,
        config.tls_verify,
    )
