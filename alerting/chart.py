"""The chart of an alert, drawn with matplotlib's Agg backend: inline in alert emails and, over the
alerting service's ``GET /api/v1/chart``, on the status page's box view (one drawing code for both).

What a reader needs at 3 a.m. is on the image itself, not beside it: a time axis labelled in local
time (the zone named on the axis), one y axis per unit with the unit in its label (kW, %, °C
stacked, never two units on one scale), a legend, the rule's threshold line or tolerance band where
the alert names one (annotations ``chart_threshold``, ``chart_tolerance``), the firing window
shaded, and a title that states exactly the window drawn (the x axis is set to that window, whatever
data exists).

Cost (``bench/bench_chart.py``): importing matplotlib takes ~0.4-1 s and ~40 MB, so it is imported
on the first chart only, in the sender's thread or the API's thread pool, never on the rules'
evaluation path; a chart then renders in ~60-150 ms. Drawing is serialised by a lock: the Agg
backend is used without pyplot (no global figure state), but its font caches are shared.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
# the unit of a field from its name's suffix, as the data model names fields (p_meas_kw, soc_pct, ...)
UNITS = (("_kwh", "kWh"), ("_kw", "kW"), ("_pct", "%"), ("_c", "°C"), ("_hz", "Hz"), ("_s", "s"))
MAX_AXES = 4  # units stacked; more series than that would not be readable anyway
WIDTH_IN, ROW_HEIGHT_IN, DPI = 7.2, 1.8, 100
MARGINS_IN = {"left": 0.75, "right": 0.3, "top": 0.35, "bottom": 0.55}  # room for labels and the last tick
# what the data model's fields are called in a legend; others show their own name
NAMES = {
    "p_setpoint_kw": "setpoint",
    "p_meas_kw": "measured power",
    "soc_pct": "state of charge",
    "temp_max_c": "hottest cell",
    "grid_freq_hz": "grid frequency",
}

_lock = threading.Lock()


def unit_of(field_name: str) -> str:
    """``p_meas_kw`` -> ``kW``; a field without a known suffix is its own unit (its own axis)."""
    for suffix, unit in UNITS:
        if field_name.endswith(suffix):
            return unit
    return field_name


@dataclass(frozen=True)
class Tolerance:
    """A band around ``reference``: ± max(``absolute``, ``relative`` × |reference|), as the
    ``deviation`` condition measures it."""

    reference: str
    absolute: float
    relative: float = 0.0


@dataclass(frozen=True)
class ChartSpec:
    """What to draw: series (``field -> [(epoch_s, value or None)]``) over exactly ``start``..``end``."""

    title: str
    start: float
    end: float
    series: dict[str, Sequence[tuple[float, float | None]]]
    timezone: str = "UTC"
    thresholds: tuple[tuple[str, float], ...] = ()  # (field whose axis, value)
    tolerance: Tolerance | None = None
    firing: tuple[tuple[float, float], ...] = ()  # shaded spans, clipped to the window
    labels: dict[str, str] = field(default_factory=dict)  # field -> legend text

    def caption(self) -> str:
        """The window as people read it: ``14:05-15:05 CET (60 min)``, in the chart's time zone."""
        zone = ZoneInfo(self.timezone)
        first = dt.datetime.fromtimestamp(self.start, zone)
        last = dt.datetime.fromtimestamp(self.end, zone)
        day = "" if first.date() == last.date() else f"{first:%d %b} "
        minutes = round((self.end - self.start) / 60)
        return f"{day}{first:%H:%M}–{last:%H:%M} {last:%Z} ({minutes} min)"


def units(spec: ChartSpec) -> list[str]:
    """The y axes, top to bottom: one per unit, in the order the fields come."""
    found: list[str] = []
    for name in spec.series:
        if unit_of(name) not in found:
            found.append(unit_of(name))
    return found[:MAX_AXES]


