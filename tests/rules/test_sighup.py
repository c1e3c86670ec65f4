"""``jboxmon rules run`` as a process: SIGHUP reloads the rule files; a broken file keeps the old rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from storage.server import free_port

RULE = """groups:
  - name: thermal
    interval: 5s
    rules:
      - alert: Hot
        condition: {threshold: {field: temp_max_c, op: ">", value: %s}}
"""


def wait_for(predicate, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_sighup_reloads_and_a_broken_file_keeps_the_previous_rules(tmp_path, influx_config) -> None:
    rules_file = tmp_path / "thermal.yaml"
    rules_file.write_text(RULE % "55")
    port = free_port()
    config = tmp_path / "jboxmon.yaml"
    config.write_text(
        "auth: {mode: none}\n"  # loopback; this test is about SIGHUP
        f"influxdb:\n  url: {influx_config.url}\n  database: {influx_config.database}\n"
        f"inventory:\n  path: {tmp_path}/registry.sqlite\n"
        f"rules:\n  files: ['{rules_file}']\n  state_db: {tmp_path}/state.sqlite\n  listen: 127.0.0.1:{port}\n"
        f"  reload_every: 1h\n"  # only SIGHUP may reload in this test
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "jboxmon.cli", "--config", str(config), "rules", "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    api = f"http://127.0.0.1:{port}"

    def threshold() -> str:
        return requests.get(f"{api}/api/v1/rules", timeout=2).json()["data"]["groups"][0]["rules"][0]["condition"]

    try:
        assert "> 55" in wait_for(threshold)
        rules_file.write_text(RULE % "45")
        process.send_signal(signal.SIGHUP)
        assert "> 45" in wait_for(lambda: "> 45" in threshold() and threshold())
        rules_file.write_text(RULE % "'hot'")
        process.send_signal(signal.SIGHUP)
        health = wait_for(lambda: requests.get(f"{api}/health", timeout=2).json()["last_reload_error"])
        assert "condition.threshold.value: input should be a valid number" in health
        assert "> 45" in threshold()  # still the previous rules
        assert process.poll() is None
        # rules.nice (10 by default), every thread: an evaluation's burst yields to a collector beside it
        tasks = Path(f"/proc/{process.pid}/task").iterdir()
        nice = {int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]) for task in tasks}
        assert nice == {max(10, os.nice(0))}
    finally:
        process.terminate()
        process.wait(timeout=20)
