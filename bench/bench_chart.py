"""The cost of alert charts drawn with matplotlib (Agg), against baselines measured in the same run.

1. Import: a fresh interpreter importing ``alerting.chart`` and drawing its first chart (matplotlib
   imported then), against the same interpreter importing only ``alerting.receivers.email`` (what a
   service pays before any chart). Neither happens on the rules' evaluation path: a chart is drawn in
   the alerting service's sender thread or API thread pool.
2. Render: one chart of an hour (two series of 240 points, tolerance band, firing span), a three-unit
   chart, against the floor of any PNG chart of that size: zlib-encoding its RGB pixels.

    python bench/bench_chart.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerting.chart import DPI, MARGINS_IN, ROW_HEIGHT_IN, WIDTH_IN, ChartSpec, Tolerance, render  # noqa: E402

NOW = 1_800_000_000.0


def _cold(code: str) -> float:
    """Seconds for a fresh interpreter to run ``code`` (start-up included), best of three."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def _specs() -> dict[str, ChartSpec]:
    start = NOW - 3600
    points = [start + 15 * k for k in range(241)]
    setpoint = [(t, 500.0) for t in points]
    measured = [(t, 500.0 if t < NOW - 900 else 40.0) for t in points]
    power = {"p_setpoint_kw": setpoint, "p_meas_kw": measured}
    one = ChartSpec("jbox-0042 · SetpointNotFollowed", start, NOW, power, "Europe/Paris",
                    tolerance=Tolerance("p_setpoint_kw", 50, 0.1), firing=((NOW - 720, NOW),))  # fmt: skip
    three = ChartSpec("jbox-0042 · box", start, NOW, {"p_meas_kw": measured, "soc_pct": [(t, 50.0) for t in points],
                                                      "temp_max_c": [(t, 40.0) for t in points]}, "UTC",
                      thresholds=(("temp_max_c", 45.0),))  # fmt: skip
    return {"one unit": one, "three units": three}


def _floor(rows: int) -> float:
    width = int(WIDTH_IN * DPI)
    height = int((MARGINS_IN["top"] + MARGINS_IN["bottom"] + max(2.4, ROW_HEIGHT_IN * rows)) * DPI)
    pixels = bytes(range(256)) * (width * height * 3 // 256 + 1)
    start = time.perf_counter()
    zlib.compress(pixels[: width * height * 3], 6)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print("bench_chart: a shared machine makes these noisy; compare the ratios, measured in the same run")

    base = _cold("import alerting.receivers.email")
    first = _cold("from alerting.chart import ChartSpec, render; "
                  "render(ChartSpec('x', 0, 3600, {'p_meas_kw': [(0, 1.0), (3600, 2.0)]}))")  # fmt: skip
    print(f"import + first chart in a fresh interpreter: {first:.2f} s; baseline (email receiver only) {base:.2f} s; "
          f"matplotlib's share {first - base:.2f} s ({first / base:.1f}x the baseline)")  # fmt: skip

    for name, spec in _specs().items():
        render(spec)  # warm: fonts and caches loaded
        times, floors, size = [], [], 0
        rows = len({k.split("_")[-1] for k in spec.series})
        for _ in range(args.repeat):
            start = time.perf_counter()
            size = len(render(spec))
            times.append(time.perf_counter() - start)
            floors.append(_floor(rows))
        median, floor = statistics.median(times), statistics.median(floors)
        print(f"render {name}: median {median * 1000:.0f} ms ({size:,} bytes PNG); baseline zlib of its pixels "
              f"{floor * 1000:.1f} ms; ratio {median / floor:.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
