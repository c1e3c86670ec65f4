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

from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from config.fields import Duration
from rules.conditions.base import (
    ConditionBase,
    EvalContext,
    Pivot,
    at_eval_times,
    rolling,
    to_results,
    with_ns,
)
from rules.conditions.reading import Column, Reading


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

    reads_samples: ClassVar[bool] = True

    def window_s(self, step_s: int) -> int:
        frozen = _steps(self.frozen, step_s) + step_s if self.frozen else 0  # see _repeated
        return max(_steps(self.window, step_s), frozen)

    def reading(self, step_s: int) -> Reading:
        # The raw samples of the two fields with the box as a column; the buckets are made in pandas
        # (raw_buckets). The per-sample arithmetic in an InfluxQL subquery cost 3-4x the raw read
        # (1.6.7, 2,000 boxes of 1-s data), and the raw rows of a short window are few.
        columns = (Column("f", self.field), Column("r", self.reference))
        return Reading(self.measurement, self.retention_policy, columns, None)

    def raw_buckets(self, frame: pd.DataFrame, step_s: int) -> pd.DataFrame:
        """Raw rows (time, jbox_id, f, r) -> one row per step and box: the sums and spreads evaluate reads.

        Per sample ``dev = |f - r|`` and ``excess = dev - (absolute + relative * |r|)``, counted
        where both fields are present; the spreads and the last value of ``f`` over its own samples.
        """
        frame = with_ns(frame)
        if frame.empty:
            return frame
        f = pd.to_numeric(frame.get("f"), errors="coerce") if "f" in frame else pd.Series(np.nan, index=frame.index)
        r = pd.to_numeric(frame.get("r"), errors="coerce") if "r" in frame else pd.Series(np.nan, index=frame.index)
        dev = (f - r).abs()
        step_ns = step_s * 1_000_000_000
        samples = pd.DataFrame(
            {
                "t_ns": frame["t_ns"].to_numpy() // step_ns * step_ns,
                "jbox_id": frame["jbox_id"].to_numpy(),
                "dev": dev.to_numpy(),
                "excess": (dev - (self.absolute + self.relative * r.abs())).to_numpy(),
                "f": f.to_numpy(),
                "r": r.to_numpy(),
                "order": frame["t_ns"].to_numpy(),
            }
        ).sort_values("order", kind="stable")  # "last" is the latest sample
        grouped_ = samples.groupby(["t_ns", "jbox_id"], sort=False)
        buckets = grouped_.agg(
            excess=("excess", "sum"),
            dev=("dev", "sum"),
            n=("dev", "count"),
            fmax=("f", "max"),
            fmin=("f", "min"),
            flast=("f", "last"),
            rmax=("r", "max"),
            rmin=("r", "min"),
        ).reset_index()
        buckets["time"] = pd.to_datetime(buckets["t_ns"], unit="ns", utc=True)
        return buckets

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        frame = self.raw_buckets(frame, step_s) if "f" in frame or "r" in frame else with_ns(frame)

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
