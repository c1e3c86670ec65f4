"""Control-plane access cost: requests/s and latency of the alerting API with credentials (Bearer,
Basic) against the same server with ``auth: {mode: none}`` (the browser checks only), in the same run.

    python bench/bench_access.py [--requests 2000]

Each request is ``GET /api/v2/silences`` (an empty list: the handler costs little, so the access
checks — Host, Origin, content type, SHA-256 of the token and one indexed SQLite read — show).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import load_config  # noqa: E402
from inventory.operators import OperatorStore  # noqa: E402
from jboxmon.alerting_component import AlertingComponent  # noqa: E402


def serve(tmp: Path, mode: str) -> AlertingComponent:
    path = tmp / f"{mode}.yaml"
    path.write_text(
        f"auth: {{mode: {mode}}}\ninventory: {{path: {tmp}/registry.sqlite}}\n"
        f"alerting:\n  outbox: {tmp}/{mode}-o.sqlite\n  silences: {tmp}/{mode}-s.sqlite\n"
        f"  history: {tmp}/{mode}-h.sqlite\n"
    )
    return AlertingComponent(load_config(path), None, path, port=0).start()


def measure(url: str, count: int, **kwargs) -> tuple[float, float]:
    """(requests per second, median latency in ms) over one keep-alive connection."""
    session = requests.Session()
    session.get(url, timeout=5, **kwargs).raise_for_status()  # warm up, and prove it is allowed
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        session.get(url, timeout=5, **kwargs)
        latencies.append(time.perf_counter() - begin)
    return count / (time.perf_counter() - started), statistics.median(latencies) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        with OperatorStore(tmp / "registry.sqlite") as store:
            token = store.add("bench", "viewer")
        open_server, guarded = serve(tmp, "none"), serve(tmp, "credentials")
        try:
            runs = {
                "auth none (baseline)": measure(open_server.url + "/api/v2/silences", args.requests),
                "Bearer token": measure(guarded.url + "/api/v2/silences", args.requests,
                                        headers={"Authorization": f"Bearer {token}"}),
                "Basic auth": measure(guarded.url + "/api/v2/silences", args.requests, auth=("bench", token)),
            }  # fmt: skip
        finally:
            open_server.stop()
            guarded.stop()
    base_rate, base_ms = runs["auth none (baseline)"]
    print(f"GET /api/v2/silences, {args.requests} requests on one connection (machine shared: noisy)")
    for name, (rate, ms) in runs.items():
        print(f"  {name:<22} {rate:8.0f} req/s  median {ms:6.2f} ms  ({rate / base_rate:.2f}x the baseline rate)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
