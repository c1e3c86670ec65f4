"""``rate``: how fast a field changes, per ``per`` (default one hour), compared with a bound.

The change is the difference between the mean of the window's last and first steps, divided by
the time between them: robust to noise, unlike the difference of two raw samples.

::

    rate: {measurement: telemetry, field: soc_pct, window: 15m, per: 1h, op: ">", value: 20, absolute: true}
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from config.fields import Duration
from rules.conditions.base import (
    OPS,
    ConditionBase,
    EvalContext,
    Op,
    at_eval_times,
    pivot,
    to_results,
    with_ns,
)
from rules.conditions.reading import Reading, buckets


class RateSpec(ConditionBase):
    kind: Literal["rate"] = "rate"
    measurement: str = "telemetry"
    retention_policy: str | None = None
    field: str
    window: Duration = 900
    per: Duration = 3600
    op: Op
    value: float
    absolute: bool = False

    def reading(self, step_s: int) -> Reading:
        return buckets(self.measurement, self.retention_policy, step_s, ("v", "mean", self.field))

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        k = max(2, window_s // step_s)
        table = pivot(with_ns(frame), "v", eval_times, step_s, window_s)
        newest = table.ffill(limit=1)
        oldest = table.shift(k - 1)
        rate = (newest - oldest) / ((k - 1) * step_s) * self.per
        if self.absolute:
            rate = rate.abs()
        rate = at_eval_times(rate, eval_times, step_s)
        return to_results(rate, OPS[self.op](rate, self.value) & rate.notna())

    def describe(self) -> str:
        sign = "|change|" if self.absolute else "change"
        what = f"{sign} of {self.measurement}.{self.field} per {self.per:g}s"
        return f"{what} over {self.window:g}s {self.op} {self.value:g}"
