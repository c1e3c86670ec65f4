"""Where evaluated alerts go: InfluxDB's ``alerts`` measurement (history, Grafana annotations),
the alerting service (in process or over HTTP, Alertmanager's v2 format), or memory (the HTTP API)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from alerting.model import Alert
from rules.engine import Evaluation
from storage import InfluxClient, InfluxError
from storage.http import HttpClient, HttpSettings
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


class AlertHandover:
    """Hands alerts to alerting (in process or over HTTP) without blocking the evaluator or losing news.

    - ``send`` only queues: a worker thread delivers, so a slow receiver never delays evaluations.
    - A failed delivery is counted, logged and retried with backoff (1 s doubling to 30 s) until it
      goes through or newer evaluations replace the alerts it carried.
    - Resolved alerts are re-sent with every delivery for ``resend_resolved_s`` (15 minutes, as
      Prometheus does), so a receiver that was away still learns that an alert ended.
    ``deliver`` takes Alertmanager ``POST /api/v2/alerts`` items and raises on failure.
    """

    def __init__(
        self,
        deliver: Callable[[list[dict]], None],
        *,
        name: str = "alerting",
        resend_resolved_s: float = 900.0,
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.deliver = deliver
        self.name = name
        self.resend_resolved_s = resend_resolved_s
        self.clock = clock
        self.sent = 0
        self.failures = 0
        self._resolved: dict[tuple, tuple[Alert, float]] = {}
        self._pending: dict[tuple, dict] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._busy = False
        self._failed_counter = None
        if registry is not None:
            self._failed_counter = Counter(
                "jboxmon_rules_alert_handover_failures", "Failed hand-overs of alerts to alerting", registry=registry
            )
            Gauge("jboxmon_rules_alert_handover_pending", "Alerts waiting to be handed over", registry=registry
                  ).set_function(lambda: len(self._pending))  # fmt: skip

    def send(self, alerts: list[Alert]) -> None:
        now = self.clock()
        for alert in alerts:
            key = _key(alert)
            if alert.status == "resolved":
                self._resolved[key] = (alert, now)
            else:
                self._resolved.pop(key, None)
        for key, (_, at) in list(self._resolved.items()):
            if now - at > self.resend_resolved_s:
                del self._resolved[key]
        batch = [a for a in alerts if a.status == "firing"] + [alert for alert, _ in self._resolved.values()]
        if not batch:
            return
        with self._cond:
            for alert in batch:
                self._pending[_key(alert)] = alert.to_alertmanager()
            self._cond.notify()
        if self._thread is None:
            self.start()

    def start(self) -> AlertHandover:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name=f"handover-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after one last attempt to deliver what is queued."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is queued (tests, shutdown); False on time-out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._cond:
                if not self._pending and not self._busy:
                    return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stop)
                if not self._pending:
                    return
                batch, self._pending = self._pending, {}
                self._busy, stopping = True, self._stop
            ok = self._attempt(batch)
            with self._cond:
                self._busy = False
                if ok:
                    backoff = 0.0
                    continue
                for key, item in batch.items():
                    self._pending.setdefault(key, item)  # a newer state of the same alert wins
                if stopping:
                    return
                backoff = min(30.0, max(1.0, backoff * 2))
                self._cond.wait_for(lambda: self._stop, timeout=backoff)

    def _attempt(self, batch: dict[tuple, dict]) -> bool:
        try:
            self.deliver(list(batch.values()))
        except Exception as exc:  # counted and logged, never swallowed
            self.failures += 1
            if self._failed_counter is not None:
                self._failed_counter.inc()
            # outages are retried; a refusal of the alerts themselves (HTTP 400, a malformed alert) would
            # be refused again and hold back every later alert, so that batch is dropped, loudly
            if not getattr(exc, "retryable", not isinstance(exc, ValueError)):
                log.error("%s refused %d alert(s), dropped: %s", self.name, len(batch), exc)
                return True
            log.warning("could not hand %d alert(s) to %s (will retry): %s", len(batch), self.name, exc)
            return False
        self.sent += len(batch)
        return True


def http_deliver(
    url: str, timeout_s: float = 10.0, headers: Callable[[], dict[str, str]] | None = None
) -> Callable[[list[dict]], None]:
    """POST items to an Alertmanager-compatible ``/api/v2/alerts`` URL through the one HTTP seam.
    ``headers()`` gives extra headers per post (the producer credential, which may be rotated)."""
    client = HttpClient(settings=HttpSettings(timeout_s=timeout_s))

    def deliver(items: list[dict]) -> None:
        client.request("POST", url, json=items, headers=headers() if headers else None)

    return deliver


class HttpAlertSink(AlertHandover):
    """The hand-over to an alerting service (or an Alertmanager) over HTTP: ``rules.alerting_url``."""

    def __init__(self, url: str, timeout_s: float = 10.0, **kwargs) -> None:
        super().__init__(http_deliver(url, timeout_s), name=url, **kwargs)


def _key(alert: Alert) -> tuple:
    return (alert.name, tuple(sorted(alert.labels.items())))


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
