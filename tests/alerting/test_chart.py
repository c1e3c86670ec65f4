"""The alert chart: what a reader needs is on the image (matplotlib figure inspected, PNG rendered).

Each test draws a known series and reads back the figure's axes: the x axis is exactly the window
the caption claims, labelled in the chart's time zone; one y axis per unit, labelled with it; the
legend names each series; the threshold line, the tolerance band and the firing span are where the
alert says. ``JBOXMON_CHART_DIR=DIR pytest tests/alerting/test_chart.py`` keeps the PNGs to look at.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("matplotlib")

import matplotlib.dates as mdates  # noqa: E402

from alerting.alertchart import AlertCharts  # noqa: E402
from alerting.chart import ChartSpec, Tolerance, figure, render, unit_of  # noqa: E402
from alerting.series import chart_spec, window  # noqa: E402

NOW = dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC).timestamp()  # 15:00 in Paris (CET)
HOUR = 3600.0


def _series(start: float, end: float, value, step: float = 30.0) -> list[tuple[float, float | None]]:
    out, t = [], start
    while t <= end:
        out.append((t, value(t)))
        t += step
    return out


def _alert(name: str, **extra) -> dict:
    labels = {"alertname": name, "jbox_id": "jbox-0042", "severity": "critical"}
    return {"labels": labels, "annotations": extra.pop("annotations", {}), "status": "firing",
            "startsAt": "2026-12-07T13:40:00Z", "endsAt": "0001-01-01T00:00:00Z", **extra}  # fmt: skip


def _keep(name: str, png: bytes) -> None:
    folder = os.environ.get("JBOXMON_CHART_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)


def _num(when: float, zone: str = "UTC") -> float:
    return mdates.date2num(dt.datetime.fromtimestamp(when, ZoneInfo(zone)))


def test_units_come_from_field_names() -> None:
    assert [unit_of(f) for f in ("p_meas_kw", "soc_pct", "temp_max_c", "grid_freq_hz", "energy_kwh", "x")] == [
        "kW", "%", "°C", "Hz", "kWh", "x"]  # fmt: skip


def test_setpoint_chart_axes_legend_band_and_firing_window() -> None:
    start, end = NOW - HOUR, NOW
    alert = _alert("SetpointNotFollowed", annotations={"chart_tolerance": "50,0.1"})
    series = {
        "p_setpoint_kw": _series(start, end, lambda t: 600.0),
        "p_meas_kw": _series(start, end, lambda t: 600.0 if t < NOW - 23 * 60 else 120.0),
    }
    spec = chart_spec(alert, series, start, end, "Europe/Paris")
    fig = figure(spec)
    (ax,) = fig.axes
    assert ax.get_ylabel() == "kW"
    assert ax.get_xlim() == pytest.approx((_num(start, "Europe/Paris"), _num(end, "Europe/Paris")))
    assert ax.get_xlabel() == "local time (Europe/Paris, CET)"
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "15:00" in ticks and "14:00" not in ticks[-1:]  # Paris time, not UTC
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["setpoint", "measured power"]
    assert "tolerance ±50 kW or 10%" in legend and "firing since 14:40" in legend  # 13:40 UTC in Paris
    band = next(c for c in ax.collections if c.get_label().startswith("tolerance"))
    low, high = band.get_paths()[0].get_extents().y0, band.get_paths()[0].get_extents().y1
    assert (low, high) == pytest.approx((540.0, 660.0))  # 600 ± max(50, 60)
    shade = next(p for p in ax.patches if p.get_label().startswith("firing"))
    x0, x1 = shade.get_extents().x0, shade.get_extents().x1
    left, right = ax.transData.transform([(_num(NOW - 20 * 60), 0), (_num(end), 0)])[:, 0]
    assert (x0, x1) == pytest.approx((left, right), abs=1.5)  # 13:40 UTC to the end of the window
    assert spec.caption() == "14:00–15:00 CET (60 min)"
    assert ax.get_title(loc="left") == "jbox-0042 · SetpointNotFollowed · 14:00–15:00 CET (60 min)"
    _keep("setpoint.png", render(spec))


def test_one_axis_per_unit_and_threshold_on_its_own_axis() -> None:
    start, end = NOW - HOUR, NOW
    alert = _alert("Drift", annotations={"chart_fields": "temp_max_c,soc_pct,p_meas_kw", "chart_threshold": "45"})
    series = {
        "temp_max_c": _series(start, end, lambda t: 40 + (t - start) / HOUR * 12),
        "soc_pct": _series(start, end, lambda t: 50.0),
        "p_meas_kw": _series(start, end, lambda t: None if NOW - 600 < t < NOW - 300 else 200.0),
    }
    fig = figure(chart_spec(alert, series, start, end, "UTC"))
    assert [ax.get_ylabel() for ax in fig.axes] == ["°C", "%", "kW"]
    temp = fig.axes[0]
    threshold = next(line for line in temp.get_lines() if line.get_label() == "threshold 45 °C")
    assert set(threshold.get_ydata()) == {45}
    assert all(line.get_label() != "threshold 45 °C" for ax in fig.axes[1:] for line in ax.get_lines())
    # every axis shows the same window, the whole of it
    assert all(ax.get_xlim() == pytest.approx((_num(start), _num(end))) for ax in fig.axes)
    _keep("three-units.png", render(chart_spec(alert, series, start, end, "UTC")))


def test_resolved_alert_shades_only_its_firing_span() -> None:
    start, end = NOW - HOUR, NOW
    alert = _alert("OverheatWarning", status="resolved", endsAt="2026-12-07T13:50:00Z",
                   annotations={"chart_threshold": "45"})  # fmt: skip
    spec = chart_spec(alert, {"temp_max_c": _series(start, end, lambda t: 44.0)}, start, end, "UTC")
    assert spec.firing == ((NOW - 20 * 60, NOW - 10 * 60),)
    assert spec.thresholds == (("temp_max_c", 45.0),)


def test_window_stretches_back_to_show_an_early_onset() -> None:
    assert window({"startsAt": "2026-12-07T13:40:00Z"}, NOW, HOUR) == (NOW - HOUR, NOW)
    # fired 90 minutes ago: the window starts 5 minutes (a twelfth of an hour) before the onset
    assert window({"startsAt": "2026-12-07T12:30:00Z"}, NOW, HOUR) == (NOW - 95 * 60, NOW)
    assert window({"startsAt": "2026-12-06T00:00:00Z"}, NOW, HOUR) == (NOW - 4 * HOUR, NOW)


def test_alert_charts_read_exactly_the_window_claimed() -> None:
    asked = []

    def reader(box, fields, start, end):
        asked.append((box, fields, start, end))
        return {f: _series(start, end, lambda t: 1.0) for f in fields}

    charts = AlertCharts(reader, window_s=HOUR, timezone="UTC", clock=lambda: NOW)
    chart = charts.for_alert(_alert("SetpointNotFollowed"))
    assert asked == [("jbox-0042", ("p_setpoint_kw", "p_meas_kw"), NOW - HOUR, NOW)]
    assert chart.png.startswith(b"\x89PNG") and chart.caption.endswith("13:00–14:00 UTC (60 min)")
    assert charts.for_alert({"labels": {"alertname": "FleetFaultShareHigh"}}) is None  # no box, no chart
    box = charts.for_box("jbox-0007", [])
    assert box.alert is None and asked[-1][1] == ("p_setpoint_kw", "p_meas_kw", "soc_pct", "temp_max_c")


def test_a_chart_without_data_still_states_its_window() -> None:
    spec = ChartSpec("jbox-1", NOW - HOUR, NOW, {"p_meas_kw": [(NOW - 60, None)]}, tolerance=Tolerance("x", 1))
    png = render(spec)
    assert png.startswith(b"\x89PNG") and len(png) > 2000
