"""Condition kinds: one module each, found by the name used in rule files.

A condition turns into ONE InfluxQL query covering every box for a time range, aggregated per
evaluation step (``GROUP BY time(step), "jbox_id"``); pandas then computes, for each evaluation
time, each box's value and whether it is beyond the bound. Live evaluation asks for the last
step only; a backtest asks for hours at once. Both run this same code.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rules.conditions.absence import AbsenceSpec
from rules.conditions.deviation import DeviationSpec
from rules.conditions.energy import EnergyBalanceSpec
from rules.conditions.fleet import FleetRatioSpec
from rules.conditions.payload import DeprecatedPayloadSpec
from rules.conditions.rate import RateSpec
from rules.conditions.soc_limit import SoCLimitSpec
from rules.conditions.threshold import ThresholdSpec

ConditionSpec = Annotated[
    ThresholdSpec
    | DeviationSpec
    | AbsenceSpec
    | FleetRatioSpec
    | RateSpec
    | EnergyBalanceSpec
    | SoCLimitSpec
    | DeprecatedPayloadSpec,
    Field(discriminator="kind"),
]

CONDITIONS = {
    "threshold": ThresholdSpec,
    "deviation": DeviationSpec,
    "absence": AbsenceSpec,
    "fleet_ratio": FleetRatioSpec,
    "rate": RateSpec,
    "energy_balance": EnergyBalanceSpec,
    "deprecated_payload": DeprecatedPayloadSpec,
    "soc_limit": SoCLimitSpec,
}
