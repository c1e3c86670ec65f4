"""``threshold``: an aggregate of one field over a window compared with a bound.

::

    threshold: {measurement: telemetry, field: temp_max_c, aggregate: max, window: 1m, op: ">", value: 55}
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
    rolling,
    to_results,
    with_ns,
)
from rules.conditions.reading import Reading, buckets

Aggregate = Literal["mean", "max", "min", "last", "count", "sum"]
# how each aggregate is computed per bucket in InfluxDB and then combined across the window
_BUCKET = {
    "mean": ("sum", "count"),
    "sum": ("sum",),
    "count": ("count",),
    "max": ("max",),
    "min": ("min",),
    "last": ("last",),
}


class ThresholdSpec(ConditionBase):
    kind: Literal["threshold"] = "threshold"
    measurement: str = "telemetry"
    retention_policy: str | None = None
    field: str
    aggregate: Aggregate = "mean"
    window: Duration = 60
    op: Op
    value: float

    def reading(self, step_s: int) -> Reading:
        columns = [(fn, fn, self.field) for fn in _BUCKET[self.aggregate]]
        return buckets(self.measurement, self.retention_policy, step_s, *columns)

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        values = window_aggregate(frame, self.aggregate, eval_times, step_s, self.window_s(step_s))
        return to_results(values, OPS[self.op](values, self.value) & values.notna())

    def describe(self) -> str:
        return f"{self.aggregate}({self.measurement}.{self.field}) over {self.window:g}s {self.op} {self.value:g}"


def window_aggregate(frame: pd.DataFrame, aggregate: str, eval_times: list[int], step_s: int, window_s: int):
    """The aggregate over the window ending at each evaluation time, per box."""
    frame = with_ns(frame)
    if aggregate == "mean":
        total = rolling(pivot(frame, "sum", eval_times, step_s, window_s), window_s, step_s, "sum")
        count = rolling(pivot(frame, "count", eval_times, step_s, window_s), window_s, step_s, "sum")
        rolled = total / count.where(count > 0)
    elif aggregate == "last":
        table = pivot(frame, "last", eval_times, step_s, window_s)
        rolled = table.ffill(limit=max(0, window_s // step_s - 1))
    else:
        how = {"sum": "sum", "count": "sum", "max": "max", "min": "min"}[aggregate]
        rolled = rolling(pivot(frame, aggregate, eval_times, step_s, window_s), window_s, step_s, how)
    if aggregate in ("sum", "count"):
        # a window with no bucket at all has no data, not a zero
        present = rolling(
            pivot(frame, aggregate, eval_times, step_s, window_s).notna().astype(float), window_s, step_s, "sum"
        )
        rolled = rolled.where(present > 0)
    return at_eval_times(rolled, eval_times, step_s)
