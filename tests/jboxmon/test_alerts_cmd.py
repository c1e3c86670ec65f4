"""``jboxmon alerts list`` reads the rules service's API through the outbound HTTP seam."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jboxmon.cli import main
from storage.server import free_port

ALERTS = {
    "data": {
        "alerts": [
            {
                "labels": {"alertname": "OverheatCritical", "jbox_id": "jbox-0007", "severity": "critical"},
                "annotations": {"summary": "jbox-0007 cells at 61.2 °C"},
                "startsAt": "2026-11-30T07:00:00.000Z",
            }
        ]
    }
}


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = json.dumps(ALERTS).encode() if self.path == "/api/v1/alerts" else b"{}"
        self.send_response(200 if self.path == "/api/v1/alerts" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_alerts_list_prints_the_firing_alerts(capsys, tmp_path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "c.yaml"
    config.write_text("logging: {level: WARNING}\n")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert main(["--config", str(config), "alerts", "list", "--url", url]) == 0
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert "OverheatCritical" in out and "jbox-0007" in out and "1 alert(s) firing" in out


def test_alerts_list_says_when_the_service_is_away(capsys, tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("logging: {level: WARNING}\n")
    assert main(["--config", str(config), "alerts", "list", "--url", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "cannot read" in capsys.readouterr().err
