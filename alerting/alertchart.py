"""Charts of alerts and boxes, as the email receiver and ``GET /api/v1/chart`` (the status page's box
view) ask for them: the series read (:class:`alerting.series.InfluxSeries`), the window chosen, the
PNG drawn (:mod:`alerting.chart`). One place, so an email and the box view show the same picture.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alerting.chart import ChartSpec, render
from alerting.series import BOX_FIELDS, chart_fields, chart_spec, window

log = logging.getLogger(__name__)

SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}


def local_zone() -> str:
    """The host's IANA time zone (``TZ``, else where ``/etc/localtime`` points), ``UTC`` when unknown."""
    given = os.environ.get("TZ", "").lstrip(":")
    if given and "/" in given or given == "UTC":
        return given
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return "UTC"
    marker = "/zoneinfo/"
    zone = target.split(marker, 1)[1] if marker in target else "UTC"
    return "UTC" if zone in ("Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "Universal") else zone


@dataclass(frozen=True)
class Chart:
    png: bytes
    caption: str  # "jbox-0042 · SetpointNotFollowed · 14:05–15:05 CET (60 min)"
    alert: dict | None  # the alert drawn, None for a box without an alert to chart


class AlertCharts:
    """``reader(box, fields, start, end)`` gives the series; ``window_s`` and ``timezone`` (IANA; None =
    the host's) shape every chart."""

    def __init__(self, reader: Callable[[str, tuple[str, ...], float, float], dict], window_s: float = 3600,
                 timezone: str | None = None, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.reader = reader
        self.window_s = window_s
        self.timezone = timezone or local_zone()
        self.clock = clock

    def spec(self, alert: dict, now: float | None = None) -> ChartSpec | None:
        box = alert.get("labels", {}).get("jbox_id", "")
        fields = chart_fields(alert)
        if not box or not fields:
            return None
        end = self.clock() if now is None else now
        start, end = window(alert, end, self.window_s)
        series = self.reader(box, fields, start, end)
        if not series:
            return None
        return chart_spec(alert, series, start, end, self.timezone)

    def for_alert(self, alert: dict, now: float | None = None) -> Chart | None:
        """The chart of one alert (firing or resolved); None when it has no box, fields or data."""
        spec = self.spec(alert, now)
        if spec is None:
            return None
        return Chart(render(spec), f"{spec.title} · {spec.caption()}", alert)

    def for_box(self, box: str, alerts: Sequence[dict], now: float | None = None) -> Chart | None:
        """The box view's chart: its worst firing alert that has a chart, else its main fields."""
        ranked = sorted(alerts, key=lambda a: SEVERITY_ORDER.get(a.get("labels", {}).get("severity", ""), 9))
        for alert in ranked:
            chart = self.for_alert(alert, now)
            if chart is not None:
                return chart
        end = self.clock() if now is None else now
        start = end - self.window_s
        series = self.reader(box, BOX_FIELDS, start, end)
        if not series:
            return None
        spec = ChartSpec(title=box, start=start, end=end, series=series, timezone=self.timezone)
        return Chart(render(spec), f"{box} · {spec.caption()}", None)
