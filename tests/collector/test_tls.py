"""The collector serves HTTPS when given a certificate and key (collector.tls_cert / tls_key)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

from collector.service import IngestService
from inventory import Registry
from jboxmon.collector_component import CollectorServer
from tests.collector.conftest import issue_tokens, make_config, registry_path

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def test_https_with_a_box_token(tmp_path, influx) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    config = make_config(tmp_path, tls_cert=cert, tls_key=key)
    tokens = issue_tokens(registry_path(tmp_path), ["jbox-0001"])
    service = IngestService(config, influx, registry=Registry(registry_path(tmp_path)))
    server = CollectorServer(service, ssl_certfile=str(cert), ssl_keyfile=str(key)).start()
    try:
        assert server.url.startswith("https://")
        response = requests.post(
            f"{server.url}/write?precision=s",
            data=f"telemetry soc_pct=1 {int(time.time())}",
            headers={"Authorization": f"Token {tokens['jbox-0001']}"},
            verify=str(cert),
        )
        assert response.status_code == 204
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{server.url}/health", timeout=5)  # an unknown certificate is refused by default
    finally:
        server.stop()
