"""The retention pass scheduled inside ``jboxmon run`` (APScheduler, one pass at a time).

The first pass starts ``first_delay_s`` after start-up (the collector and rules come up first), then
every ``retention.interval``. A pass that finds the lease held by another runner logs it and waits
for the next turn; a failed pass is logged and retried at the next turn (each pass is crash-safe).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from config import JboxmonConfig
from inventory import Box, Registry
from retention.lease import LeaseHeld
from retention.metrics import RetentionMetrics
from retention.runner import RetentionRunner
from retention.store import ArchiveStore, StoreSettings
from storage import InfluxClient

log = logging.getLogger(__name__)


class RetentionComponent:
    def __init__(self, config: JboxmonConfig, influx: InfluxClient, first_delay_s: float = 60.0) -> None:
        self.config = config
        self.store = ArchiveStore(StoreSettings.from_config(config.retention.archive))
        self.registry = Registry(config.inventory.path)
        self.metrics = RetentionMetrics()
        self.runner = RetentionRunner(config.retention, influx, self.store, metrics=self.metrics, inventory=self.boxes)
        self.first_delay_s = first_delay_s
        self._scheduler: BackgroundScheduler | None = None

    def boxes(self) -> list[Box]:
        return self.registry.boxes()

    def start(self) -> RetentionComponent:
        self.store.start()
        self.registry.open()
        self._scheduler = BackgroundScheduler(timezone="UTC")
        first = datetime.now(UTC) + timedelta(seconds=self.first_delay_s)
        self._scheduler.add_job(
            self.run_once,
            "interval",
            seconds=self.config.retention.interval,
            next_run_time=first,
            max_instances=1,
            coalesce=True,
            id="retention",
        )
        self._scheduler.start()
        return self

    def run_once(self) -> None:
        try:
            report = self.runner.run()
        except LeaseHeld as exc:
            log.info("retention pass skipped: %s", exc)
            return
        except Exception:
            log.exception("retention pass failed; retrying at the next turn")
            return
        log.info(
            "retention pass: %d rows archived, %d deleted, %d downsampled points in %.1fs",
            report.rows_archived,
            report.rows_deleted,
            report.points_downsampled,
            report.seconds,
        )

    def stop(self) -> None:
        if self._scheduler is not None:
            # a pass in progress is left to finish or die: every pass is crash-safe
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self.registry.close()
        self.store.stop()
