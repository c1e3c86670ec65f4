"""``energy_balance``: the state of charge moved differently from the energy the box exchanged.

Per step (bucket) and box, with ``n`` samples spanning ``(n - 1) / n`` of the step::

    reported  = last SoC - first SoC of the step                            (percentage points)
    expected  = -mean power x span / box energy x 100                      (positive power: delivered)
    rate      = (reported - expected) / span                               (points no energy explains, per s)

and over the window, ``value = |median of the steps' rates| x window``: the unexplained points a
window accumulates. The condition holds when that is above ``value``. A box delivering 500 kW for
6 minutes from a 1,000 kWh battery should lose 5 points; if its SoC estimate says otherwise, the
estimator (or the power meter) is wrong. This catches a drifting estimate minutes after it starts,
at any SoC, long before it leaves the 15-85 % band, and an aFRR box charging or discharging hard
for minutes is no alarm, unlike a plain rate-of-change rule.

Why the median of per-step rates: a SoC that jumps once (a BMS recalibration, a restarted
estimator) moves one step, not the window, and is no drift; a drift moves every step. Only the
change within each step counts, so a jump between two samples in different steps counts nowhere.

The box energy is ``energy_kwh`` when given, else ``fleet.box_energy_kwh`` from the configuration.
Every step of the window needs two samples or more, otherwise no result (the state is kept, as
for any condition without data); so does a step whose power reading is frozen at a non-zero value
(a stuck meter measures no energy: SetpointNotFollowed reports it), and a step whose SoC is at
one of ``limits`` (a box held at its limit cannot follow its energy: ``soc_limit``'s fault).

SoC management that the meter does not see (rebalancing outside the metered power) moves SoC too,
more the further the SoC is from its target: without ``baseline``, keep ``value`` above what it
can do in ``window``. With ``baseline``, each box's own unexplained rate is fitted as
``a + b x SoC`` over the baseline window before the rule's window (least squares per box) and
subtracted before the median; the remainder is compared with ``baseline.value``, which can then be
far lower: a steady drift of a few tenths of a point a minute shows within minutes. A box without
half a baseline window of full steps (a restart, a new box) is held to ``value``.

::

    energy_balance: {measurement: telemetry, soc: soc_pct, power: p_meas_kw, window: 5m, value: 4,
                     baseline: {window: 1h, value: 1.2}}
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from config.fields import Duration, Strict
from rules.conditions.base import (
    ConditionBase,
    EvalContext,
    Pivot,
    at_eval_times,
    to_results,
    with_ns,
)
from rules.conditions.reading import Reading, buckets


class Baseline(Strict):
    """Each box's usual unexplained SoC change, fitted on the ``window`` before the rule's window.

    Unexplained change that depends on the SoC itself (SoC management outside the metered power
    pulls toward 50 %, faster the further away) is fitted per box as ``a + b x SoC`` over the
    baseline window, by least squares, and subtracted; the rule then compares what is left with
    ``value``, far below the plain bound. Until the box has half a baseline window of full steps
    (after a restart, a new box, a recalibration: a jump of ``jump`` points between two steps) the
    plain bound of the condition applies. Steps already beyond the plain bound are not fitted.
    """

    window: Duration = 3600
    value: float = Field(gt=0, description="points per rule window left unexplained by the baseline")
    jump: float = Field(2.0, gt=0, description="points between two steps that mean a recalibrated estimate")


class EnergyBalanceSpec(ConditionBase):
    kind: Literal["energy_balance"] = "energy_balance"
    measurement: str = "telemetry"
    retention_policy: str | None = None
    soc: str = "soc_pct"
    power: str = "p_meas_kw"
    energy_kwh: float | None = Field(None, gt=0)
    window: Duration = 300
    value: float = Field(gt=0, description="percentage points of SoC change that no energy explains")
    baseline: Baseline | None = None
    limits: tuple[float, float] = (1.0, 99.0)  # a step with its SoC at or beyond one has no rate

    def lookback_s(self, step_s: int) -> int:
        """What one evaluation reads: the window, and before it the baseline's fit."""
        return self.window_s(step_s) + (_whole(self.baseline.window, step_s) if self.baseline else 0)

    @property
    def field(self) -> str:
        """The field that says whether a box reported (the SoC)."""
        return self.soc

    def reading(self, step_s: int) -> Reading:
        soc, power = self.soc, self.power
        return buckets(
            self.measurement,
            self.retention_policy,
            step_s,
            *[("soc_first", "first", soc), ("soc_last", "last", soc), ("n", "count", soc)],
            *[("p_mean", "mean", power), ("p_max", "max", power), ("p_min", "min", power)],
        )

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        tables = Pivot(with_ns(frame), eval_times, step_s, self.lookback_s(step_s))
        n = tables["n"]
        first, last = tables["soc_first"], tables["soc_last"]
        span_s = step_s * (n - 1) / n  # uniform samples: first to last covers (n - 1) / n of the step
        expected = -tables["p_mean"] * span_s / 3600.0 / (self.energy_kwh or ctx.box_energy_kwh) * 100.0
        # a power reading frozen at a non-zero value says nothing of the energy (that is a stuck
        # meter, SetpointNotFollowed's fault), and a SoC held at a limit cannot follow the energy
        # (SoCLimitHeld's condition): such a step has no rate, and its window no result
        frozen = (tables["p_max"] == tables["p_min"]) & (tables["p_max"] != 0) & (n >= 2)
        low, high = self.limits
        at_limit = (first.where(first > last, last) >= high) | (first.where(first < last, last) <= low)
        rate = ((last - first) - expected) / span_s.where((n >= 2) & ~frozen & ~at_limit)
        k = window_s // step_s
        plain = at_eval_times(_rolling_median(rate, k), eval_times, step_s).abs() * window_s
        if self.baseline is None:
            return to_results(plain, (plain > self.value) & plain.notna())
        # a jump of the estimate between two steps (a recalibration) starts the box's history afresh
        # (between two steps, or within one: more unexplained points in a step than any drift makes)
        jump = self.baseline.jump
        jumps = ((first - last.shift(1)).abs() > jump) | (((last - first) - expected).abs() > jump)
        fit_rows = _whole(self.baseline.window, step_s) // step_s
        cap = self.value / window_s
        left, fitted = _unexplained(rate, (first + last) / 2, jumps, k, fit_rows, cap)
        values = at_eval_times(left, eval_times, step_s).abs() * window_s
        fitted = at_eval_times(fitted, eval_times, step_s).fillna(False).astype(bool)
        values = values.where(fitted, plain)
        bound = pd.DataFrame(self.value, index=values.index, columns=values.columns).where(~fitted, self.baseline.value)
        return to_results(values, (values > bound) & values.notna())

    def describe(self) -> str:
        energy = f"{self.energy_kwh:g} kWh" if self.energy_kwh else "fleet.box_energy_kwh"
        return (
            f"{self.measurement}.{self.soc} change over {self.window:g}s differs from the energy of "
            f"{self.power} ({energy}) by more than {self.value:g} points"
            + (
                f" ({self.baseline.value:g} beyond the box's usual, fitted over {self.baseline.window:g}s)"
                if self.baseline
                else ""
            )
        )


