"""``deviation``: one field strays from another beyond a tolerance, the setpoint-following fault.

Per sample: ``excess = |field - reference| - (absolute + relative * |reference|)``; the condition
holds when the mean excess over the window is positive, i.e. the box is, on average, further from
its setpoint than the tolerance allows. The value reported is the mean absolute deviation.

``frozen`` (a duration, off by default) also makes the condition hold while the field repeats one
exact value for that long, and over at least its last two samples: a stuck reading. A real
measurement always carries some noise, so an exact repeat is a frozen sensor or inverter, not a box
that follows; only exactly 0 under a setpoint that does not move is let be (an inverter that is
off). Without it, a moving setpoint that crosses the frozen value brings the window mean inside
the tolerance for an evaluation or two, and ``for`` starts again each time: a stuck box fired
minutes late. With it, the condition stays true through the crossings. A frozen reading is dated
from the first sample of its run of equal values (to the step: the bucket where the run began,
told by its last sample), and the ``for`` timer starts there, not at the evaluation that first
saw two equal samples: a stuck box fires within ``for`` + one interval of the freeze, wherever
the freeze falls on the evaluation grid.

::

    deviation: {measurement: telemetry, field: p_meas_kw, reference: p_setpoint_kw,
                absolute: 50, relative: 0.05, window: 20s, frozen: 10s}
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from config.fields import Duration
from rules.conditions.base import (
    ConditionBase,
    EvalContext,
    Pivot,
    at_eval_times,
    grouped,
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
    frozen: Duration | None = None

    def window_s(self, step_s: int) -> int:
        frozen = _steps(self.frozen, step_s) + step_s if self.frozen else 0  # see _repeated
        return max(_steps(self.window, step_s), frozen)

    def query(self, start_ns: int, end_ns: int, step_s: int) -> str:
        field, reference = quote_ident(self.field), quote_ident(self.reference)
        gap = f"abs({field} - {reference})"
        raw = f", {field} AS f, {reference} AS r" if self.frozen else ""
        inner = (
            f"SELECT {gap} AS dev, {gap} - ({self.absolute!r} + {self.relative!r} * abs({reference})) AS excess"
            f'{raw} {time_range(self, start_ns, end_ns)} GROUP BY "jbox_id"'
        )
        spreads = ", max(f) AS fmax, min(f) AS fmin, last(f) AS flast, max(r) AS rmax, min(r) AS rmin" if self.frozen else ""
        return (
            f"SELECT sum(excess) AS excess, sum(dev) AS dev, count(dev) AS n{spreads} FROM ({inner}) "
            f"WHERE time >= {start_ns} AND time < {end_ns} {grouped(step_s)}"
        )

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        frame = with_ns(frame)

        tables = Pivot(frame, eval_times, step_s, window_s)

        def windowed(column: str, how: str = "sum", over: float = self.window) -> pd.DataFrame:
            return at_eval_times(rolling(tables[column], _steps(over, step_s), step_s, how), eval_times, step_s)

        count = windowed("n")
        count = count.where(count > 0)
        excess = windowed("excess") / count
        deviation = windowed("dev") / count
        active = (excess > 0) & deviation.notna()
        if not self.frozen:
            return to_results(deviation, active)
        repeated = self._repeated(windowed, step_s)
        # at exactly 0 under a setpoint that does not move, the inverter may simply be off
        suspect = (windowed("rmax", "max") > windowed("rmin", "min")) | (windowed("fmax", "max") != 0)
        frozen = (repeated & suspect & deviation.notna()).reindex_like(active).fillna(False).astype(bool)
        since = _frozen_since(tables, eval_times, step_s, window_s).reindex_like(active)
        return to_results(deviation, active | frozen, since.where(frozen))

    def _repeated(self, windowed, step_s: int) -> pd.DataFrame:
        """The field held one exact value over ``frozen``, and over at least its last two samples.

        With sparse data (10-s samples and ``frozen: 10s``) the window is widened by one step so
        that two samples are compared; one sample alone proves nothing.
        """
        over = _steps(self.frozen, step_s)
        short = windowed("n", over=over)
        wide = windowed("n", over=over + step_s)
        same = windowed("fmax", "max", over) == windowed("fmin", "min", over)
        same_wide = windowed("fmax", "max", over + step_s) == windowed("fmin", "min", over + step_s)
        return (same & (short >= 2)) | (same_wide & ~(short >= 2) & (wide >= 2))

    def describe(self) -> str:
        text = (
            f"|{self.field} - {self.reference}| beyond {self.absolute:g} + {self.relative:g}x|{self.reference}| "
            f"on average over {self.window:g}s"
        )
        if self.frozen:
            text += f", or {self.field} frozen for {self.frozen:g}s (unless at 0 under a still {self.reference})"
        return text


def _steps(seconds: float, step_s: int) -> int:
    """A duration rounded up to whole steps, at least one (buckets are aligned on steps)."""
    return int(max(step_s, -(-seconds // step_s) * step_s))


def _frozen_since(tables: Pivot, eval_times: list[int], step_s: int, window_s: int) -> pd.DataFrame:
    """Per evaluation time and box: the start (ns) of the bucket where the current run of one
    repeated value began, looking back at most ``window_s``; NaN when the last bucket is not one
    value throughout.

    Walking back from the evaluation's last bucket: buckets holding only that value continue the
    run; the first bucket that does not, but whose last sample is that value, is where the run
    began (its first samples still moved).
    """
    step_ns = step_s * 1_000_000_000
    fmax, fmin, flast = (tables[c].to_numpy(dtype="float64", na_value=np.nan) for c in ("fmax", "fmin", "flast"))
    starts = tables.index.to_numpy()
    rows = tables.index.get_indexer([t - step_ns for t in eval_times])
    full = fmax == fmin  # NaN compares False: an empty bucket ends a run
    value = fmax[rows]
    since = np.broadcast_to(starts[rows][:, None], value.shape).astype("float64")
    running = full[rows]
    for back in range(1, max(1, window_s // step_s)):
        previous = np.clip(rows - back, 0, None)
        inside = (rows - back >= 0)[:, None]
        more = running & inside & full[previous] & (fmax[previous] == value)
        began = running & inside & ~more & (flast[previous] == value)
        since = np.where(more | began, starts[previous][:, None], since)
        running = more
    since = np.where(full[rows], since, np.nan)
    return pd.DataFrame(since, index=pd.Index(eval_times, name="time"), columns=tables.columns)
