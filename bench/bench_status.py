"""Status page benchmark at fleet scale: 10,000 registered boxes and a 10,000-alert outage held by the
real alerting service. Measured in one run, each against its baseline:

- one refresh round (4 health checks, the alerts read and sorted, the inventory read and summarised,
  concurrently) against the bare upstream calls it makes (GET /api/v2/alerts + JSON decode, the
  registry's ``boxes()``, 4 GET /health), done one after the other;
- ``GET /`` (the HTML page) and ``GET /api/v1/status``, a closed loop of one client for a few seconds
  (achieved rate, p50, p99), against ``GET /health`` of the same server;
- the page again while one upstream drips its answer a byte at a time (a hung service): the page's
  latency must not move, and the round must end at the timeout.

    python bench/bench_status.py [--boxes 10000] [--alerts 10000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import JboxmonConfig  # noqa: E402
from config.auth import AuthConfig  # noqa: E402
from config.model import InventoryConfig  # noqa: E402
from config.status import ComponentUrls, StatusConfig  # noqa: E402
from inventory import Box, Registry  # noqa: E402
from inventory.access import AccessPolicy  # noqa: E402
from jboxmon.alerting_component import AlertingComponent  # noqa: E402
from jboxmon.httpserver import BackgroundServer  # noqa: E402
from status import StatusService, create_app  # noqa: E402


def dripping_server() -> ThreadingHTTPServer:
    """Answers /health one byte every 0.5 s: HTTP read timeouts never fire on it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b'{"status": "ok", "padding": "................"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def setup(tmp: Path, boxes: int, alerts: int) -> tuple[JboxmonConfig, AlertingComponent]:
    base = JboxmonConfig()
    alerting_cfg = base.alerting.model_copy(update={
        "listen": "127.0.0.1:0", "outbox": tmp / "outbox.sqlite", "silences": tmp / "silences.sqlite",
        "history": tmp / "history.sqlite", "resolve_timeout": 3600,
    })  # fmt: skip
    config = base.model_copy(update={"inventory": InventoryConfig(path=tmp / "registry.sqlite"),
                                     "alerting": alerting_cfg,
                                     "auth": AuthConfig(mode="none")})  # loopback: the bench posts freely  # fmt: skip
    now = time.time()
    fleet = [Box(f"jbox-{i:05d}", site=f"site-{i // 20:03d}", region=f"R{i % 12}") for i in range(boxes)]
    with Registry(config.inventory.path) as registry:
        registry.issue_many(fleet)
        registry.mark_seen((b.jbox_id, now - (30 if i % 10 else 3600 + i)) for i, b in enumerate(fleet))
    alerting = AlertingComponent(config, None, port=0).start()
    items = [
        {"labels": {"alertname": "JBoxSilent" if i % 3 else "Overheating", "severity": ("critical", "warning")[i % 2],
                    **fleet[i % boxes].tags()},
         "annotations": {"summary": f"box {i} in trouble"}}
        for i in range(alerts)
    ]  # fmt: skip
    for start in range(0, len(items), 1000):
        requests.post(alerting.url + "/api/v2/alerts", json=items[start : start + 1000], timeout=60).raise_for_status()
    return config, alerting


def baseline_round(alerting_url: str, registry_path: Path) -> float:
    started = time.perf_counter()
    with requests.Session() as http:
        for _ in range(4):
            http.get(alerting_url + "/health", timeout=10).json()
        http.get(alerting_url + "/api/v2/alerts", timeout=60).json()
    with Registry(registry_path) as registry:
        registry.boxes()
    return time.perf_counter() - started


def closed_loop(url: str, seconds: float) -> tuple[float, float, float]:
    """(requests/s achieved, p50 ms, p99 ms) for one client asking as fast as answered."""
    latencies = []
    deadline = time.perf_counter() + seconds
    with requests.Session() as http:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            http.get(url, timeout=30).raise_for_status()
            latencies.append(time.perf_counter() - started)
    latencies.sort()
    return len(latencies) / seconds, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        started = time.perf_counter()
        config, alerting = setup(tmp, args.boxes, args.alerts)
        took = time.perf_counter() - started
        print(f"set-up: {args.boxes:,} boxes registered, {args.alerts:,} alerts posted in {took:.1f}s")
        drip = dripping_server()
        try:
            run(config, alerting.url, tmp, args, f"http://127.0.0.1:{drip.server_address[1]}")
        finally:
            drip.shutdown()
            alerting.stop()
    return 0


def run(config: JboxmonConfig, alerting_url: str, tmp: Path, args, drip_url: str) -> None:
    urls = ComponentUrls(collector=alerting_url, rules=alerting_url, alerting=alerting_url, retention=alerting_url)
    status_cfg = StatusConfig(listen="127.0.0.1:0", refresh=30, timeout=2, urls=urls)
    service = StatusService(config.model_copy(update={"status": status_cfg}))
    server = BackgroundServer(create_app(service, access=AccessPolicy.open()), "127.0.0.1", 0).start()
    try:
        baseline = statistics.median(baseline_round(alerting_url, config.inventory.path) for _ in range(args.rounds))
        rounds = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            snapshot = service.refresher.refresh_once()
            rounds.append(time.perf_counter() - t0)
        assert snapshot.alerts.error is None and len(snapshot.alerts.rows) == args.alerts, snapshot.alerts.error
        assert snapshot.fleet.registered == args.boxes
        round_s = statistics.median(rounds)
        print(f"refresh round: {round_s * 1000:.0f} ms (median of {args.rounds}); bare upstream calls in sequence: "
              f"{baseline * 1000:.0f} ms; ratio {round_s / baseline:.2f}x")  # fmt: skip
        health = closed_loop(server.url + "/health", args.seconds)
        print(f"GET /health          {health[0]:7.1f} req/s  p50 {health[1]:6.1f} ms  p99 {health[2]:6.1f} ms "
              "(baseline)")  # fmt: skip
        for path in ("/", "/api/v1/status"):
            rate, p50, p99 = closed_loop(server.url + path, args.seconds)
            print(f"GET {path:<17}{rate:7.1f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
                  f"({p50 / health[1]:.1f}x the baseline's p50)")  # fmt: skip
        hung(service, server.url, drip_url, args.seconds)
    finally:
        server.stop()
        service.stop()


def hung(service: StatusService, page_url: str, drip_url: str, seconds: float) -> None:
    """The retention target drips: a round ends at the timeout; the page's latency during it."""
    from functools import partial

    from status import components

    target = components.Target("retention", drip_url)
    service.refresher.checks["retention"] = partial(components.check, target, service._health_http)
    done = threading.Event()
    took: list[float] = []

    def one_round() -> None:
        t0 = time.perf_counter()
        service.refresher.refresh_once()
        took.append(time.perf_counter() - t0)
        done.set()

    threading.Thread(target=one_round, daemon=True).start()
    rate, p50, p99 = closed_loop(page_url + "/", min(seconds, 2.0))
    done.wait(30)
    retention = {c.name: c for c in service.snapshot.components}["retention"]
    print(f"with a hung upstream: round ended after {took[0]:.2f}s "
          f"(timeout {service.config.timeout:g}s), retention {retention.state}: {retention.reason}; "
          f"GET / meanwhile {rate:.1f} req/s p50 {p50:.1f} ms p99 {p99:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