def _rolling_median(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """Median over ``k`` consecutive rows; NaN unless all ``k`` have a value (a full window)."""
    values = table.to_numpy(dtype="float64", na_value=np.nan)
    if values.size == 0:
        return table
    padded = np.vstack([np.full((k - 1, values.shape[1]), np.nan), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=0)
    full = ~np.isnan(windows).any(axis=-1)
    with np.errstate(all="ignore"):
        median = np.median(np.where(full[..., None], windows, 0.0), axis=-1)
    return pd.DataFrame(np.where(full, median, np.nan), index=table.index, columns=table.columns)


def _unexplained(
    rate: pd.DataFrame, soc: pd.DataFrame, jumps: pd.DataFrame, k: int, fit_rows: int, cap: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per row: the median over its ``k``-row window of ``rate`` less the box's least-squares line
    ``a + b x soc``, the line fitted before that window; and where such a fit exists.

    Row ``i`` is fitted on the ``fit_rows`` rows that end where its ``k``-row window begins, less
    the rows before the box's last jump (a recalibrated estimate: what came before says nothing of
    the estimator now; a jump inside the window leaves no fit) and the rows whose rate is beyond
    ``cap`` (already off by the plain bound: a drift must not become the box's usual). A fit needs
    half ``fit_rows`` rows with a rate.
    """
    y = rate.to_numpy(dtype="float64", na_value=np.nan)
    x = soc.reindex_like(rate).to_numpy(dtype="float64", na_value=np.nan)
    ok = ~np.isnan(y) & ~np.isnan(x) & (np.abs(y) <= cap)
    x0, y0 = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    rows = np.arange(y.shape[0])[:, None]
    jumped = jumps.reindex_like(rate).fillna(False).to_numpy(dtype=bool)
    last_jump = np.maximum.accumulate(np.where(jumped, rows, -1), axis=0)  # latest jump row <= i
    end = np.broadcast_to(rows - k + 1, y.shape)  # rows < end: up to where the window begins
    start = np.maximum(end - fit_rows, last_jump)
    end, start = np.clip(end, 0, None), np.clip(np.minimum(start, end), 0, None)
    columns = np.arange(y.shape[1])[None, :]

    def sums(values: np.ndarray) -> np.ndarray:
        total = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
        return total[end, columns] - total[start, columns]

    n, sx, sy = sums(ok.astype("float64")), sums(x0), sums(y0)
    sxx, sxy = sums(x0 * x0), sums(x0 * y0)
    with np.errstate(all="ignore"):
        var = sxx - sx * sx / n
        b = np.where(var > 1e-6 * np.maximum(n, 1), (sxy - sx * sy / n) / var, 0.0)
        a = (sy - b * sx) / n
    fitted = n >= fit_rows / 2
    # every row of row i's window less row i's line (the fit made before that window), then the median
    pad = np.full((k - 1, y.shape[1]), np.nan)
    y_windows = np.lib.stride_tricks.sliding_window_view(np.vstack([pad, y]), k, axis=0)
    x_windows = np.lib.stride_tricks.sliding_window_view(np.vstack([pad, x]), k, axis=0)
    with np.errstate(all="ignore"):
        left = y_windows - (a[..., None] + b[..., None] * x_windows)
    full = fitted & ~np.isnan(left).any(axis=-1)
    median = np.median(np.where(full[..., None], left, 0.0), axis=-1)
    return (
        pd.DataFrame(np.where(full, median, np.nan), index=rate.index, columns=rate.columns),
        pd.DataFrame(fitted, index=rate.index, columns=rate.columns),
    )


def _whole(seconds: float, step_s: int) -> int:
    return int(max(step_s, -(-seconds // step_s) * step_s))
