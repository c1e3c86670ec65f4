"""The offending series of an alert, read from InfluxDB for the email chart.

Which fields to draw comes from the alert: the ``chart_fields`` annotation (``"p_setpoint_kw,p_meas_kw"``)
when the rule gives one, else a default per alert name (setpoint against measured power for
SetpointNotFollowed). Fleet alerts (no ``jbox_id``) get no chart.
"""

from __future__ import annotations

import logging
import math

from storage import InfluxClient, InfluxError, quote_ident, quote_literal

log = logging.getLogger(__name__)

DEFAULT_FIELDS = {
    "SetpointNotFollowed": ("p_setpoint_kw", "p_meas_kw"),
    "OverheatWarning": ("temp_max_c",),
    "OverheatCritical": ("temp_max_c",),
    "SoCLow": ("soc_pct",),
    "SoCHigh": ("soc_pct",),
}
POINTS = 120  # one point per 30 s over an hour


def chart_fields(alert: dict) -> tuple[str, ...]:
    given = alert.get("annotations", {}).get("chart_fields", "")
    if given:
        return tuple(f.strip() for f in given.split(",") if f.strip())
    return DEFAULT_FIELDS.get(alert.get("labels", {}).get("alertname", ""), ())


class InfluxSeries:
    """``series(alert, window_s)`` -> ``{field: [(epoch_s, value)]}``; empty when nothing to draw or
    InfluxDB is away (an email without a chart beats no email)."""

    def __init__(self, client: InfluxClient, measurement: str = "telemetry") -> None:
        self.client = client
        self.measurement = measurement

    def __call__(self, alert: dict, window_s: float) -> dict[str, list[tuple[float, float]]]:
        box = alert.get("labels", {}).get("jbox_id")
        fields = chart_fields(alert)
        if not box or not fields:
            return {}
        step = max(1, int(window_s // POINTS))
        select = ", ".join(f"mean({quote_ident(f)}) AS {quote_ident(f)}" for f in fields)
        query = (
            f"SELECT {select} FROM {quote_ident(self.measurement)} WHERE jbox_id = {quote_literal(box)}"
            f" AND time > now() - {int(window_s)}s GROUP BY time({step}s)"
        )
        try:
            frame = self.client.query(query)
        except InfluxError as exc:
            log.warning("no chart for %s: %s", box, exc)
            return {}
        if frame.empty:
            return {}
        times = [t.timestamp() for t in frame["time"]]
        out = {}
        for name in fields:
            if name in frame.columns:
                values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
                          for v in frame[name]]  # fmt: skip
                out[name] = list(zip(times, values, strict=True))
        return out
