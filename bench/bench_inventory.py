"""The inventory on PostgreSQL against the embedded SQLite file, same fleet, same run.

- a full credentials reload (what every collector's token cache does when a token changed) at
  ``--boxes`` boxes: PostgreSQL (one private server on loopback) against SQLite (baseline);
- a last-seen round (every box seen, one transaction): PostgreSQL against SQLite;
- issue on node A -> accepted by node B's cache, and revoke on A -> refused by B (two registries on
  the same PostgreSQL, each with its own TokenCache polling every ``--refresh`` seconds).

    python bench/bench_inventory.py [--boxes 10000] [--refresh 1]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventory import Box, Registry, TokenCache  # noqa: E402
from storage.pgserver import PostgresServer, private_data_dir  # noqa: E402


def timed(action, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def fill(registry: Registry, boxes: int) -> None:
    fleet = [Box(f"jbox-{i:05d}", site=f"site-{i // 10}", region="IDF", service="fcr") for i in range(boxes)]
    registry.issue_many(fleet)


def until(predicate, timeout_s: float = 30.0) -> float:
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout_s:
            return float("inf")
        time.sleep(0.005)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--refresh", type=float, default=1.0)
    args = parser.parse_args()
    data = private_data_dir()
    folder = Path(tempfile.mkdtemp())
    server = PostgresServer(data).start()
    try:
        sqlite, shared = Registry(folder / "registry.sqlite").open(), Registry(server.url_with_password).open()
        for registry in (sqlite, shared):
            fill(registry, args.boxes)
        seen = [(f"jbox-{i:05d}", time.time()) for i in range(args.boxes)]
        base_reload, pg_reload = timed(sqlite.credentials), timed(shared.credentials)
        base_seen, pg_seen = timed(lambda: sqlite.mark_seen(seen), 3), timed(lambda: shared.mark_seen(seen), 3)
        print(f"{args.boxes:,} boxes; machine shared with other work: figures are noisy, ratios are same-run")
        print(f"credentials reload: SQLite {base_reload * 1e3:.0f} ms, PostgreSQL {pg_reload * 1e3:.0f} ms "
              f"({pg_reload / base_reload:.2f}x)")  # fmt: skip
        print(f"last-seen round:    SQLite {base_seen * 1e3:.0f} ms, PostgreSQL {pg_seen * 1e3:.0f} ms "
              f"({pg_seen / base_seen:.2f}x)")  # fmt: skip

        node_b = Registry(server.url_with_password).open()
        cache = TokenCache(node_b, refresh_s=args.refresh).start()
        try:
            issued, revoked = [], []
            for i in range(5):
                token = shared.issue(f"probe-{i}")
                issued.append(until(lambda t=token: cache.authenticate(t) is not None))
                shared.revoke(f"probe-{i}")
                revoked.append(until(lambda t=token: cache.authenticate(t) is None))
            print(f"issue on A -> accepted on B: median {statistics.median(issued) * 1e3:.0f} ms, "
                  f"max {max(issued) * 1e3:.0f} ms (a miss checks the counter at once)")  # fmt: skip
            print(f"revoke on A -> refused on B: median {statistics.median(revoked) * 1e3:.0f} ms, "
                  f"max {max(revoked) * 1e3:.0f} ms (bound: token_refresh {args.refresh:g} s + a reload)")  # fmt: skip
        finally:
            cache.stop()
            node_b.close()
        sqlite.close()
        shared.close()
    finally:
        server.stop()
        shutil.rmtree(data.parent, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
