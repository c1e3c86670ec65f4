"""``deprecated_payload``: a box still sends a payload version past its deprecation date.

The collector stamps every heartbeat with the payload version it came in (``payload_version``:
1 for ``/v1/telemetry``, 2 for ``/v2/telemetry``; a line-protocol box writes its own). The dates
are the collector's lifecycle, ``collector.payload_versions`` (``deprecated_since``, ``sunset``),
handed to the rules through :class:`EvalContext` from the same config: the rules never import the
collector, and one file says when a version is deprecated for the boxes (Deprecation and Sunset
headers, then 410) and for ops (this condition). Each evaluation takes the last version a box
sent within ``window`` (longer than the heartbeat period) and is active when that version is
deprecated on the evaluation's date. The value is the version number; annotations find its dates
in ``payload_versions[value | int]`` (``name``, ``deprecated_since``, ``sunset``).

::

    deprecated_payload: {measurement: heartbeat, field: payload_version, window: 2h}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from config.collector import PayloadVersionPolicy
from config.fields import Duration
from rules.conditions.base import ConditionBase, EvalContext, to_results
from rules.conditions.reading import Reading, buckets
from rules.conditions.threshold import window_aggregate


class DeprecatedPayloadSpec(ConditionBase):
    kind: Literal["deprecated_payload"] = "deprecated_payload"
    measurement: str = "heartbeat"
    retention_policy: str | None = None
    field: str = "payload_version"
    window: Duration = 7200  # two hourly heartbeats: a box that sends one is always seen

    def reading(self, step_s: int) -> Reading:
        return buckets(self.measurement, self.retention_policy, step_s, ("last", "last", self.field))

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        values = window_aggregate(frame, "last", eval_times, step_s, self.window_s(step_s))
        active = pd.DataFrame(False, index=values.index, columns=values.columns)
        for t in values.index:
            deprecated = deprecated_versions(ctx.payload_versions, t)
            if deprecated:
                active.loc[t] = np.isin(values.loc[t].to_numpy(), deprecated)
        return to_results(values, active & values.notna())

    def describe(self) -> str:
        return f"last({self.measurement}.{self.field}) over {self.window:g}s is a payload version past its deprecation"


def version_number(name: str) -> int:
    """``v2`` -> 2: the number the collector writes in ``payload_version``."""
    return int(name.removeprefix("v"))


def deprecated_versions(policies: Mapping[str, PayloadVersionPolicy], at_ns: int) -> list[int]:
    """The version numbers deprecated on the UTC date of ``at_ns``."""
    day = dt.datetime.fromtimestamp(at_ns / 1e9, dt.UTC).date()
    return [
        version_number(name)
        for name, policy in policies.items()
        if policy.deprecated_since is not None and policy.deprecated_since <= day
    ]


def lifecycle_for_templates(policies: Mapping[str, PayloadVersionPolicy]) -> dict[int, dict[str, str]]:
    """``payload_versions`` in annotation templates: version number -> name and dates ('none' when unset)."""
    return {
        version_number(name): {
            "name": name,
            "deprecated_since": str(policy.deprecated_since or "none"),
            "sunset": str(policy.sunset or "none"),
        }
        for name, policy in policies.items()
    }
