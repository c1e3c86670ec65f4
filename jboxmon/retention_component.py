"""The retention pass scheduled inside ``jboxmon run`` (APScheduler, one pass at a time).

Each pass runs in a child process (``spawn``, lowered CPU priority): pandas, Arrow and JSON decoding
hold the GIL, and in a thread they would slow the collector's acknowledgements in the same process.
Every pass is crash-safe, so stopping jboxmon simply terminates a pass in progress. The first pass
starts ``first_delay_s`` after start-up, then one every ``retention.interval``; a pass that finds the
lease held by another runner is skipped. ``/metrics`` and ``/health`` are served on ``retention.listen``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from config import JboxmonConfig
from inventory.controlplane import ControlPlane
from jboxmon.httpserver import BackgroundServer
from retention.api import create_app
from retention.metrics import RetentionMetrics
from storage import InfluxClient
from storage.supervision import Supervisor

log = logging.getLogger(__name__)
NICENESS = 10


def retention_lock(config: JboxmonConfig):
    """One runner at a time across nodes: PostgreSQL's advisory lock when the inventory is shared
    there (a true compare-and-swap), else None (the archive lease)."""
    if config.inventory.url is None:
        return None
    from retention.pglock import AdvisoryLock

    secret = config.inventory.password
    password = secret.resolve() if secret is not None else None
    return lambda: AdvisoryLock(config.inventory.url, password=password)


def run_pass(config: JboxmonConfig, conn) -> None:
    """One pass, in the child process; sends ("ok", PassReport), ("held", text) or ("error", text)."""
    from inventory import Registry
    from retention.lease import LeaseHeld
    from retention.runner import RetentionRunner
    from retention.store import ArchiveStore, StoreSettings
    from storage import InfluxSettings

    try:
        os.nice(NICENESS)
        with (
            InfluxClient(InfluxSettings.from_config(config.influxdb)) as influx,
            ArchiveStore(StoreSettings.from_config(config.retention.archive)) as store,
            Registry.from_config(config.inventory) as registry,
        ):
            runner = RetentionRunner(
                config.retention, influx, store, inventory=registry.boxes, lock=retention_lock(config)
            )
            report = runner.run()
        report.units = []
        conn.send(("ok", report))
    except LeaseHeld as exc:
        conn.send(("held", str(exc)))
    except Exception as exc:  # reported to the parent, which logs it and tries again next turn
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class RetentionComponent:
    def __init__(self, config: JboxmonConfig, influx: InfluxClient, first_delay_s: float = 60.0) -> None:
        self.config = config
        self.metrics = RetentionMetrics()
        # the scheduled pass is supervised: one that raises here (a process that cannot be spawned:
        # EMFILE) is counted, and /health names the scheduler while it fails or while no pass has
        # ended for two intervals past the first one's due time (storage/supervision.py)
        self.loops = Supervisor("retention", self.metrics.registry)
        self.first_delay_s = first_delay_s
        self.last_pass: dict | None = None
        self.last_error: str | None = None
        retention = config.retention
        self.control = ControlPlane(config)
        app = create_app(self.metrics, self.status, access=self.control.policy, run=self.trigger,
                         audit=self.control.audit)  # fmt: skip
        self.http = BackgroundServer(app, retention.host, retention.port, ssl_certfile=_path(retention.tls_cert),
                                     ssl_keyfile=_path(retention.tls_key))  # fmt: skip
        self._scheduler: BackgroundScheduler | None = None
        self._child: multiprocessing.process.BaseProcess | None = None
        self._busy = threading.Lock()  # one pass at a time, scheduled or asked for (POST /-/run)
        self._stopping = threading.Event()

    def status(self) -> dict:
        return {"last_pass": self.last_pass, "last_error": self.last_error, "loops": self.loops.problems()}

    def start(self) -> RetentionComponent:
        self._stopping.clear()
        self.control.start()
        self.http.start()
        self._scheduler = BackgroundScheduler(timezone="UTC")
        stall = self.first_delay_s + 2 * self.config.retention.interval
        self._scheduler.add_job(
            self.loops.job("retention-scheduler", self._scheduled, stall_after_s=stall),
            "interval",
            seconds=self.config.retention.interval,
            next_run_time=datetime.now(UTC) + timedelta(seconds=self.first_delay_s),
            max_instances=1,
            coalesce=True,
            id="retention",
        )
        self._scheduler.start()
        return self

    def trigger(self) -> bool:
        """Start a pass now in the background (``POST /-/run``); False when one is running."""
        if not self._busy.acquire(blocking=False):
            return False
        threading.Thread(target=self._run_then_release, name="retention-run", daemon=True).start()
        return True

    def _scheduled(self) -> None:
        if self._busy.acquire(blocking=False):  # a pass asked for over HTTP is running: this turn is skipped
            self._run_then_release()

    def _run_then_release(self) -> None:
        try:
            self.run_once()
        finally:
            self._busy.release()

    def run_once(self) -> None:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self._child = child = context.Process(target=run_pass, args=(self.config, send), name="retention-pass")
        child.start()
        send.close()
        outcome = None
        while outcome is None and not self._stopping.is_set():
            if receive.poll(0.5):
                try:
                    outcome = receive.recv()
                except EOFError:
                    outcome = ("error", f"the retention pass died (exit code {child.exitcode})")
            elif not child.is_alive() and not receive.poll(0):
                outcome = ("error", f"the retention pass died (exit code {child.exitcode})")
        child.join(timeout=10)
        if outcome is not None:
            self._record(*outcome)

    def _record(self, kind: str, value) -> None:
        if kind == "held":
            log.info("retention pass skipped: %s", value)
        elif kind == "error":
            self.last_error = value
            self.metrics.failures.inc()
            log.error("retention pass failed (retried next turn): %s", value)
        else:
            self.metrics.record(value)
            self.metrics.pass_duration.set(value.seconds)
            self.metrics.last_success.set(time.time())
            self.last_error = None
            self.last_pass = {
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows_archived": value.rows_archived,
                "rows_deleted": value.rows_deleted,
                "seconds": round(value.seconds, 3),
            }
            log.info(
                "retention pass: %d rows archived, %d deleted in %.1fs",
                value.rows_archived,
                value.rows_deleted,
                value.seconds,
            )

    def stop(self) -> None:
        self._stopping.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        child = self._child
        if child is not None and child.is_alive():
            child.terminate()  # every pass is crash-safe: the next one finishes its work
            child.join(timeout=10)
        self.http.stop()
        self.control.stop()


def _path(value) -> str | None:
    return str(value) if value else None
