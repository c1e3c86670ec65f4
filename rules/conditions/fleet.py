"""``fleet_ratio``: the share of the inventory's boxes with a firing alert, compared with a bound.

It needs no query: it reads the alert states at its evaluation time (``reads_alert_states``: the
engine evaluates it after every data rule). The alert's only series is the fleet itself (``jbox_id``
empty).

::

    fleet_ratio: {alerts: [SetpointNotFollowed, JBoxSilent], op: ">", value: 0.2, min_boxes: 20}
"""

from __future__ import annotations

from typing import ClassVar, Literal

import pandas as pd
from pydantic import Field

from rules.conditions.base import OPS, RESULT_COLUMNS, ConditionBase, EvalContext, Op


class FleetRatioSpec(ConditionBase):
    reads_alert_states: ClassVar[bool] = True

    kind: Literal["fleet_ratio"] = "fleet_ratio"
    alerts: list[str] = Field(default_factory=list, description="alert names; empty = any alert")
    severity: str | None = None
    op: Op = ">"
    value: float = Field(ge=0, le=1)
    min_boxes: int = Field(1, ge=1)

    def reads_alert(self, alert: str, labels: dict[str, str]) -> bool:
        # an empty list means any alert; a severity filter narrows it by the rule's label
        if self.alerts and alert not in self.alerts:
            return False
        return not self.severity or labels.get("severity") == self.severity

    def reading(self, step_s: int) -> None:
        return None

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        boxes: set[str] = set()
        for name, firing in ctx.firing.items():
            if self.reads_alert(name, ctx.alert_labels.get(name, {})):
                boxes |= firing - {""}
        fleet = max(len(ctx.inventory), len(boxes))
        share = len(boxes) / fleet if fleet else 0.0
        active = fleet >= self.min_boxes and OPS[self.op](share, self.value)
        return pd.DataFrame([[t, "", share, active] for t in eval_times], columns=RESULT_COLUMNS)

    def describe(self) -> str:
        which = ", ".join(self.alerts) or "any alert"
        return f"share of boxes firing {which} {self.op} {self.value:g}"
