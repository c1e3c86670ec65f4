"""Box log lines: a small catalogue of codes per level, healthy background rates and log storms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVELS = ("debug", "info", "warning", "error", "critical")
ERROR = LEVELS.index("error")

# (code, message) per level. Messages carry no numbers, so no two boxes differ only by formatting.
CATALOGUE: tuple[tuple[tuple[str, str], ...], ...] = (
    (("D001", "PLC cycle completed"), ("D010", "Modbus poll of inverters completed")),
    (
        ("I100", "Setpoint received from TSO"),
        ("I110", "SoC rebalancing started"),
        ("I120", "Configuration reloaded"),
    ),
    (
        ("W210", "Modbus retry on inverter link"),
        ("W230", "HVAC fan speed high"),
        ("W250", "Grid meter sample late"),
    ),
    (("E042", "Inverter communication timeout"), ("E051", "BMS string isolation check failed")),
    (("C900", "Emergency stop input triggered"),),
)
STORM_CODE = ("E042", "Inverter communication timeout")

# Healthy background rates per box, in lines per second: debug every ~10 min ... critical ~monthly.
HEALTHY_RATES = np.array([1 / 600, 1 / 1200, 1 / 7200, 1 / 43_200, 1 / 2_592_000])


@dataclass(frozen=True)
class LogBatch:
    """Log lines of one step, index-aligned arrays; ``t_ms`` is unique per box within the batch."""

    box: np.ndarray
    t_ms: np.ndarray
    level: np.ndarray
    code: list[str]
    message: list[str]

    def __len__(self) -> int:
        return len(self.box)


class LogGenerator:
    """Draws each step's log lines with its own random stream (independent of the physics)."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self._n = n
        self._rng = rng

    def step(self, t_ms: int, interval_ms: int, quiet: np.ndarray, storm_rate: np.ndarray) -> LogBatch:
        """Lines in ``[t_ms, t_ms + interval_ms)``; ``quiet`` boxes send none, ``storm_rate`` in lines/s."""
        dt_s = interval_ms / 1000.0
        counts = self._rng.poisson(HEALTHY_RATES * dt_s, size=(self._n, len(LEVELS)))
        counts[:, ERROR] += self._rng.poisson(storm_rate * dt_s)
        counts[quiet] = 0
        # At most one line per millisecond per box, so no two points of a series share a time.
        counts = np.minimum(counts, interval_ms // len(LEVELS))
        box, level = np.nonzero(counts)
        if len(box) == 0:
            return LogBatch(box, box.astype(np.int64), level, [], [])
        repeat = counts[box, level]
        box, level = np.repeat(box, repeat), np.repeat(level, repeat)
        return LogBatch(box, t_ms + self._offsets(box, interval_ms), level, *self._texts(level, storm_rate[box]))

    def _offsets(self, box: np.ndarray, interval_ms: int) -> np.ndarray:
        """Spread a box's k lines over k disjoint slots of the interval, jittered within each slot."""
        _, first, per_box = np.unique(box, return_index=True, return_counts=True)
        rank = np.arange(len(box)) - np.repeat(first, per_box)
        slot = interval_ms // np.repeat(per_box, per_box)
        return rank * slot + (self._rng.random(len(box)) * slot).astype(np.int64)

    def _texts(self, level: np.ndarray, storm_rate: np.ndarray) -> tuple[list[str], list[str]]:
        pick = self._rng.random(len(level))
        codes, messages = [], []
        for lvl, u, storming in zip(level.tolist(), pick.tolist(), (storm_rate > 0).tolist(), strict=True):
            if storming and lvl == ERROR:
                code, message = STORM_CODE
            else:
                options = CATALOGUE[lvl]
                code, message = options[int(u * len(options))]
            codes.append(code)
            messages.append(message)
        return codes, messages
