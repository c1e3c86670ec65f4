"""Real receivers for the alerting tests: an HTTP webhook receiver and an SMTP server, on free ports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from alerting.service import AlertingService
from config.alerting import AlertingConfig
from storage.server import free_port


class WebhookReceiver:
    """Records every POST (headers and JSON body); ``status`` is what it answers (503 = 'down')."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.status = 200
        self.delay_s = 0.0  # a slow receiver: the answer comes this long after the body
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-body (a SIGKILL drill): no delivery, no answer
                    return
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver.lock:
                    status = receiver.status
                    if status < 300:
                        receiver.requests.append((dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def payloads(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body in self.requests]

    def unique_keys(self) -> set[str]:
        with self.lock:
            return {headers["Idempotency-Key"] for headers, _ in self.requests}

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.requests) < count:
            time.sleep(0.05)
        return self.payloads

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


class MailSink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, MailSink]]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, sink
    controller.stop()


def make_config(tmp_path: Path, **section) -> AlertingConfig:
    base = {
        "outbox": str(tmp_path / "outbox.sqlite"),
        "silences": str(tmp_path / "silences.sqlite"),
        "history": str(tmp_path / "history.sqlite"),
        "retry": {"initial": "100ms", "max": "500ms"},
    }
    return AlertingConfig.model_validate({**base, **section})


@pytest.fixture
def service_factory(tmp_path: Path):
    started: list[AlertingService] = []

    def make(section: dict, **kwargs) -> AlertingService:
        service = AlertingService(make_config(tmp_path, **section), **kwargs).start()
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop()


def alert(name: str, box: str = "", status: str = "firing", **labels: str) -> dict:
    item = {"labels": {"alertname": name, **({"jbox_id": box} if box else {}), **labels},
            "annotations": {"summary": f"{name} on {box or 'fleet'}"},
            "startsAt": "2026-01-01T00:00:00Z"}  # fmt: skip
    if status == "resolved":
        item["endsAt"] = "2026-01-01T00:10:00Z"
    return item
