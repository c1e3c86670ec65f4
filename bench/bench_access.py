"""Control-plane access cost: requests/s and latency of the alerting API with credentials (Bearer,
Basic) against the same server with ``auth: {mode: none}`` (the browser checks only), in the same run.

    python bench/bench_access.py [--requests 1000] [--rounds 5]

The three are measured in turns, ``--rounds`` times, and each keeps its round of lowest median latency
(on a shared machine the worst rounds measure the neighbours, not the code); the median, not the
rate, is compared: a few stalls of a busy machine decide the rate.

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
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        with OperatorStore(tmp / "registry.sqlite") as store:
            token = store.add("bench", "viewer")
        open_server, guarded = serve(tmp, "none"), serve(tmp, "credentials")
        try:
            cases = {
                "auth none (baseline)": (open_server.url, {}),
                "Bearer token": (guarded.url, {"headers": {"Authorization": f"Bearer {token}"}}),
                "Basic auth": (guarded.url, {"auth": ("bench", token)}),
            }
            runs: dict[str, tuple[float, float]] = {}
            for _ in range(args.rounds):
                for name, (url, kwargs) in cases.items():
                    rate, ms = measure(url + "/api/v2/silences", args.requests, **kwargs)
                    if ms < runs.get(name, (0.0, float("inf")))[1]:
                        runs[name] = (rate, ms)
        finally:
            open_server.stop()
            guarded.stop()
    _, base_ms = runs["auth none (baseline)"]
    print(f"GET /api/v2/silences, {args.requests} requests on one connection, best of {args.rounds} rounds "
          "(machine shared: noisy)")  # fmt: skip
    for name, (rate, ms) in runs.items():
        print(f"  {name:<22} median {ms:6.2f} ms ({ms / base_ms:.2f}x the baseline)  {rate:8.0f} req/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
