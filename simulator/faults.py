"""Fault injection: which boxes fail, how and when, and the ground truth written for the checks.

Exactly ``round(fault_rate * boxes)`` distinct boxes get one real fault each, so the faulty share in
the ground truth equals the rate. A share ``transient_rate`` of the *other* boxes get one short
power deviation (20-150 s), which a good rule must not alert on (``should_alert`` false).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator.fleet import AFRR, Fleet
from simulator.grid import GridSignals
from simulator.physics import PhysicsParams
from simulator.window import SimWindow, rfc3339

ONSET_MS = 5 * 60_000  # how long an injected power fault must show from its start
KINDS = ("power_stuck", "setpoint_not_followed", "silent", "overheat", "soc_drift", "log_storm")
POWER_STUCK, SETPOINT_NOT_FOLLOWED, SILENT, OVERHEAT, SOC_DRIFT, LOG_STORM = range(len(KINDS))
NO_FAULT = -1
TRANSIENT = "transient_deviation"

MIN_LEAD_MS = 300_000  # faults start at least 5 min into the window (less for very short windows)
MIN_FAULT_MS = 600_000  # long enough for any "for: 3m" rule to fire
MAX_FAULT_MS = 2_700_000
SILENT_MARGIN_MS = 600_000  # silent boxes stay quiet beyond the heartbeat absence rule (one interval)
SILENT_MAX_BEATS = 3  # ... and for at most three heartbeat intervals
OVERHEAT_PEAK_C = (3.0, 15.0)  # an overheating box peaks this far above the critical temperature
TRANSIENT_MS = (20_000, 150_000)  # strictly under the 3 min the operator alerts on


@dataclass(frozen=True)
class FaultEvent:
    """One ground-truth line. Times are epoch ms; ``details`` holds the kind's parameters."""

    jbox_id: str
    box: int
    kind: str
    start_ms: int
    end_ms: int
    should_alert: bool
    details: dict = field(default_factory=dict)

    def to_json(self) -> str:
        record = {
            "jbox_id": self.jbox_id,
            "kind": self.kind,
            "start": rfc3339(self.start_ms),
            "end": rfc3339(self.end_ms),
            "should_alert": self.should_alert,
            **self.details,
        }
        return json.dumps(record, sort_keys=True)


