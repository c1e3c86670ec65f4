"""Signals shared by the whole fleet: the grid frequency and the TSO's aFRR activation level.

Both are precomputed for the whole window (one value per step, a few kB even for a day at 1 s), so
the fault planner can look ahead (a stuck box is stuck against the aFRR request) and both outputs
(backfill, live) see the same series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.window import SimWindow

FREQ_SIGMA_HZ = 0.04  # stationary standard deviation of the Continental Europe frequency
FREQ_TAU_S = 90.0  # mean-reversion time: primary + secondary control pull deviations back in ~1-2 min
FREQ_LIMITS_HZ = (49.7, 50.3)
AFRR_UPDATE_S = 4.0  # RTE sends an aFRR setpoint every 4 s
AFRR_SIGMA = 0.35  # stationary spread of the activation level, as a share of the box power
AFRR_TAU_S = 300.0  # activations persist for minutes


@dataclass(frozen=True)
class GridSignals:
    """One value per step of the window.

    ``freq_hz`` is measured to 1 mHz (finer than the 10 mHz the FCR rules require, so the
    ±10 mHz dead band is visible in the data). ``afrr_level`` is the TSO request in [-1, 1] as a
    share of full power, updated every 4 s and held in between.
    """

    freq_hz: np.ndarray
    afrr_level: np.ndarray


def generate_grid(window: SimWindow, rng: np.random.Generator, nominal_hz: float = 50.0) -> GridSignals:
    return GridSignals(
        freq_hz=_frequency(window, rng, nominal_hz),
        afrr_level=_afrr_level(window, rng),
    )


def _ornstein_uhlenbeck(n: int, dt_s: float, tau_s: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Exact discretisation of an OU process, so statistics do not depend on the step."""
    decay = math.exp(-dt_s / tau_s)
    kicks = rng.normal(0.0, sigma * math.sqrt(1.0 - decay * decay), size=n)
    values = np.empty(n)
    value = rng.normal(0.0, sigma)  # start in the stationary distribution
    for k in range(n):
        value = value * decay + kicks[k]
        values[k] = value
    return values


def _frequency(window: SimWindow, rng: np.random.Generator, nominal_hz: float) -> np.ndarray:
    deviation = _ornstein_uhlenbeck(window.steps, window.interval_s, FREQ_TAU_S, FREQ_SIGMA_HZ, rng)
    low, high = FREQ_LIMITS_HZ
    return np.round(np.clip(nominal_hz + deviation, low, high), 3)


def _afrr_level(window: SimWindow, rng: np.random.Generator) -> np.ndarray:
    updates = int(window.duration_s // AFRR_UPDATE_S) + 2
    walk = np.clip(_ornstein_uhlenbeck(updates, AFRR_UPDATE_S, AFRR_TAU_S, AFRR_SIGMA, rng), -1.0, 1.0)
    # The setpoint in force at step k is the last one received: hold between updates.
    update_index = (np.arange(window.steps) * window.interval_s // AFRR_UPDATE_S).astype(int)
    return walk[update_index]
