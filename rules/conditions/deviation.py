"""``deviation``: one field strays from another beyond a tolerance, the setpoint-following fault.

Per sample: ``excess = |field - reference| - (absolute + relative * |reference|)``; the condition
holds when the mean excess over the window is positive, i.e. the box is, on average, further from
its setpoint than the tolerance allows. The value reported is the mean absolute deviation.

::

    deviation: {measurement: telemetry, field: p_meas_kw, reference: p_setpoint_kw,
                absolute: 50, relative: 0.05, window: 20s}
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import Field

from config.fields import Duration
from rules.conditions.base import (
    ConditionBase,
    EvalContext,
    at_eval_times,
    grouped,
    pivot,
    rolling,
    time_range,
    to_results,
    with_ns,
)
from storage.influxql import quote_ident


class DeviationSpec(ConditionBase):
    kind: Literal["deviation"] = "deviation"
    measurement: str = "telemetry"
    retention_policy: str | None = None
    field: str
    reference: str
    absolute: float = Field(0.0, ge=0)
    relative: float = Field(0.0, ge=0)
    window: Duration = 20

    def query(self, start_ns: int, end_ns: int, step_s: int) -> str:
        field, reference = quote_ident(self.field), quote_ident(self.reference)
        gap = f"abs({field} - {reference})"
        inner = (
            f"SELECT {gap} AS dev, {gap} - ({self.absolute!r} + {self.relative!r} * abs({reference})) AS excess "
            f'{time_range(self, start_ns, end_ns)} GROUP BY "jbox_id"'
        )
        return (
            f"SELECT sum(excess) AS excess, sum(dev) AS dev, count(dev) AS n FROM ({inner}) "
            f"WHERE time >= {start_ns} AND time < {end_ns} {grouped(step_s)}"
        )

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        frame = with_ns(frame)

        def windowed(column: str) -> pd.DataFrame:
            rolled = rolling(pivot(frame, column, eval_times, step_s, window_s), window_s, step_s, "sum")
            return at_eval_times(rolled, eval_times, step_s)

        count = windowed("n")
        count = count.where(count > 0)
        excess = windowed("excess") / count
        deviation = windowed("dev") / count
        return to_results(deviation, (excess > 0) & deviation.notna())

    def describe(self) -> str:
        return (
            f"|{self.field} - {self.reference}| beyond {self.absolute:g} + {self.relative:g}x|{self.reference}| "
            f"on average over {self.window:g}s"
        )
