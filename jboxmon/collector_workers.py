"""``collector.workers: N``: N collector processes behind one listening address.

The supervisor (this process) binds the listening socket once and starts N worker processes
(``python -m jboxmon.collector_worker``) that inherit it and all accept from it: the kernel hands
each new connection to one of them. A shared socket rather than SO_REUSEPORT, because a worker
that dies then leaves no connections stranded in a private accept queue: the others keep
accepting from the same queue while it is replaced.

Each worker is a whole collector with its own spool, ``spool_dir/worker-<i>``, its own writer, its
own token cache: every guarantee holds per worker. A 2xx still means fsynced in that worker's
spool; a worker killed at any moment is restarted by the supervisor (after a short backoff) with
the same index, so it replays its own spool into InfluxDB. What is per worker and not per node:
the per-box rate limit (a box whose connections land on two workers gets up to twice its rate
within a window; keep-alive connections and a load balancer hashing on the token keep a box on
one worker), ``/metrics`` (a scrape sees the worker that answered it) and ``/health``.

Spools left by a layout that no longer exists (``workers`` lowered, or changed from 1 to N or back)
are adopted: worker ``i`` also delivers ``worker-<j>`` for j >= N with j % N == i, and worker 0 the
single-process spool in ``spool_dir`` itself (see :func:`spool_layout`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from config import JboxmonConfig

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.2, 1.0, 5.0)  # a worker that keeps dying is restarted ever more slowly


def spool_layout(spool_dir: Path, workers: int, index: int) -> tuple[Path, list[Path]]:
    """(the spool directory of worker ``index`` of ``workers``, the orphaned spools it adopts)."""
    spool_dir = Path(spool_dir)
    existing = sorted(spool_dir.glob("worker-*")) if spool_dir.is_dir() else []
    numbered = {int(path.name.split("-", 1)[1]): path for path in existing if path.name.split("-", 1)[1].isdigit()}
    if workers == 1:  # the single-process collector: its spool is spool_dir, every worker spool is an orphan
        return spool_dir, [numbered[j] for j in sorted(numbered)]
    orphans = [numbered[j] for j in sorted(numbered) if j >= workers and j % workers == index]
    if index == 0 and (spool_dir / "VERSION").exists():
        orphans.insert(0, spool_dir)
    return spool_dir / f"worker-{index}", orphans


class CollectorWorkers:
    """The supervisor: ``start()`` binds and starts the workers, ``stop()`` (idempotent) stops them."""

    def __init__(self, config: JboxmonConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host, self._port = host, port
        self.workers = config.collector.workers
        self.processes: dict[int, subprocess.Popen] = {}
        self.restarts = 0
        self._socket: socket.socket | None = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1] if self._socket else self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.config.collector.tls_cert else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> CollectorWorkers:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.create_server((self.host, self._port), family=family, backlog=4096)
        self._socket.set_inheritable(True)
        self._stopping.clear()
        for index in range(self.workers):
            self._spawn(index)
        self._wait_ready()
        self._monitor = threading.Thread(target=self._watch, name="collector-supervisor", daemon=True)
        self._monitor.start()
        log.info("collector: %d workers listening on %s", self.workers, self.url)
        return self

    def stop(self) -> None:
        if self._socket is None:
            return
        self._stopping.set()
        if self._monitor is not None:
            self._monitor.join(timeout=10)
            self._monitor = None
        with self._lock:
            processes = list(self.processes.values())
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # each drains its writer, then exits
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._socket.close()
        self._socket = None

    def pids(self) -> dict[int, int]:
        """Worker index -> process id (for tests and tools)."""
        with self._lock:
            return {index: process.pid for index, process in self.processes.items()}

    def _spawn(self, index: int) -> None:
        fd = self._socket.fileno()
        command = [sys.executable, "-m", "jboxmon.collector_worker", "--index", str(index), "--fd", str(fd)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, pass_fds=(fd,))
        # the config travels on stdin (secrets stay references, as in the file) and is validated again
        process.stdin.write(self.config.model_dump_json(by_alias=True).encode())
        process.stdin.close()
        with self._lock:
            self.processes[index] = process

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        # the socket accepts from the first instant; a worker's readiness is its own log line. Here
        # only check that none of them died while starting (a bad config, a locked spool)
        deadline = time.monotonic() + min(timeout_s, 1.0)
        while time.monotonic() < deadline:
            for index, process in self.processes.items():
                if process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"collector worker {index} exited with {process.returncode} while starting")
            time.sleep(0.05)

    def _watch(self) -> None:
        failures: dict[int, int] = {}
        while not self._stopping.wait(0.2):
            with self._lock:
                dead = [(index, p.returncode) for index, p in self.processes.items() if p.poll() is not None]
            for index, code in dead:
                count = failures.get(index, 0)
                backoff = RESTART_BACKOFF_S[min(count, len(RESTART_BACKOFF_S) - 1)]
                log.error("collector worker %d exited with %s: restarting it in %.1fs", index, code, backoff)
                if self._stopping.wait(backoff):
                    return
                self._spawn(index)
                self.restarts += 1
                failures[index] = count + 1


def inherited_socket(fd: int) -> socket.socket:
    """The listening socket a worker inherited from the supervisor."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    os.set_inheritable(fd, False)
    return sock
