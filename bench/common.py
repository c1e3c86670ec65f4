"""What the benchmarks share: running the collector as its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from storage.http import HttpClient, HttpError, HttpSettings


def jboxmon_cli(config: Path) -> list[str]:
    return [sys.executable, "-m", "jboxmon.cli", "--config", str(config)]


def start_collector(config: Path, port: int, timeout_s: float = 20.0) -> subprocess.Popen:
    """``jboxmon collector`` on ``port``, returned once it answers ``/ping``."""
    process = subprocess.Popen(
        [*jboxmon_cli(config), "collector", "--listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL
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