@dataclass(frozen=True)
class FaultPlan:
    """The events plus per-box arrays the engine reads at every step (times are epoch ms).

    ``param`` means, by kind: stuck_kw, offset_kw, peak_c, signed SoC drift in %/min, lines/s.
    ``param2`` is the overheat ramp in °C/min.
    """

    events: list[FaultEvent]
    kind: np.ndarray
    start_ms: np.ndarray
    end_ms: np.ndarray
    param: np.ndarray
    param2: np.ndarray
    transient_start_ms: np.ndarray
    transient_end_ms: np.ndarray
    transient_offset_kw: np.ndarray

    def active(self, kind: int, t_ms: int) -> np.ndarray:
        """Boolean mask of boxes whose fault of ``kind`` is in progress at ``t_ms``."""
        return (self.kind == kind) & (self.start_ms <= t_ms) & (t_ms < self.end_ms)

    def transient_active(self, t_ms: int) -> np.ndarray:
        return (self.transient_start_ms <= t_ms) & (t_ms < self.transient_end_ms)

    def faulty_ids(self) -> list[str]:
        return sorted({e.jbox_id for e in self.events if e.should_alert})

    def write_ground_truth(self, path: Path | str) -> Path:
        """One JSON object per line, sorted by start then box, keys sorted: byte-stable per seed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".tmp")  # renamed over the old file only once complete
        partial.write_text("".join(event.to_json() + "\n" for event in self.events))
        partial.replace(path)
        return path


def plan_faults(
    fleet: Fleet,
    window: SimWindow,
    grid: GridSignals,
    rng: np.random.Generator,
    *,
    fault_rate: float,
    transient_rate: float,
    params: PhysicsParams | None = None,
) -> FaultPlan:
    params = params or PhysicsParams()
    n = len(fleet)
    n_faulty = round(fault_rate * n)
    order = rng.permutation(n)
    faulty, others = np.sort(order[:n_faulty]), order[n_faulty:]
    transient_boxes = np.sort(others[: round(transient_rate * len(others))])
    # Kinds dealt round-robin then shuffled, so every kind appears once there are six faults.
    kinds = rng.permutation(np.arange(n_faulty) % len(KINDS))

    never = np.iinfo(np.int64).max
    plan = FaultPlan(
        events=[],
        kind=np.full(n, NO_FAULT, dtype=np.int8),
        start_ms=np.full(n, never, dtype=np.int64),
        end_ms=np.full(n, never, dtype=np.int64),
        param=np.zeros(n),
        param2=np.zeros(n),
        transient_start_ms=np.full(n, never, dtype=np.int64),
        transient_end_ms=np.full(n, never, dtype=np.int64),
        transient_offset_kw=np.zeros(n),
    )
    events = []
    for box, kind in zip(faulty.tolist(), kinds.tolist(), strict=True):
        events.append(_plan_fault(plan, fleet, window, grid, rng, box, kind, params))
    for box in transient_boxes.tolist():
        events.append(_plan_transient(plan, fleet, window, rng, box, params.power_kw))
    events.sort(key=lambda e: (e.start_ms, e.jbox_id))
    plan.events.extend(events)
    return plan


def _on_grid(window: SimWindow, offset_ms: int) -> int:
    """Align a start to a sample time, so the data changes exactly at the ground-truth start."""
    return (offset_ms // window.interval_ms) * window.interval_ms


def _span(window: SimWindow, rng: np.random.Generator, min_ms: int, max_ms: int) -> tuple[int, int]:
    """A (start, end) offset pair inside the window, after the lead, lasting at least ``min_ms``
    (shrunk to what fits in short windows)."""
    length = window.duration_ms
    lead = _on_grid(window, min(MIN_LEAD_MS, length // 6))
    min_ms = min(min_ms, length - lead)
    max_ms = max(min_ms, min(max_ms, length - lead))
    duration = int(rng.integers(min_ms // 1000, max_ms // 1000 + 1)) * 1000  # whole seconds
    start = _on_grid(window, int(rng.integers(lead, length - duration + 1)))
    return start, start + duration


def _plan_fault(
    plan: FaultPlan,
    fleet: Fleet,
    window: SimWindow,
    grid: GridSignals,
    rng: np.random.Generator,
    box: int,
    kind: int,
    params: PhysicsParams,
) -> FaultEvent:
    power_kw = params.power_kw
    if kind == SILENT:
        # Silent boxes miss a heartbeat (over an hour with the default interval), or until the window ends.
        length = window.duration_ms
        lead = _on_grid(window, min(MIN_LEAD_MS, length // 6))
        start = _on_grid(window, int(rng.integers(lead, lead + (length - lead) // 2 + 1)))
        beat_ms = int(params.heartbeat_interval_s * 1000)
        low_s, high_s = (beat_ms + SILENT_MARGIN_MS) // 1000, SILENT_MAX_BEATS * beat_ms // 1000
        end = min(start + int(rng.integers(low_s, high_s)) * 1000, length)
    else:
        start, end = _span(window, rng, MIN_FAULT_MS, MAX_FAULT_MS)
    details: dict = {}
    if kind == POWER_STUCK:
        value = _stuck_value(fleet, grid, window, rng, box, start, end, power_kw)
        plan.param[box], details["stuck_kw"] = value, value
    elif kind == SETPOINT_NOT_FOLLOWED:
        # The inverter runs a fixed amount against the requested direction: always far from it.
        offset = round(float(rng.uniform(0.3, 0.5)) * power_kw, 1)
        plan.param[box], details["offset_kw"] = offset, offset
    elif kind == OVERHEAT:
        low, high = (params.temp_critical_c + above for above in OVERHEAT_PEAK_C)
        peak, ramp = round(float(rng.uniform(low, high)), 1), round(float(rng.uniform(3.0, 5.0)), 2)
        plan.param[box], plan.param2[box] = peak, ramp
        details.update(peak_c=peak, ramp_c_per_min=ramp)
    elif kind == SOC_DRIFT:
        # The SoC estimate drifts to 5% or 95% within 60% of the fault: clearly out of the 10-90 band.
        direction = 1.0 if rng.random() < 0.5 else -1.0
        rate = round(50.0 / (0.6 * (end - start) / 60_000.0), 3)
        plan.param[box] = direction * rate
        details.update(direction="high" if direction > 0 else "low", rate_pct_per_min=rate)
    elif kind == LOG_STORM:
        rate = round(float(rng.uniform(2.0, 10.0)), 2)
        plan.param[box], details["lines_per_s"] = rate, rate
    plan.kind[box] = kind
    plan.start_ms[box], plan.end_ms[box] = window.start_ms + start, window.start_ms + end
    return FaultEvent(fleet.ids[box], box, KINDS[kind], window.start_ms + start, window.start_ms + end, True, details)


def _stuck_value(
    fleet: Fleet,
    grid: GridSignals,
    window: SimWindow,
    rng: np.random.Generator,
    box: int,
    start: int,
    end: int,
    power_kw: float,
) -> float:
    """A frozen reading of 400-900 kW, on the side opposite to what the box is asked to do.

    An aFRR setpoint wanders over the whole range, so for aFRR boxes the side is the one furthest
    from the setpoint during the fault's first minutes: the fault shows from its start, and its
    detection delay measures the rule, not the luck of the signal.
    """
    magnitude = float(rng.uniform(0.4, 0.9)) * power_kw
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if fleet.service[box] == AFRR:
        first = start // window.interval_ms
        onset = slice(first, max(first + 1, min(end, start + ONSET_MS) // window.interval_ms))
        setpoints = grid.afrr_level[onset] * power_kw * float(fleet.afrr_gain[box])
        sign = 1.0 if np.min(np.abs(magnitude - setpoints)) >= np.min(np.abs(-magnitude - setpoints)) else -1.0
    return round(sign * magnitude, 1)


def _plan_transient(
    plan: FaultPlan, fleet: Fleet, window: SimWindow, rng: np.random.Generator, box: int, power_kw: float
) -> FaultEvent:
    start, _ = _span(window, rng, TRANSIENT_MS[1], TRANSIENT_MS[1])
    duration = int(rng.integers(TRANSIENT_MS[0] // 1000, TRANSIENT_MS[1] // 1000 + 1)) * 1000
    end = min(start + duration, window.duration_ms)
    offset = round(float(rng.uniform(0.4, 0.8)) * power_kw * (1 if rng.random() < 0.5 else -1), 1)
    plan.transient_start_ms[box] = window.start_ms + start
    plan.transient_end_ms[box] = window.start_ms + end
    plan.transient_offset_kw[box] = offset
    return FaultEvent(
        fleet.ids[box],
        box,
        TRANSIENT,
        window.start_ms + start,
        window.start_ms + end,
        False,
        {"offset_kw": offset},
    )
