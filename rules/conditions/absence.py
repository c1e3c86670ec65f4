"""``absence``: a box of the inventory sent no point of a measurement for a duration.

Unlike Prometheus' ``absent()``, this is per box and knows the boxes that never reported at all
(they come from the fleet inventory). The value is the seconds since the box was last seen within
the look-back (the whole duration when it was not seen at all), but never more than the box has
been known: a box registered a minute ago has been silent for a minute, not an hour, and a
registered box that never reports fires once the duration has passed since its registration.

::

    absence: {measurement: heartbeat, field: uptime_s, duration: 65m}
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from config.fields import Duration
from rules.conditions.base import ConditionBase, EvalContext, at_eval_times, pivot, with_ns
from rules.conditions.reading import Reading, buckets


class AbsenceSpec(ConditionBase):
    kind: Literal["absence"] = "absence"
    measurement: str
    retention_policy: str | None = None
    field: str
    duration: Duration

    def window_s(self, step_s: int) -> int:
        return int(max(step_s, -(-self.duration // step_s) * step_s))

    def reading(self, step_s: int) -> Reading:
        return buckets(self.measurement, self.retention_policy, step_s, ("n", "count", self.field))

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        table = pivot(with_ns(frame), "n", eval_times, step_s, window_s)
        boxes = sorted(set(ctx.inventory) | set(table.columns))
        table = table.reindex(columns=boxes)
        step_ns = step_s * 1_000_000_000
        seen = table.notna().to_numpy()
        starts = table.index.to_numpy()
        # bucket end time of the most recent bucket with data, carried forward
        seen_end = pd.DataFrame(
            np.where(seen, (starts + step_ns)[:, None], np.nan), index=table.index, columns=boxes
        ).ffill()
        last = at_eval_times(seen_end, eval_times, step_s)
        times = np.asarray(eval_times, dtype="float64")[:, None]
        silence = (times - last.to_numpy()) / 1e9
        silence = np.where(np.isnan(silence) | (silence > window_s), float(window_s), silence)
        silence = np.minimum(silence, _known_for(seen, starts, boxes, times, ctx))
        silence = pd.DataFrame(silence, index=last.index, columns=boxes)
        active = silence >= self.duration
        long = silence.stack().rename("value").to_frame()
        long["active"] = active.stack()
        long = long.reset_index()
        long.columns = ["time", "jbox_id", "value", "active"]
        return long

    def describe(self) -> str:
        return f"no {self.measurement}.{self.field} for {self.duration:g}s (every box of the inventory)"


def _known_for(seen: np.ndarray, starts: np.ndarray, boxes: list[str], times: np.ndarray, ctx: EvalContext):
    """Seconds each box has been known at each evaluation time (inf when there is no baseline).

    A box cannot have been silent for longer than it has been known: since it was registered or
    first seen, whichever is earlier (history may predate the registry), and never before the
    start of the data (``ctx.data_start``: a backtest's history, where T1 would otherwise find
    every box silent). Without any of these the window alone bounds the silence, as before.
    """
    first = np.where(seen.any(axis=0), starts[np.argmax(seen, axis=0)], np.inf)[None, :]  # first bucket with data
    first = np.where(first < times, first, np.inf)  # seen only counts once it happened
    registered = np.array([ctx.registered.get(box, np.inf) for box in boxes], dtype="float64")[None, :]
    known = np.minimum(registered, first)
    if ctx.data_start is not None:
        known = np.where(np.isinf(known), float(ctx.data_start), np.maximum(known, float(ctx.data_start)))
    return np.where(np.isinf(known), np.inf, np.maximum(0.0, (times - known) / 1e9))
