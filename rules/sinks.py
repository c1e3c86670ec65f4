"""Where evaluated alerts go: InfluxDB's ``alerts`` measurement (history, Grafana annotations),
the alerting service over HTTP (Alertmanager's v2 format), or memory (tests, the HTTP API)."""

from __future__ import annotations

import logging
import threading
from collections import deque

import requests

from alerting.model import Alert
from rules.engine import Evaluation
from storage import InfluxClient, InfluxError
from storage.lineprotocol import encode_point

log = logging.getLogger(__name__)


class InfluxHistory:
    """Writes each transition (pending, firing, resolved) as a point of ``alerts``.

    While InfluxDB is away, points wait in a bounded buffer and go out with the next evaluation.
    """

    def __init__(self, client: InfluxClient, max_buffer: int = 100_000) -> None:
        self.client = client
        self._buffer: deque[str] = deque(maxlen=max_buffer)

    def record(self, evaluation: Evaluation) -> None:
        for loaded, transition in evaluation.transitions:
            if transition.to == "inactive":
                continue
            labels = loaded.rule.labels
            tags = {
                "alertname": loaded.rule.alert,
                "jbox_id": transition.key,
                "state": transition.to,
                "severity": labels.get("severity", ""),
            }
            fields = {"value": transition.state.value, "group": loaded.group.name}
            line = encode_point("alerts", tags, fields, transition.at)
            if line:
                self._buffer.append(line)
        if not self._buffer:
            return
        lines = list(self._buffer)
        try:
            self.client.write(lines)
        except InfluxError as exc:
            if exc.retryable:
                log.warning("alert history kept for later (%d points): %s", len(lines), exc)
                return
            log.error("InfluxDB refused alert history: %s", exc)
        self._buffer.clear()


class HttpAlertSink:
    """POSTs alerts to ``url`` as Alertmanager's ``/api/v2/alerts`` expects (a JSON list).

    Firing alerts are re-sent at every evaluation, so a receiver that was down catches up by itself.
    """

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._session = requests.Session()

    def send(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        try:
            response = self._session.post(
                self.url, json=[alert.to_alertmanager() for alert in alerts], timeout=self.timeout_s
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            log.warning("could not deliver %d alert(s) to %s (resent next evaluation): %s", len(alerts), self.url, exc)


class CurrentAlerts:
    """The latest alerts per group, for ``GET /api/v1/alerts`` and ``jboxmon alerts list``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_group: dict[str, list[Alert]] = {}

    def update(self, group: str, alerts: list[Alert]) -> None:
        with self._lock:
            self._by_group[group] = [alert for alert in alerts if alert.status == "firing"]

    def snapshot(self) -> list[Alert]:
        with self._lock:
            return [alert for alerts in self._by_group.values() for alert in alerts]
