"""The ``logging:`` section reaches the process: level and text or JSON lines, through the CLI."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from jboxmon import logsetup
from jboxmon.cli import load_config_or_exit

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, level: str, fmt: str) -> argparse.Namespace:
    path = tmp_path / "c.yaml"
    path.write_text(f"logging:\n  level: {level}\n  format: {fmt}\n")
    return argparse.Namespace(config=str(path), verbose=False)


def test_json_lines_at_the_configured_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_config_or_exit(_config(tmp_path, "WARNING", "json"))
    log = logging.getLogger("jboxmon.test")
    log.info("not shown: below WARNING")
    log.warning("box %s is %d °C", "jbox-0001", 58)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["level"] == "WARNING"
    assert lines[0]["logger"] == "jboxmon.test"
    assert lines[0]["message"] == "box jbox-0001 is 58 °C"
    assert lines[0]["time"].endswith("+00:00")


def test_text_at_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_config_or_exit(_config(tmp_path, "DEBUG", "text"))
    logging.getLogger("jboxmon.test").debug("details")
    err = capsys.readouterr().err
    assert " DEBUG jboxmon.test: details" in err
    assert not err.startswith("{")


def test_a_second_setup_replaces_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    from config.model import LoggingConfig

    logsetup.configure_logging(LoggingConfig(format="json"))
    logsetup.configure_logging(LoggingConfig(format="text"))
    logging.getLogger("jboxmon.test").warning("once")
    assert capsys.readouterr().err.count("once") == 1


def test_the_console_script_logs_json_from_the_config(tmp_path: Path) -> None:
    """End to end: the console script at DEBUG in JSON says which file it read; at INFO it is quiet."""

    def run(level: str) -> str:
        config = tmp_path / f"{level}.yaml"
        inventory = f"inventory: {{path: {tmp_path}/registry.sqlite}}\n"
        config.write_text(f"{inventory}logging: {{level: {level}, format: json}}\n")
        code = "import sys; from jboxmon.cli import main; sys.exit(main(sys.argv[1:]))"
        result = subprocess.run(
            [sys.executable, "-c", code, "--config", str(config), "tokens", "list"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stderr

    records = [json.loads(line) for line in run("DEBUG").splitlines()]
    assert {"level": "DEBUG", "logger": "jboxmon", "message": f"configuration from {tmp_path}/DEBUG.yaml"}.items() <= (
        records[0].items()
    )
    assert run("INFO") == ""
