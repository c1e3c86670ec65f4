"""What the benchmarks share: running the collector as its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from storage.http import HttpClient, HttpError, HttpSettings


def child_pids(pid: int) -> list[int]:
    """The processes ``pid``'s threads started (a collector's workers), from /proc; a thread that
    ends while it is read is skipped."""
    pids = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids += [int(child) for child in children.read_text().split()]
        except OSError:
            continue
    return pids


def jboxmon_cli(config: Path) -> list[str]:
    return [sys.executable, "-m", "jboxmon.cli", "--config", str(config)]


def tree_options(tree: Path | None) -> dict:
    """subprocess options importing jboxmon from ``tree``: ``python -m``/``-c`` put the working
    directory first on sys.path, so both it and PYTHONPATH must name the tree."""
    if tree is None:
        return {}
    return {"cwd": str(tree), "env": {**os.environ, "PYTHONPATH": str(tree)}}


def start_profiler(pid: int, seconds: int, path: Path) -> subprocess.Popen:
    """py-spy sampling the collector (threads holding the GIL) for ``seconds``, collapsed stacks to
    ``path``; summarise with bench/profile_top.py."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--gil", "--rate", "200", "--format", "raw",
         "--duration", str(seconds), "--output", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def start_collector(config: Path, port: int, timeout_s: float = 20.0, tree: Path | None = None) -> subprocess.Popen:
    """``jboxmon collector`` on ``port``, returned once it answers ``/ping``; ``tree`` runs the code of
    another source tree (a same-run baseline of older code)."""
    process = subprocess.Popen(
        [*jboxmon_cli(config), "collector", "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL,
        **tree_options(tree),
    )
    deadline = time.monotonic() + timeout_s
    with HttpClient(f"http://127.0.0.1:{port}", HttpSettings(timeout_s=1)) as http:
        while time.monotonic() < deadline:
            try:
                http.request("GET", "/ping", check=False)  # any answer: it is listening
                return process
            except HttpError:
                time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the collector did not start on port {port}")
