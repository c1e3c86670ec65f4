"""``soc_limit``: a box held at a SoC limit while its meter says energy still flows into the limit.

A box at its upper limit that keeps absorbing (or at its lower limit that keeps delivering) reports
a SoC that no longer follows its metered energy: that is not an estimator drift (``energy_balance``
leaves such steps out) but a reserve that is not there, or a BMS that clamps its estimate. Per step
and box the SoC is at the limit when its first or last sample is at or beyond it; the condition
holds when every step of the window is at the same limit with a mean power of at least ``min_kw``
into it. The value is the mean power into the limit (kW).

It reads the same statement as ``energy_balance`` on the same fields, so a group holding both
queries InfluxDB once.

::

    soc_limit: {measurement: telemetry, soc: soc_pct, power: p_meas_kw, limits: [1, 99], min_kw: 50, window: 5m}
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import Field

from config.fields import Duration
from rules.conditions.base import ConditionBase, EvalContext, Pivot, at_eval_times, rolling, to_results, with_ns
from rules.conditions.energy import EnergyBalanceSpec
from rules.conditions.reading import Reading


class SoCLimitSpec(ConditionBase):
    kind: Literal["soc_limit"] = "soc_limit"
    measurement: str = "telemetry"
    retention_policy: str | None = None
    soc: str = "soc_pct"
    power: str = "p_meas_kw"
    limits: tuple[float, float] = (1.0, 99.0)
    min_kw: float = Field(50.0, ge=0, description="mean power into the limit, kW")
    window: Duration = 300

    @property
    def field(self) -> str:
        return self.soc

    def reading(self, step_s: int) -> Reading:
        # energy_balance's reading, so that both kinds share one read
        fields = {"measurement": self.measurement, "retention_policy": self.retention_policy}
        return EnergyBalanceSpec(**fields, soc=self.soc, power=self.power, value=1).reading(step_s)

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        tables = Pivot(with_ns(frame), eval_times, step_s, window_s)
        first, last, power = tables["soc_first"], tables["soc_last"], tables["p_mean"]
        low, high = self.limits
        # positive power is delivered: absorbing (< 0) at the top, delivering (> 0) at the bottom
        top = ((first >= high) | (last >= high)) & (power <= -self.min_kw)
        bottom = ((first <= low) | (last <= low)) & (power >= self.min_kw)
        k = window_s // step_s

        def every_step(held: pd.DataFrame) -> pd.DataFrame:
            return at_eval_times(rolling(held.astype(float), window_s, step_s, "sum"), eval_times, step_s) >= k

        into = at_eval_times(rolling(power.abs(), window_s, step_s, "sum"), eval_times, step_s) / k
        active = every_step(top) | every_step(bottom)
        return to_results(into, active & into.notna())

    def describe(self) -> str:
        low, high = self.limits
        return (
            f"{self.measurement}.{self.soc} at {low:g} % or {high:g} % for {self.window:g}s while {self.power} "
            f"moves at least {self.min_kw:g} kW into the limit"
        )
