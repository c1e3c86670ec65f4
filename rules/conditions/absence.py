"""``absence``: a box of the inventory sent no point of a measurement for a duration.

Unlike Prometheus' ``absent()``, this is per box and knows the boxes that never reported at all
(they come from the fleet inventory). The value is the seconds since the box was last seen within
the look-back (the whole duration when it was not seen at all).

::

    absence: {measurement: heartbeat, field: uptime_s, duration: 65m}
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from config.fields import Duration
from rules.conditions.base import ConditionBase, EvalContext, at_eval_times, grouped, pivot, time_range, with_ns
from storage.influxql import quote_ident


class AbsenceSpec(ConditionBase):
    kind: Literal["absence"] = "absence"
    measurement: str
    retention_policy: str | None = None
    field: str
    duration: Duration

    def window_s(self, step_s: int) -> int:
        return int(max(step_s, -(-self.duration // step_s) * step_s))

    def query(self, start_ns: int, end_ns: int, step_s: int) -> str:
        return f"SELECT count({quote_ident(self.field)}) AS n {time_range(self, start_ns, end_ns)} " + grouped(step_s)

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        table = pivot(with_ns(frame), "n", eval_times, step_s, window_s)
        boxes = sorted(set(ctx.inventory) | set(table.columns))
        table = table.reindex(columns=boxes)
        step_ns = step_s * 1_000_000_000
        # bucket end time of the most recent bucket with data, carried forward
        seen_end = pd.DataFrame(
            np.where(table.notna().to_numpy(), (table.index.to_numpy() + step_ns)[:, None], np.nan),
            index=table.index,
            columns=boxes,
        ).ffill()
        last = at_eval_times(seen_end, eval_times, step_s)
        times = np.asarray(eval_times, dtype="float64")[:, None]
        silence = pd.DataFrame((times - last.to_numpy()) / 1e9, index=last.index, columns=boxes)
        silence = silence.where(silence <= window_s, float(window_s)).fillna(float(window_s))
        active = silence >= self.duration
        long = silence.stack().rename("value").to_frame()
        long["active"] = active.stack()
        long = long.reset_index()
        long.columns = ["time", "jbox_id", "value", "active"]
        return long

    def describe(self) -> str:
        return f"no {self.measurement}.{self.field} for {self.duration:g}s (every box of the inventory)"