def figure(spec: ChartSpec):
    """The matplotlib Figure (Agg canvas attached): tests inspect it, :func:`render` saves it."""
    # the Agg canvas is attached by hand and pyplot is never imported: no display, no GUI toolkit and no
    # global backend switch, whatever the environment (MPLBACKEND) or other code in the process says
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    zone = ZoneInfo(spec.timezone)
    axes_units = units(spec) or [""]
    height = MARGINS_IN["top"] + MARGINS_IN["bottom"] + max(2.4, ROW_HEIGHT_IN * len(axes_units))
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    FigureCanvasAgg(fig)
    # fixed margins, not a layout engine: constrained layout measured every text twice (40 % of a render)
    margins = MARGINS_IN
    fig.subplots_adjust(left=margins["left"] / WIDTH_IN, right=1 - margins["right"] / WIDTH_IN,
                        top=1 - margins["top"] / height, bottom=margins["bottom"] / height, hspace=0.12)  # fmt: skip
    axes = fig.subplots(len(axes_units), 1, sharex=True, squeeze=False)[:, 0]
    by_unit = dict(zip(axes_units, axes, strict=True))
    start, end = _when(spec.start, zone), _when(spec.end, zone)
    colours = iter(PALETTE * 4)
    for name, points in spec.series.items():
        ax = by_unit.get(unit_of(name))
        if ax is None:
            continue
        times = [_when(t, zone) for t, _ in points]
        values = [math.nan if v is None else v for _, v in points]
        ax.plot(times, values, color=next(colours), linewidth=1.6, label=spec.labels.get(name, NAMES.get(name, name)))
    _tolerance(spec, by_unit, zone)
    for name, value in spec.thresholds:
        ax = by_unit.get(unit_of(name))
        if ax is not None:
            ax.axhline(value, color="#b00020", linestyle="--", linewidth=1.2,
                       label=f"threshold {value:g} {unit_of(name)}")  # fmt: skip
    for index, (since, until) in enumerate(spec.firing):
        since, until = max(since, spec.start), min(until, spec.end)
        if until <= since:
            continue
        label = f"firing since {_when(since, zone):%H:%M}" if index == 0 else None
        for ax in axes:  # shaded on every axis, named once; the start marked, since a fresh alert's span is thin
            ax.axvspan(_when(since, zone), _when(until, zone), color="#d62728", alpha=0.12, linewidth=0,
                       label=label if ax is axes[0] else None)  # fmt: skip
            ax.axvline(_when(since, zone), color="#b00020", linewidth=1.0, linestyle=":")
    for unit, ax in by_unit.items():
        ax.set_ylabel(unit)
        ax.grid(True, color="#e6e6e6", linewidth=0.8)
        ax.set_xlim(start, end)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8, framealpha=0.85)  # "best" searches the data: slow
    bottom = axes[-1]
    locator = mdates.AutoDateLocator(tz=zone, minticks=4, maxticks=8)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    zone_name = spec.timezone if spec.timezone == f"{end:%Z}" else f"{spec.timezone}, {end:%Z}"
    bottom.set_xlabel(f"local time ({zone_name})")
    axes[0].set_title(f"{spec.title} · {spec.caption()}", fontsize=10, loc="left")
    return fig


def _tolerance(spec: ChartSpec, by_unit: dict, zone: ZoneInfo) -> None:
    band = spec.tolerance
    if band is None or band.reference not in spec.series:
        return
    ax = by_unit.get(unit_of(band.reference))
    if ax is None:
        return
    points = [(t, v) for t, v in spec.series[band.reference]]
    times = [_when(t, zone) for t, _ in points]
    low, high = [], []
    for _, v in points:
        if v is None or math.isnan(v):
            low.append(math.nan)
            high.append(math.nan)
            continue
        width = max(band.absolute, band.relative * abs(v))
        low.append(v - width)
        high.append(v + width)
    unit = unit_of(band.reference)
    text = f"tolerance ±{band.absolute:g} {unit}" + (f" or {band.relative:.0%}" if band.relative else "")
    ax.fill_between(times, low, high, color="#1f77b4", alpha=0.15, linewidth=0, label=text)


def _when(epoch_s: float, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, zone)


def render(spec: ChartSpec) -> bytes:
    """PNG bytes of the chart."""
    with _lock:
        fig = figure(spec)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
