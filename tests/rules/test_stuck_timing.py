"""A stuck reading fires within ``for`` + one interval of the freeze, wherever it falls on the grid.

The shipped SetpointNotFollowed rule (``frozen: 10s``, ``for: 3m``, interval 10 s) on one box per
offset of the freeze start from the evaluation grid (0-9 s), with 1-s and with 10-s samples, under a
setpoint that swings across the frozen value (so the window mean alone would restart ``for``).
Evaluated live-style (one time after another, incremental reads) and backtest-style (all times at
once): every delay must lie within [0, for + interval].
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from inventory import Box
from rules.engine import RuleEngine
from rules.loader import load_rules
from storage.lineprotocol import encode_point

S = 1_000_000_000
RULES = Path(__file__).resolve().parents[2] / "rules" / "default" / "jbox.yaml"
T0 = (int(time.time()) - 7200) // 600 * 600 * S
FREEZE_S = 120  # the freeze of box (period, offset) starts at T0 + FREEZE_S + offset
END_S = FREEZE_S + 260


def history(period: int) -> tuple[list[str], dict[str, int]]:
    rng = np.random.default_rng(period)
    lines, starts = [], {}
    for offset in range(10):
        box = f"jbox-p{period}-o{offset}"
        starts[box] = T0 + (FREEZE_S + offset) * S
        stuck = None
        for second in range(0, END_S, period):
            setpoint = round(300 * math.sin(2 * math.pi * second / 90), 1)
            measured = round(setpoint + rng.normal(0, 5), 1)
            if second >= FREEZE_S + offset:
                stuck = measured if stuck is None else stuck
                measured = stuck
            fields = {"p_meas_kw": measured, "p_setpoint_kw": setpoint}
            lines.append(encode_point("telemetry", {"jbox_id": box}, fields, T0 + second * S))
    return lines, starts


@pytest.mark.parametrize("live", [True, False], ids=["live", "backtest"])
def test_stuck_fires_within_for_plus_one_interval_at_any_offset(influx, live: bool) -> None:
    starts = {}
    for period in (1, 10):
        lines, box_starts = history(period)
        influx.write(lines)
        starts.update(box_starts)
    power = next(g for g in load_rules([RULES]) if g.name == "power")
    engine = RuleEngine([power], influx.query, lambda: [Box(b) for b in starts])
    times = [T0 + s * S for s in range(30, END_S + 10, 10)]
    evaluations = [engine.evaluate(power, [t]) for t in times] if live else [engine.evaluate(power, times)]
    fired = {
        t.key: t.at
        for evaluation in evaluations
        for loaded, t in evaluation.transitions
        if t.to == "firing" and loaded.rule.alert == "SetpointNotFollowed"
    }
    limit = (180 + 10) * S
    delays = {box: (fired.get(box, math.inf) - start) / S for box, start in starts.items()}
    late = {box: delay for box, delay in delays.items() if not 0 <= delay * S <= limit}
    assert not late, f"delays outside [0, 190] s: {late}"
