"""Live mode: push the scenario to the collector over HTTP, in real time scaled by ``speed``.

Sim time runs ``speed`` times faster than the wall clock: step k is sent when
``(t_k - start) / speed`` seconds have passed. Requests go through a thread pool and the house's
outbound HTTP seam (``storage.http.HttpClient``: a session per worker thread, timeouts, failures
classified); retryable failures (429, 503, an unreachable collector) are retried after
``Retry-After`` or a short backoff, permanent ones are counted as failed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from simulator import payloads as pl
from simulator.engine import FleetSimulator, Step
from simulator.logs import LEVELS
from simulator.scenario import Scenario
from storage.http import HttpClient, HttpError, HttpSettings

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 30.0


@dataclass(frozen=True)
class LiveOptions:
    collector_url: str
    speed: float = 1.0
    batch_s: float = 10.0  # v2 boxes send one batch per this much sim time
    tokens: dict[str, str] = field(default_factory=dict)  # jbox_id -> token; no header when absent
    workers: int = 8
    attempts: int = 5
    timeout_s: float = 10.0


@dataclass
class LiveReport:
    sent: Counter[str] = field(default_factory=Counter)  # accepted requests per path
    failed: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    seconds: float = 0.0

    def render(self) -> str:
        rows = [
            f"  {path:<14} {self.sent[path]:>8,d} sent {self.failed[path]:>6,d} failed"
            for path in sorted(set(self.sent) | set(self.failed))
        ]
        rows.append(
            f"  total          {sum(self.sent.values()):>8,d} sent {sum(self.failed.values()):>6,d} failed, "
            f"{self.retries} retries, {self.seconds:.1f}s"
        )
        return "\n".join(rows)


class Sender:
    """Posts JSON bodies concurrently; ``close()`` waits for every request and is idempotent."""

    def __init__(self, options: LiveOptions, report: LiveReport, sleep: Callable[[float], None]) -> None:
        self._options, self._report, self._sleep = options, report, sleep
        self._http = HttpClient(options.collector_url, HttpSettings(timeout_s=options.timeout_s))
        self._pool = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="live-sender")
        self._slots = threading.BoundedSemaphore(options.workers * 50)  # backpressure on the step loop
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, path: str, jbox_id: str, body: dict) -> None:
        self._slots.acquire()
        future = self._pool.submit(self._post, path, jbox_id, json.dumps(body).encode())
        future.add_done_callback(lambda _: self._slots.release())

    def _post(self, path: str, jbox_id: str, data: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        token = self._options.tokens.get(jbox_id)
        if token:
            headers["Authorization"] = f"Token {token}"
        ok = False
        for attempt in range(self._options.attempts):
            try:
                self._http.request("POST", path, data=data, headers=headers)
            except HttpError as exc:
                if not exc.retryable:
                    log.warning("POST %s for %s: %s", path, jbox_id, str(exc)[:300])
                    break  # the request itself is wrong: sending it again cannot help
                log.debug("POST %s for %s failed: %s", path, jbox_id, exc)
                delay = _retry_delay(exc, attempt)
            else:
                ok = True
                break
            if attempt < self._options.attempts - 1:
                with self._lock:
                    self._report.retries += 1
                self._sleep(delay)
        with self._lock:
            (self._report.sent if ok else self._report.failed)[path] += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=True)
            self._http.close()


def _retry_delay(error: HttpError, attempt: int) -> float:
    """Seconds before the next attempt: the collector's ``Retry-After`` (capped), 1 s for an answer
    without one, a doubling backoff when it did not answer (it may be restarting)."""
    if error.retry_after_s is not None:
        return min(error.retry_after_s, MAX_RETRY_AFTER_S)
    return 1.0 if error.status is not None else 0.2 * 2**attempt


class _Pusher:
    """Turns steps into requests: v1 per sample, v2 batched per box, logs per box and step."""

    def __init__(self, scenario: Scenario, options: LiveOptions, sender: Sender) -> None:
        self._fleet, self._sender = scenario.fleet, sender
        interval_s = scenario.window.interval_s
        self._batch_steps = max(1, round(options.batch_s / interval_s))
        self._interval_ms = scenario.window.interval_ms
        self._v2 = scenario.fleet.payload_version == 2
        self._samples: dict[int, list[dict]] = {}
        self._heartbeats: dict[int, dict] = {}
        self._seq: Counter[int] = Counter()

    def push(self, step: Step, last: bool) -> None:
        fleet = self._fleet
        for i in step.reporting.nonzero()[0].tolist():
            values = dict(
                p_meas_kw=float(step.p_meas_kw[i]),
                p_setpoint_kw=float(step.p_setpoint_kw[i]),
                grid_freq_hz=step.freq_hz,
                soc_pct=float(step.soc_pct[i]),
                temp_max_c=float(step.temp_max_c[i]),
            )
            if self._v2[i]:
                self._samples.setdefault(i, []).append(pl.v2_sample(step.t_ms, **values))
            else:
                self._sender.submit(
                    pl.V1_TELEMETRY_PATH,
                    fleet.ids[i],
                    pl.v1_telemetry(
                        fleet.ids[i],
                        step.t_ms,
                        p_kw=values["p_meas_kw"],
                        sp_kw=values["p_setpoint_kw"],
                        f_hz=step.freq_hz,
                        soc=values["soc_pct"],
                        t_max=values["temp_max_c"],
                    ),
                )
        self._push_heartbeats(step)
        self._push_logs(step)
        if last or (step.index + 1) % self._batch_steps == 0:
            self._flush_v2(step.t_ms + self._interval_ms)

    def _push_heartbeats(self, step: Step) -> None:
        fleet, beats = self._fleet, step.heartbeats
        for i, t, up, disk in zip(
            beats.box.tolist(),
            beats.t_ms.tolist(),
            beats.uptime_s.tolist(),
            beats.disk_used_pct.tolist(),
            strict=True,
        ):
            if self._v2[i]:
                self._heartbeats[i] = pl.v2_heartbeat(t, uptime_s=up, disk_used_pct=disk)
            else:
                self._sender.submit(
                    pl.V1_TELEMETRY_PATH,
                    fleet.ids[i],
                    pl.v1_heartbeat(fleet.ids[i], t, uptime_s=up, fw=fleet.fw_version[i], disk_pct=disk),
                )

    def _push_logs(self, step: Step) -> None:
        entries: dict[int, list[dict]] = {}
        batch = step.logs
        for i, t, lvl, code, message in zip(
            batch.box.tolist(),
            batch.t_ms.tolist(),
            batch.level.tolist(),
            batch.code,
            batch.message,
            strict=True,
        ):
            entries.setdefault(i, []).append(pl.log_entry(t, LEVELS[lvl], code, message))
        for i, box_entries in entries.items():
            self._sender.submit(pl.LOGS_PATH, self._fleet.ids[i], pl.logs_batch(self._fleet.ids[i], box_entries))

    def _flush_v2(self, sent_at_ms: int) -> None:
        fleet = self._fleet
        for i in sorted(set(self._samples) | set(self._heartbeats)):
            body = pl.v2_batch(
                fleet.ids[i],
                fleet.fw_version[i],
                sent_at_ms,
                self._seq[i],
                self._samples.get(i, []),
                self._heartbeats.get(i),
            )
            self._seq[i] += 1
            self._sender.submit(pl.V2_TELEMETRY_PATH, fleet.ids[i], body)
        self._samples.clear()
        self._heartbeats.clear()


def run_live(
    scenario: Scenario,
    options: LiveOptions,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LiveReport:
    """Send the whole scenario window, pacing steps to ``speed``; returns when everything was sent."""
    if options.speed <= 0:
        raise ValueError(f"speed must be positive, got {options.speed}")
    report = LiveReport()
    sender = Sender(options, report, sleep)
    pusher = _Pusher(scenario, options, sender)
    window = scenario.window
    started = clock()
    try:
        for step in FleetSimulator(scenario).steps():
            due = started + (step.t_ms - window.start_ms) / 1000.0 / options.speed
            wait = due - clock()
            if wait > 0:
                sleep(wait)
            pusher.push(step, last=step.index == window.steps - 1)
    finally:
        sender.close()
        report.seconds = clock() - started
    return report
