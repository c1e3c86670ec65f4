"""Pull mode: scrape JBOX HTTP status endpoints on an interval and feed the ingest pipeline.

A status endpoint answers ``GET`` with a payload-v2 document (header + samples, optional
heartbeat). Requests go through the outbound HTTP seam (storage/http.py), with the scrape timeout
and the same size bound as a pushed body (``collector.max_body_bytes``): a status endpoint is as
untrusted as a pushing box, and must not make the collector read an endless answer.

Every scrape also records its own health as a ``scrape`` point (``up``,
``duration_s``), so a box that stops answering is visible in InfluxDB like one that stops pushing.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from collector.model import Decoded, PayloadError, Point
from collector.payloads import VERSIONS
from collector.service import IngestService
from config.collector import PullConfig, PullTarget
from inventory import Box
from storage.http import HttpClient, HttpError, HttpSettings
from storage.supervision import Loop

STATUS_PAYLOAD = "v2"  # the payload version status endpoints answer with

log = logging.getLogger(__name__)


class Scraper:
    def __init__(self, config: PullConfig, service: IngestService) -> None:
        self.config = config
        self.service = service
        self.targets = list(config.targets) + _targets_from_file(config)
        self._stop = threading.Event()
        self._loop = None  # supervised by the collector's loops (storage/supervision.py)
        self._pool: ThreadPoolExecutor | None = None
        self.http = HttpClient(
            settings=HttpSettings(timeout_s=config.timeout, max_response_bytes=service.config.max_body_bytes)
        )
        self._boxes: dict[str, Box] = {}

    def start(self) -> Scraper:
        self._pool = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="scrape")
        # a round takes at most about one timeout: three intervals without one is a stuck scraper
        stall = 3 * (self.config.interval + self.config.timeout) + 30
        self._loop = self.service.loops.spawn("scraper", self._run, stall_after_s=stall)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            self._loop.stop(timeout_s=self.config.timeout + 5)
            self._loop = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.http.close()

    def _run(self, loop: Loop) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.scrape_all()
            loop.ok()
            self._stop.wait(max(0.0, self.config.interval - (time.monotonic() - started)))

    def scrape_all(self) -> dict[str, str]:
        """Scrape every target once, concurrently; returns target -> result (ok, timeout, error, invalid)."""
        assert self._pool is not None, "start() first"
        # the registry may have changed since the last round (new boxes, new sites)
        self._boxes = {box.jbox_id: box for box in self.service.registry.boxes()}
        futures = {target.jbox_id: self._pool.submit(self.scrape, target) for target in self.targets}
        return {box: future.result() for box, future in futures.items()}

    def scrape(self, target: PullTarget) -> str:
        box = self._box(target.jbox_id)
        started = time.perf_counter()
        decoded, result = Decoded(), "ok"
        try:
            response = self.http.request("GET", target.url)
            decoded = VERSIONS[STATUS_PAYLOAD].decode(response.json())
        except HttpError as exc:
            result = _classify(exc)
            log.debug("scrape of %s failed: %s", target.url, exc)
        except (ValueError, PayloadError) as exc:  # not JSON, or not a v2 document
            result = "invalid"
            log.debug("scrape of %s failed: %s", target.url, exc)
        duration = time.perf_counter() - started
        self.service.metrics.scrapes.labels(result).inc()
        self.service.metrics.scrape_duration.observe(duration)
        health = Point("scrape", {}, {"up": result == "ok", "duration_s": duration}, None)
        decoded.points.append((len(decoded.points) + 1, health))
        try:
            self.service.ingest(box, decoded, source="scrape")
        except Exception as exc:  # ingestion refused (spool full...): counted, retried next round
            log.warning("could not ingest the scrape of %s: %s", target.jbox_id, exc)
            return "error"
        return result

    def _box(self, jbox_id: str) -> Box:
        return self._boxes.get(jbox_id) or Box(jbox_id)


def _classify(error: HttpError) -> str:
    """A failed GET as a scrape result: timeout, error (unreachable, non-2xx) or invalid (too large)."""
    if isinstance(error.__cause__, requests.Timeout):
        return "timeout"
    if error.status is not None and 200 <= error.status < 300:
        return "invalid"  # a success answer over the size bound
    return "error"


def _targets_from_file(config: PullConfig) -> list[PullTarget]:
    if config.targets_file is None:
        return []
    import json

    entries = json.loads(config.targets_file.read_text())
    return [PullTarget.model_validate(entry) for entry in entries]
