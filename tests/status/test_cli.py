"""``jboxmon status`` as an operator runs it: a process serving the page on ``--listen``, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from jboxmon.cli import COMMANDS
from storage.http import HttpClient, HttpError
from storage.server import free_port
from tests.status.conftest import HealthServer, closed_port_url

ROOT = Path(__file__).resolve().parents[2]


def test_jboxmon_status_serves_the_page(tmp_path: Path, health_servers: list[HealthServer]) -> None:
    assert COMMANDS["status"] == "status_cmd"
    up = HealthServer()
    health_servers.append(up)
    config = tmp_path / "jboxmon.yaml"
    config.write_text(yaml.safe_dump({
        "inventory": {"path": str(tmp_path / "registry.sqlite")},
        "auth": {"mode": "none"},  # loopback: this test is about the verb
        "status": {"refresh": "1s", "timeout": "500ms", "urls": {
            "collector": up.url, "rules": up.url, "alerting": closed_port_url(), "retention": up.url}},
    }))  # fmt: skip
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "jboxmon.cli", "--config", str(config), "status", "--listen", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        doc = _poll_json(f"http://127.0.0.1:{port}/api/v1/status", timeout_s=60)
        states = {c["name"]: c["state"] for c in doc["components"]}
        assert states == {"collector": "up", "rules": "up", "alerting": "down", "retention": "up"}
        assert doc["alerts"]["error"] and doc["fleet"]["error"]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


def _poll_json(url: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    with HttpClient() as http:
        while True:
            try:
                return http.request("GET", url, timeout=2).json()
            except HttpError:  # not listening yet, or 503 before its first round
                assert time.monotonic() < deadline, f"{url} did not answer within {timeout_s}s"
                time.sleep(0.2)
