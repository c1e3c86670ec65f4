"""The offending series of an alert, read from InfluxDB, and the chart of it (:func:`chart_spec`).

Which fields to draw comes from the alert: the ``chart_fields`` annotation (``"p_setpoint_kw,p_meas_kw"``)
when the rule gives one, else a default per alert name (setpoint against measured power for
SetpointNotFollowed). What to draw over them comes from annotations too, since the alert is all the
alerting service knows of its rule: ``chart_threshold: "45"`` (a line on the first field's axis;
several values comma-separated) and ``chart_tolerance: "50,0.1"`` (± max(50, 10 % of |first field|)
around the first field, as the ``deviation`` condition measures). Fleet alerts (no ``jbox_id``) get
no chart.

The window drawn ends at the notification and spans ``chart_window``; when the alert started
earlier than a twelfth of a window after its start, it is stretched so the onset shows (at most four
windows). The query asks for exactly that window, so the axis, the data and the caption agree.
"""

from __future__ import annotations

import logging
import math

from alerting.alerts import AlertFormatError, parse_time
from alerting.chart import ChartSpec, Tolerance
from storage import InfluxClient, InfluxError, quote_ident, quote_literal

log = logging.getLogger(__name__)

DEFAULT_FIELDS = {
    "SetpointNotFollowed": ("p_setpoint_kw", "p_meas_kw"),
    "OverheatWarning": ("temp_max_c",),
    "OverheatCritical": ("temp_max_c",),
    "SoCLow": ("soc_pct",),
    "SoCHigh": ("soc_pct",),
    "SoCEstimateDrift": ("soc_pct", "p_meas_kw"),
    "TelemetryStale": ("p_meas_kw",),
}
BOX_FIELDS = ("p_setpoint_kw", "p_meas_kw", "soc_pct", "temp_max_c")  # a box view without an alert to chart
POINTS = 240  # points per series: one per 15 s over an hour
MAX_WINDOWS = 4  # how far a long-firing alert may stretch the window


def chart_fields(alert: dict) -> tuple[str, ...]:
    given = alert.get("annotations", {}).get("chart_fields", "")
    if given:
        return tuple(f.strip() for f in given.split(",") if f.strip())
    return DEFAULT_FIELDS.get(alert.get("labels", {}).get("alertname", ""), ())


def window(alert: dict, now: float, window_s: float) -> tuple[float, float]:
    """``(start, end)`` of the chart: ``window_s`` up to ``now``, stretched back to show the onset."""
    start = now - window_s
    began = _time(alert.get("startsAt"))
    if began and began < start + window_s / 12:
        start = max(now - MAX_WINDOWS * window_s, began - window_s / 12)
    return start, now


def firing_span(alert: dict, end: float) -> tuple[tuple[float, float], ...]:
    began = _time(alert.get("startsAt"))
    if not began:
        return ()
    ended = _time(alert.get("endsAt")) if alert.get("status") == "resolved" else 0.0
    return ((began, min(ended, end) if ended else end),)


def chart_spec(alert: dict, series: dict, start: float, end: float, timezone: str) -> ChartSpec:
    """The chart of one alert over ``start``..``end``, with what its annotations say about the rule."""
    labels = alert.get("labels", {})
    annotations = alert.get("annotations", {})
    wanted = chart_fields(alert)
    first = wanted[0] if wanted and wanted[0] in series else None  # what the rule's numbers are about
    thresholds = tuple((first, value) for value in _numbers(annotations.get("chart_threshold"))) if first else ()
    tolerance = None
    given = _numbers(annotations.get("chart_tolerance"))
    if given and first:
        tolerance = Tolerance(first, given[0], given[1] if len(given) > 1 else 0.0)
    title = " · ".join(x for x in (labels.get("jbox_id", ""), labels.get("alertname", "")) if x)
    return ChartSpec(title=title, start=start, end=end, series=series, timezone=timezone, thresholds=thresholds,
                     tolerance=tolerance, firing=firing_span(alert, end))  # fmt: skip


def _numbers(text: object) -> list[float]:
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        log.warning("chart annotation %r is not a comma-separated list of numbers: ignored", text)
        return []
    return [v for v in values if math.isfinite(v)]


def _time(value: object) -> float:
    try:
        return parse_time(value, "time")
    except AlertFormatError:
        return 0.0


class InfluxSeries:
    """``series(box, fields, start, end)`` -> ``{field: [(epoch_s, value)]}``; empty when nothing to draw
    or InfluxDB is away (an email without a chart beats no email)."""

    def __init__(self, client: InfluxClient, measurement: str = "telemetry") -> None:
        self.client = client
        self.measurement = measurement

    def __call__(self, box: str, fields: tuple[str, ...], start: float, end: float) -> dict[str, list]:
        if not box or not fields:
            return {}
        step = max(1, int((end - start) // POINTS))
        select = ", ".join(f"mean({quote_ident(f)}) AS {quote_ident(f)}" for f in fields)
        query = (
            f"SELECT {select} FROM {quote_ident(self.measurement)} WHERE jbox_id = {quote_literal(box)}"
            f" AND time >= {int(start)}s AND time <= {int(math.ceil(end))}s GROUP BY time({step}s)"
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
                if any(v is not None for v in values):
                    out[name] = list(zip(times, values, strict=True))
        return out
