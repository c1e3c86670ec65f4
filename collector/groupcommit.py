"""Spool durability for the event loop: one fsync thread serves every waiting request.

Handing each request to a worker thread just to wait for fsync costs more CPU than the request's
own work at a thousand requests per second. Here requests write to the spool in the event loop
and leave a callback; a single thread runs fsync for everything written so far and calls back
all the requests it covered at once. The hand-overs are batched too: the requests of one turn of the
event loop go to the fsync thread with one notify, and come back with one thread-safe callback,
instead of a lock, a notify and a wake-up of the loop per request. And the fsync thread is only
signalled when it sleeps: under load it finds the next batch waiting when its fsync returns.

An fsync of a small append is quick on a good disk (about 0.2 ms) but costs tens of microseconds
of kernel CPU, plus two thread wake-ups: at a thousand requests a second, one per request. So
when requests of different senders arrive close together (within four ``commit_delay``s) the
thread waits ``commit_delay`` before taking a batch, as PostgreSQL's commit_delay with
commit_siblings: the requests of that window share one fsync, for a few milliseconds more of
latency. A lone client sending one request after another, or a request after a quiet spell, is
synced at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from collector.spool import Spool
from storage.supervision import Loop, Supervisor

log = logging.getLogger(__name__)

Done = Callable[[Exception | None], None]  # called in the event loop: None once durable, or the disk error


# an fsync taking longer than this (a dead disk, a hung NFS mount) makes /health name the thread
FSYNC_STALL_S = 30.0


class GroupCommitter:
    def __init__(self, spool: Spool, commit_delay_s: float = 0.0, loops: Supervisor | None = None) -> None:
        self.spool = spool
        self.commit_delay_s = commit_delay_s
        self.loops = loops or Supervisor("collector")
        self._loop: Loop | None = None
        # per event loop, filled by requests during one loop turn, handed over at its end
        self._turn: dict[asyncio.AbstractEventLoop, list[tuple[tuple[int, int], Done]]] = {}
        # handed over, waiting for the fsync thread: (positions and their callbacks, their loop)
        self._waiting: list[tuple[list[tuple[tuple[int, int], Done]], asyncio.AbstractEventLoop]] = []
        self._lock = threading.Lock()  # guards _waiting, _idle and _stopping
        # a plain lock used as a binary signal: held while nobody signalled; released to wake the
        # thread, only ever when it declared itself idle (so never released twice)
        self._signal = threading.Lock()
        self._signal.acquire()
        self._idle = False
        self._stopping = False
        # kept by the event loop: the last request's sender and arrival, and whether requests of
        # different senders came close together since the fsync thread last took a batch (a hint
        # read by that thread: no lock needed)
        self._last_sender: object = None
        self._last_arrival = 0.0
        self._concurrent = False

    def start(self) -> GroupCommitter:
        self._stopping = False
        self._idle = False
        self._loop = self.loops.spawn("spool-fsync", self._run, stall_after_s=FSYNC_STALL_S)
        return self

    def stop(self) -> None:
        self._post(stopping=True)
        if self._loop is not None:
            self._loop.stop(timeout_s=10)
            self._loop = None

    def when_durable(self, position: tuple[int, int], done: Done, sender: object = None) -> None:
        """Call ``done`` in this event loop once the spool is on disk up to ``position``; ``sender``
        (the box or gateway) tells one client's sequence from a fleet's concurrent requests."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        if sender is not self._last_sender and now - self._last_arrival < 4 * self.commit_delay_s:
            self._concurrent = True
        self._last_sender, self._last_arrival = sender, now
        turn = self._turn.get(loop)
        if turn is None:
            turn = self._turn[loop] = []
            loop.call_soon(self._hand_over, loop)  # after the requests already runnable this turn
        turn.append((position, done))

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._post((self._turn.pop(loop), loop))

    def _post(self, turn=None, stopping: bool = False) -> None:
        with self._lock:
            if turn is not None:
                self._waiting.append(turn)
            self._stopping = self._stopping or stopping
            wake, self._idle = self._idle, False
        if wake:
            self._signal.release()

    def _call_back(self, callbacks: list[Done], error: Exception | None) -> None:
        """In the event loop: answer the requests an fsync covered."""
        for done in callbacks:
            try:
                done(error)
            except Exception:  # one request's answer failing must not leave the others unanswered
                log.exception("answering a durable request failed")

    def _run(self, loop: Loop) -> None:
        while True:
            if self.commit_delay_s and self._concurrent:
                time.sleep(self.commit_delay_s)  # concurrent senders: let the window's others join this fsync
            with self._lock:
                batch, self._waiting = self._waiting, []
                self._concurrent = False
                if not batch:
                    if self._stopping:
                        return
                    self._idle = True
            if not batch:
                loop.idle()  # waiting for requests: not stuck however long it lasts
                self._signal.acquire()  # until _post wakes us
                continue
            try:
                self.spool.sync(max(position for turn, _ in batch for position, _ in turn))
                error = None
            except Exception as exc:  # a disk error: the requests fail (5xx is honest here), nothing is acked
                error = exc
            if error is None:
                loop.ok()
            else:  # counted, logged and named by /health until an fsync succeeds again (before the 500 goes)
                loop.failed(error)
            for turn, event_loop in batch:
                try:
                    event_loop.call_soon_threadsafe(self._call_back, [done for _, done in turn], error)
                except RuntimeError:  # that loop is closed: nobody waits for these any more
                    pass
