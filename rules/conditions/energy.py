"""``energy_balance``: the state of charge moved differently from the energy the box exchanged.

Over the window, per box::

    expected  = -(sum of mean power per step x step) / box energy x 100     (percentage points)
    reported  = SoC at the window's end - SoC at its start
    value     = |reported - expected|                                        (unexplained change)

The condition holds when that is above ``value``. Positive power is delivered (discharge), so a box
delivering 500 kW for 6 minutes from a 1,000 kWh battery should lose 5 points. A drifting SoC
estimator (or a power meter that lies) shows as points no energy explains, at any SoC: it is caught
long before the estimate leaves the 15-85 % band, and an aFRR box that charges or discharges hard for
minutes is no alarm, unlike a plain rate-of-change rule.

The box energy is ``energy_kwh`` when given, else ``fleet.box_energy_kwh`` from the configuration.
A window needs data in every step (power) and a SoC at both ends, otherwise no result (the state is
kept, as for any condition without data). SoC management that the meter does not see (an intraday
rebalancing outside the metered power) moves SoC too: keep ``value`` above what it can do in
``window``.

::

    energy_balance: {measurement: telemetry, soc: soc_pct, power: p_meas_kw, window: 5m, value: 4}
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


class EnergyBalanceSpec(ConditionBase):
    kind: Literal["energy_balance"] = "energy_balance"
    measurement: str = "telemetry"
    retention_policy: str | None = None
    soc: str = "soc_pct"
    power: str = "p_meas_kw"
    energy_kwh: float | None = Field(None, gt=0)
    window: Duration = 300
    value: float = Field(gt=0, description="percentage points of SoC change that no energy explains")

    @property
    def field(self) -> str:
        """The field that says whether a box reported (the SoC)."""
        return self.soc

    def query(self, start_ns: int, end_ns: int, step_s: int) -> str:
        soc, power = quote_ident(self.soc), quote_ident(self.power)
        return (
            f"SELECT first({soc}) AS soc_first, last({soc}) AS soc_last, mean({power}) AS p_mean "
            f"{time_range(self, start_ns, end_ns)} {grouped(step_s)}"
        )

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        window_s = self.window_s(step_s)
        steps = window_s // step_s
        frame = with_ns(frame)

        def table(column: str) -> pd.DataFrame:
            return pivot(frame, column, eval_times, step_s, window_s)

        p_mean = table("p_mean")
        energy_kwh = rolling(p_mean * (step_s / 3600.0), window_s, step_s, "sum")
        full = rolling(p_mean.notna().astype(float).where(p_mean.notna()), window_s, step_s, "sum") >= steps
        soc_first = table("soc_first").reindex(columns=p_mean.columns).shift(steps - 1)  # the window's first step
        soc_last = table("soc_last").reindex(columns=p_mean.columns)
        capacity = self.energy_kwh or ctx.box_energy_kwh
        unexplained = (soc_last - soc_first) + energy_kwh / capacity * 100.0
        unexplained = unexplained.where(full)
        values = at_eval_times(unexplained, eval_times, step_s).abs()
        return to_results(values, (values > self.value) & values.notna())

    def describe(self) -> str:
        energy = f"{self.energy_kwh:g} kWh" if self.energy_kwh else "fleet.box_energy_kwh"
        return (
            f"{self.measurement}.{self.soc} change over {self.window:g}s differs from the energy of "
            f"{self.power} ({energy}) by more than {self.value:g} points"
        )
