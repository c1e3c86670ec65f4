"""Email transport security against a real aiosmtpd: STARTTLS with login, implicit TLS, and the
classification of failures (a refused login or a refused STARTTLS is permanent, a server away is not)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from alerting.receivers import Context, NotifyError
from alerting.receivers.email import EmailNotifier
from config.alerting import EmailConfig
from storage.server import free_port
from tests.alerting.conftest import MailSink, alert

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    return cert, key


def _auth(server, session, envelope, mechanism, auth_data) -> AuthResult:
    if auth_data.login == b"jboxmon" and auth_data.password == b"s3cret":
        return AuthResult(success=True)
    # without an explicit message this aiosmtpd version leaves the client waiting
    return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")


PAYLOAD = {"alerts": [alert("OverheatCritical", "jbox-0007") | {"status": "firing", "endsAt": "0001-01-01T00:00:00Z"}],
           "groupLabels": {"alertname": "OverheatCritical"}, "commonLabels": {}, "status": "firing",
           "receiver": "mail", "externalURL": "http://127.0.0.1:8183", "truncatedAlerts": 0}  # fmt: skip


def test_starttls_with_login(cert, monkeypatch: pytest.MonkeyPatch) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, cert))
    sink, port = MailSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=_auth, auth_required=True)  # fmt: skip
    controller.start()
    try:
        monkeypatch.setenv("SMTP_PW", "s3cret")
        config = {"to": ["ops@x"], "smarthost": f"127.0.0.1:{port}", "tls": "starttls", "tls_verify": str(cert[0]),
                  "auth_username": "jboxmon", "auth_password": {"env": "SMTP_PW"}, "timeout": "5s"}  # fmt: skip
        EmailNotifier(EmailConfig.model_validate(config), Context()).notify(PAYLOAD, "key-1")
        assert len(sink.messages) == 1 and b"OverheatCritical" in sink.messages[0]
        monkeypatch.setenv("SMTP_PW", "wrong")
        with pytest.raises(NotifyError) as refused:
            EmailNotifier(EmailConfig.model_validate(config), Context()).notify(PAYLOAD, "key-2")
        assert not refused.value.retryable
        with pytest.raises(NotifyError) as plain:  # the server insists on STARTTLS: fix the config, no retry
            EmailNotifier(EmailConfig.model_validate(config | {"tls": "none"}), Context()).notify(PAYLOAD, "key-3")
        assert not plain.value.retryable
    finally:
        controller.stop()
    with pytest.raises(NotifyError) as away:
        EmailNotifier(EmailConfig.model_validate(config), Context()).notify(PAYLOAD, "key-4")
    assert away.value.retryable


def test_implicit_tls(cert) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, cert))
    sink, port = MailSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        config = {"to": ["ops@x"], "smarthost": f"127.0.0.1:{port}", "tls": "ssl", "tls_verify": str(cert[0])}
        EmailNotifier(EmailConfig.model_validate(config), Context()).notify(PAYLOAD, "key-1")
    finally:
        controller.stop()
    assert len(sink.messages) == 1
