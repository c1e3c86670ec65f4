"""Rule files: YAML shaped like Prometheus rule files, validated strictly with pointed errors.

::

    groups:
      - name: power
        interval: 10s
        rules:
          - alert: SetpointNotFollowed
            condition:
              deviation: {measurement: telemetry, field: p_meas_kw, reference: p_setpoint_kw,
                          absolute: 50, relative: 0.05, window: 20s}
            for: 3m
            keep_firing_for: 0s
            labels: {severity: critical}
            annotations:
              summary: "{{ labels.jbox_id }} is {{ value | round | int }} kW off its setpoint"
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from config.fields import Duration, Strict
from rules.conditions import CONDITIONS, ConditionSpec

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _one_condition(value: Any) -> Any:
    """``{deviation: {...}}`` -> the typed spec of that kind, with the kind's name kept."""
    if isinstance(value, dict) and len(value) == 1:
        kind, body = next(iter(value.items()))
        if kind in CONDITIONS and isinstance(body, dict):
            return {"kind": kind, **body}
        if kind not in CONDITIONS:
            close = difflib.get_close_matches(str(kind), CONDITIONS, n=1)
            hint = f", did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown condition kind {kind!r}{hint} (known: {', '.join(sorted(CONDITIONS))})")
    if isinstance(value, dict) and "kind" in value:
        return value
    if isinstance(value, dict) and len(value) > 1:
        raise ValueError(f"expected exactly one condition kind, got {len(value)}: {', '.join(map(str, value))}")
    raise ValueError(f"expected one condition such as {{threshold: {{...}}}}, got {value!r}")


Condition = Annotated[ConditionSpec, Field(discriminator="kind")]


class Rule(Strict):
    alert: str
    condition: Condition
    clear: Condition | None = None
    for_: Duration = Field(0, alias="for")
    keep_firing_for: Duration = 0
    enabled: bool = True
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    model_config = Strict.model_config | {"populate_by_name": True}

    @field_validator("condition", "clear", mode="before")
    @classmethod
    def _unwrap(cls, value: Any) -> Any:
        return value if value is None else _one_condition(value)

    @field_validator("alert")
    @classmethod
    def _alert_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"expected a name of letters, digits and '_' (like SetpointNotFollowed), got {value!r}")
        return value

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _LABEL.match(name) or name in ("alertname", "jbox_id"):
                raise ValueError(f"label name {name!r} is reserved or invalid (letters, digits, '_')")
        return value

    @model_validator(mode="after")
    def _clear_matches(self) -> Rule:
        if self.clear is not None and self.clear.kind != self.condition.kind:
            # hysteresis compares the same signal against another bound
            raise ValueError(f"clear must be a {self.condition.kind} condition like 'condition', got {self.clear.kind}")
        return self


class Group(Strict):
    name: str
    interval: Duration = 30
    query_offset: Duration = 0
    rules: list[Rule]

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value < 1 or value != int(value):
            raise ValueError(f"expected a whole number of seconds of at least 1s, got {value:g}s")
        return value

    @model_validator(mode="after")
    def _unique_alerts(self) -> Group:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.alert in seen:
                raise ValueError(f"alert {rule.alert!r} is defined twice in group {self.name!r}")
            seen.add(rule.alert)
        return self


class RuleFile(Strict):
    groups: list[Group]
