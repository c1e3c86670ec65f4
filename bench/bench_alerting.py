"""Alerting benchmark: how long from an alert's arrival to the webhook receiving it, beyond group_wait,
against a baseline measured in the same run (the same payload POSTed straight to the receiver); how
fast a fleet-wide outage (10,000 alerts) is taken in and grouped; how long an email chart takes.

    python bench/bench_alerting.py [--boxes 10000] [--rounds 20]

Not done here yet: the live-simulator end-to-end figure (fault onset -> webhook), whose target is
``for`` + evaluation interval + ``group_wait`` + 2 s; this measures the alerting share of that budget.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerting.api import create_app  # noqa: E402
from alerting.chart import line_chart  # noqa: E402
from alerting.service import AlertingService  # noqa: E402
from config.alerting import AlertingConfig  # noqa: E402
from inventory.access import AccessPolicy  # noqa: E402
from jboxmon.httpserver import BackgroundServer  # noqa: E402

GROUP_WAIT = 1.0


class Receiver:
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.arrivals.append((time.monotonic(), 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout_s: float = 60) -> float:
        deadline = time.monotonic() + timeout_s
        while len(self.arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.001)
        return self.arrivals[count - 1][0] if len(self.arrivals) >= count else math.nan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        config = AlertingConfig.model_validate({
            "outbox": f"{tmp}/o.sqlite", "silences": f"{tmp}/s.sqlite", "history": f"{tmp}/h.sqlite",
            "route": {"receiver": "hook", "group_by": ["alertname", "region"], "group_wait": f"{GROUP_WAIT}s",
                      "group_interval": "1h"},
            "receivers": [{"name": "hook", "webhook_configs": [{"url": receiver.url, "max_alerts": 100}]}],
        })  # fmt: skip
        service = AlertingService(config).start()
        server = BackgroundServer(create_app(service, access=AccessPolicy.open())).start()
        session = requests.Session()
        try:
            body = [{"labels": {"alertname": "SetpointNotFollowed", "jbox_id": "jbox-0001", "region": "IDF"}}]
            baseline = []
            for _ in range(args.rounds):
                t = time.monotonic()
                session.post(receiver.url, json=body, timeout=5)
                baseline.append(time.monotonic() - t)
            receiver.arrivals.clear()
            latencies = []
            for k in range(args.rounds):
                body = [{"labels": {"alertname": f"Bench{k}", "jbox_id": "jbox-0001", "region": "IDF"}}]
                t = time.monotonic()
                session.post(server.url + "/api/v2/alerts", json=body, timeout=5).raise_for_status()
                latencies.append(receiver.wait(k + 1) - t - GROUP_WAIT)
            receiver.arrivals.clear()
            regions = ["IDF", "ARA", "OCC", "BRE", "HDF", "NAQ", "PAC", "GES"]
            fleet = [{"labels": {"alertname": "JBoxSilent", "jbox_id": f"jbox-{i:05d}", "region": regions[i % 8]}}
                     for i in range(args.boxes)]  # fmt: skip
            t = time.monotonic()
            session.post(server.url + "/api/v2/alerts", json=fleet, timeout=60).raise_for_status()
            taken = time.monotonic() - t
            last = receiver.wait(len(regions)) - t
        finally:
            server.stop()
            service.stop()
    series = {"p_setpoint_kw": [(i * 30.0, 500 * math.sin(i / 9)) for i in range(120)],
              "p_meas_kw": [(i * 30.0, 400 * math.sin(i / 9)) for i in range(120)]}  # fmt: skip
    t = time.perf_counter()
    for _ in range(20):
        line_chart(series)
    chart_ms = (time.perf_counter() - t) / 20 * 1000
    base, lat = statistics.median(baseline), statistics.median(latencies)
    print(f"direct POST to the receiver (baseline): median {base * 1000:.1f} ms over {args.rounds}")
    print(f"POST /api/v2/alerts -> webhook, beyond group_wait={GROUP_WAIT:g}s: median {lat * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms  (ratio to baseline {lat / base:.1f}x)")  # fmt: skip
    print(f"fleet-wide outage: {args.boxes:,} alerts offered in one POST, taken in {taken:.2f} s "
          f"({args.boxes / taken:,.0f} alerts/s achieved); {len(receiver.arrivals)} grouped notifications, "
          f"last one {last:.2f} s after the POST (budget group_wait + 5 s = {GROUP_WAIT + 5:g} s)")  # fmt: skip
    print(f"email chart (480x160 PNG, 2 x 120 points): {chart_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
