"""Email end to end: a real SMTP server (aiosmtpd) receives text, HTML and an inline PNG chart drawn
from the box's series in a real InfluxDB; templates can be overridden from files and stay sandboxed."""

from __future__ import annotations

import email
import time
from pathlib import Path

from alerting.receivers import Context, NotifyError
from alerting.receivers.email import EmailNotifier
from alerting.series import InfluxSeries
from config.alerting import EmailConfig
from storage.lineprotocol import encode_point
from tests.alerting.conftest import alert


def _write_series(influx, box: str) -> None:
    now = int(time.time())
    lines = []
    for k in range(120):
        t = (now - 3600 + k * 30) * 1_000_000_000
        fields = {"p_setpoint_kw": 500.0, "p_meas_kw": 500.0 if k < 100 else 20.0}
        lines.append(encode_point("telemetry", {"jbox_id": box}, fields, t))
    influx.write(lines)


def _mail_service(service_factory, controller, influx, **extra):
    return service_factory(
        {
            "route": {"receiver": "mail", "group_wait": "100ms", "group_interval": "1s",
                      "group_by": ["alertname", "jbox_id"]},
            "receivers": [
                {
                    "name": "mail",
                    "email_configs": [
                        {"to": "ops@example.com", "tls": "none", "smarthost": f"127.0.0.1:{controller.port}",
                         "send_resolved": True}
                    ],
                }
            ],
            "external_url": "https://status.example/jbox",
            **extra,
        },  # fmt: skip
        series=InfluxSeries(influx),
    )


def _wait(sink, count: int) -> list:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(sink.messages) < count:
        time.sleep(0.05)
    assert len(sink.messages) >= count
    return [email.message_from_bytes(m) for m in sink.messages]


def test_email_with_html_text_and_chart(smtp, influx, service_factory) -> None:
    controller, sink = smtp
    _write_series(influx, "jbox-0042")
    service = _mail_service(service_factory, controller, influx)
    firing = {**alert("SetpointNotFollowed", "jbox-0042", site="s1"), "startsAt": _iso(time.time() - 600)}
    service.receive([firing])
    (message,) = _wait(sink, 1)
    # the group is (alertname, jbox_id): the subject names each once
    assert message["Subject"] == "[FIRING:1] SetpointNotFollowed jbox-0042" and message["To"] == "ops@example.com"
    parts = {part.get_content_type(): part for part in message.walk()}
    assert {"text/plain", "text/html", "image/png"} <= set(parts)
    text = parts["text/plain"].get_payload(decode=True).decode()
    assert "SetpointNotFollowed on jbox-0042" in text
    assert "look:    https://status.example/jbox/box/jbox-0042" in text
    assert "silence: https://status.example/jbox/silences/new?matcher=alertname%3D%22SetpointNotFollowed%22" \
           "&matcher=jbox_id%3D%22jbox-0042%22" in text  # fmt: skip
    html = parts["text/html"].get_payload(decode=True).decode()
    image = parts["image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html and 'href="https://status.example/jbox/box/jbox-0042"' in html
    assert image.get_content_disposition() == "inline"  # shown in place, not as an attachment
    png = image.get_payload(decode=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000  # text and lines drawn, not a blank
    assert "jbox-0042 · SetpointNotFollowed · " in html and "(60 min)" in html  # the caption states the window

    service.receive([{**firing, "endsAt": _iso(time.time() - 1)}])
    resolved = _wait(sink, 2)[1]
    assert resolved["Subject"] == "[RESOLVED] SetpointNotFollowed jbox-0042"
    images = [p for p in resolved.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0].get_content_disposition() == "inline"  # resolved emails have a chart too


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def test_templates_overridden_from_files_and_bounded(tmp_path: Path) -> None:
    (tmp_path / "email.subject.j2").write_text("custom {{ groupLabels.alertname }}")
    (tmp_path / "email.txt.j2").write_text("{% for i in range(5000) %}{{ 'x' * 1000 }}{% endfor %}")
    notifier = EmailNotifier(EmailConfig(to=["a@b"], tls="none"), Context(templates_dir=tmp_path))
    payload = {"alerts": [alert("A", "jbox-1") | {"status": "firing"}], "groupLabels": {"alertname": "A"},
               "status": "firing", "receiver": "r", "externalURL": "http://x", "truncatedAlerts": 0}  # fmt: skip
    try:
        notifier.build(payload, "k")
        raise AssertionError("an oversized template must fail")
    except NotifyError as exc:
        assert not exc.retryable and "longer than" in str(exc)
    (tmp_path / "email.txt.j2").write_text("leak:{{ ''.__class__.__mro__ }}")
    try:
        body = notifier.build(payload, "k").get_body(("plain",)).get_content()
        assert "class" not in body  # the sandbox hides private attributes
    except NotifyError as exc:  # or refuses them outright
        assert not exc.retryable
    (tmp_path / "email.txt.j2").write_text("plain {{ alerts | length }}")
    message = notifier.build(payload, "k")
    assert message["Subject"] == "custom A"
    assert "plain 1" in message.get_body(("plain",)).get_content()
