"""Helpers for simulator tests: small scenarios at a fixed start, and steps stacked into arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from simulator.engine import FleetSimulator
from simulator.scenario import Scenario, build_scenario
from simulator.window import SimWindow

START_MS = 1_764_428_400_000  # 2025-11-29T15:00:00Z


@dataclass
class Run:
    """A scenario's steps as (steps, boxes) arrays, plus the flat heartbeat and log records."""

    t_ms: np.ndarray
    freq: np.ndarray
    reporting: np.ndarray
    p_meas: np.ndarray
    p_setpoint: np.ndarray
    soc: np.ndarray
    temp: np.ndarray
    heartbeats: list[tuple[int, int]]  # (box, t_ms)
    logs: list[tuple[int, int, int, str]]  # (box, t_ms, level, code)


def run_scenario(scenario: Scenario) -> Run:
    steps = list(FleetSimulator(scenario).steps())
    return Run(
        t_ms=np.array([s.t_ms for s in steps]),
        freq=np.array([s.freq_hz for s in steps]),
        reporting=np.stack([s.reporting for s in steps]),
        p_meas=np.stack([s.p_meas_kw for s in steps]),
        p_setpoint=np.stack([s.p_setpoint_kw for s in steps]),
        soc=np.stack([s.soc_pct for s in steps]),
        temp=np.stack([s.temp_max_c for s in steps]),
        heartbeats=[
            (b, t) for s in steps for b, t in zip(s.heartbeats.box.tolist(), s.heartbeats.t_ms.tolist(), strict=True)
        ],
        logs=[
            (b, t, lvl, code)
            for s in steps
            for b, t, lvl, code in zip(
                s.logs.box.tolist(), s.logs.t_ms.tolist(), s.logs.level.tolist(), s.logs.code, strict=True
            )
        ],
    )


def small_scenario(
    boxes: int = 60,
    seed: int = 7,
    hours: float = 1.0,
    interval: float = 10.0,
    start_ms: int = START_MS,
    **kwargs,
) -> Scenario:
    return build_scenario(boxes=boxes, seed=seed, window=SimWindow(start_ms, hours * 3600, interval), **kwargs)


@pytest.fixture(scope="module")
def hour_run() -> tuple[Scenario, Run]:
    """120 boxes over 2 h at 10 s: every fault kind several times, shared by the physics tests."""
    scenario = small_scenario(boxes=120, hours=2.0)
    return scenario, run_scenario(scenario)
