"""``jboxmon alerts list`` when the alerting service is away (with the service running, it is tested
against the real service in tests/alerting/test_cli.py)."""

from __future__ import annotations

from jboxmon.cli import main
from storage.server import free_port


def test_alerts_list_says_when_the_service_is_away(capsys, tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("logging: {level: WARNING}\n")
    assert main(["--config", str(config), "alerts", "list", "--url", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "cannot read" in capsys.readouterr().err
