"""Every control-plane service serves HTTPS from ``tls_cert``/``tls_key`` (the collector already did):
rules, alerting, retention and the status page, which reaches the others over HTTPS (``status.tls_verify``:
their CA) and marks its session cookie Secure."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from config import load_config
from jboxmon.services import Services
from storage.server import free_port
from tests.controlplane.helpers import issue_operator

pytestmark = [
    pytest.mark.slow,  # four services and the status page's rounds over HTTPS: ~10 s
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    return cert, key


def test_every_service_over_https(tmp_path: Path, influx_config) -> None:
    cert, key = self_signed(tmp_path)
    tls = f"  tls_cert: {cert}\n  tls_key: {key}\n"
    ports = {name: free_port() for name in ("rules", "alerting", "retention", "status")}
    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        f"influxdb: {{url: '{influx_config.url}', database: {influx_config.database}}}\n"
        f"inventory:\n  path: {tmp_path}/registry.sqlite\n"
        f"rules:\n  listen: 127.0.0.1:{ports['rules']}\n  state_db: {tmp_path}/state.sqlite\n{tls}"
        f"alerting:\n  listen: 127.0.0.1:{ports['alerting']}\n  outbox: {tmp_path}/o.sqlite\n"
        f"  silences: {tmp_path}/s.sqlite\n  history: {tmp_path}/h.sqlite\n{tls}"
        f"retention:\n  listen: 127.0.0.1:{ports['retention']}\n  state_dir: {tmp_path}/retention\n"
        f"  archive: {{url: 'file://{tmp_path}/archive'}}\n{tls}"
        f"status:\n  listen: 127.0.0.1:{ports['status']}\n  refresh: 1s\n  timeout: 500ms\n"
        f"  tls_verify: {cert}\n  urls: {{collector: 'http://127.0.0.1:{free_port()}'}}\n{tls}"
    )
    config = load_config(path)
    name, token = issue_operator(config.inventory.path, "viewer")
    services = Services(config, components=("rules", "alerting", "retention", "status")).start()
    try:
        for service, port in ports.items():
            answer = requests.get(f"https://127.0.0.1:{port}/health", verify=str(cert), timeout=5)
            assert answer.status_code in (200, 503), (service, answer.text)  # 503: no snapshot yet (status)
            with pytest.raises(requests.ConnectionError):
                requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
            # still behind the access middleware
            assert requests.get(f"https://127.0.0.1:{port}/metrics", verify=str(cert), timeout=5).status_code == 401
        status = f"https://127.0.0.1:{ports['status']}"
        login = requests.post(status + "/login", data={"name": name, "token": token}, verify=str(cert),
                              allow_redirects=False, timeout=5)  # fmt: skip
        assert login.status_code == 303 and "; Secure" in login.headers["Set-Cookie"]
        deadline = time.monotonic() + 30
        while True:  # the page reaches rules, alerting and retention over HTTPS, with its own credential
            doc = requests.get(status + "/api/v1/status", auth=(name, token), verify=str(cert), timeout=5).json()
            states = {c["name"]: c["state"] for c in doc.get("components", [])}
            if states.get("alerting") == "up" and states.get("rules") == "up" and doc["alerts"]["error"] is None:
                break
            reasons = [(c["name"], c["reason"]) for c in doc["components"]]
            assert time.monotonic() < deadline, (reasons, doc["alerts"]["error"])
            time.sleep(0.3)
        assert states["retention"] == "up" and states["collector"] == "down"
    finally:
        services.stop()
