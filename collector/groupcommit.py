"""Await spool durability from the event loop: one fsync thread serves every waiting request.

Handing each request to a worker thread just to wait for fsync costs more CPU than the request's
own work at a thousand requests per second. Here requests write to the spool in the event loop
and await a future; a single thread runs fsync for everything written so far and resolves all
the futures it covered at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from collector.spool import Spool

log = logging.getLogger(__name__)


class GroupCommitter:
    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._waiting: list[tuple[tuple[int, int], asyncio.Future, asyncio.AbstractEventLoop]] = []
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> GroupCommitter:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="spool-fsync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    async def durable(self, position: tuple[int, int] | None) -> None:
        """Return once the spool is on disk up to ``position``."""
        if position is None:
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._condition:
            self._waiting.append((position, future, loop))
            self._condition.notify()
        await future

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._stopping:
                    self._condition.wait()
                if self._stopping and not self._waiting:
                    return
                batch, self._waiting = self._waiting, []
            try:
                self.spool.sync(max(position for position, _, _ in batch))
                error = None
            except OSError as exc:  # a disk error: the requests fail (5xx is honest here), nothing is acked
                log.error("spool fsync failed: %s", exc)
                error = exc
            for _, future, loop in batch:
                loop.call_soon_threadsafe(_settle, future, error)


def _settle(future: asyncio.Future, error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
