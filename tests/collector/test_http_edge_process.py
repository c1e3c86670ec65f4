"""The collector's edge as an attacker meets it: a real ``jboxmon collector`` process with only 256
open files (``ulimit -n 256``), held by idle connections, and flooded with tokenless bodies."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from storage import InfluxClient, InfluxSettings
from storage.server import free_port
from tests.collector.test_http11 import read_response, write_request

pytestmark = pytest.mark.slow
NOFILE = 256


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _few_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@pytest.fixture
def starved(tmp_path: Path, influx_config):
    """A collector process limited to 256 open files, its tokens and a client of its database."""
    config_path = tmp_path / "jboxmon.yaml"
    config_path.write_text(
        f"influxdb:\n  url: {influx_config.url}\n  database: {influx_config.database}\n  timeout: 2s\n"
        f"inventory:\n  path: {tmp_path}/registry.sqlite\ncollector:\n  spool_dir: {tmp_path}/spool\n"
    )
    cli = [sys.executable, "-m", "jboxmon.cli", "--config", str(config_path)]
    issued = subprocess.run([*cli, "tokens", "issue", "jbox-0001", "--json"], capture_output=True, text=True)
    port = free_port()
    process = subprocess.Popen(
        [*cli, "collector", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_few_files,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    client = InfluxClient(InfluxSettings(url=influx_config.url, database=influx_config.database))
    yield process, port, json.loads(issued.stdout)["jbox-0001"], client
    process.kill()
    process.wait()
    client.close()


def post(port: int, data: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        return read_response(sock, bytearray())[0]


def count(client: InfluxClient) -> int:
    frame = client.query("SELECT count(soc_pct) FROM telemetry")
    return 0 if frame.empty else int(frame.iloc[0, -1])


def test_300_idle_connections_under_ulimit_256_leave_writes_stored_or_503(starved) -> None:
    process, port, token, client = starved
    idle = []
    for _ in range(300):  # each accepted (and held) or answered 503 and closed: nothing fails
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    time.sleep(0.5)
    now = int(time.time())
    statuses = [post(port, write_request(token, f"telemetry soc_pct={i} {now - i}".encode())) for i in range(20)]
    assert set(statuses) <= {204, 503}, statuses
    assert 503 in statuses  # the cap (the open-file limit less a reserve) is below 300
    for sock in idle:
        sock.close()
    time.sleep(0.5)
    assert post(port, write_request(token, f"telemetry soc_pct=99 {now - 99}".encode())) == 204
    stored = statuses.count(204) + 1
    deadline = time.monotonic() + 15
    while count(client) < stored and time.monotonic() < deadline:
        time.sleep(0.2)
    assert count(client) == stored
    assert process.poll() is None


def test_tokenless_bodies_leave_the_collector_s_memory_as_it_was(starved) -> None:
    process, port, _, _ = starved
    data = write_request("bogus", b"", "Content-Length: 10000000") + b"telemetry soc_pct=1 1\n" * (9_500_000 // 22)

    def send() -> int | None:  # 9.5 MB of a declared 10 MB body, with a bogus token
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused and closed before all of it was sent: as meant
            try:
                return read_response(sock, bytearray())[0]
            except (ConnectionError, OSError):
                return None

    baseline = rss_mb(process.pid)
    with ThreadPoolExecutor(30) as pool:  # 30 at once
        statuses = list(pool.map(lambda _: send(), range(30)))
    grown = rss_mb(process.pid) - baseline
    print(f"RSS {baseline:.0f} MB before, grown by {grown:.1f} MB after 30 tokenless 9.5 MB bodies")
    assert statuses.count(401) >= 25, statuses
    assert grown < 100


def test_100_header_dribblers_are_closed_in_bounded_time_while_a_box_is_served(starved) -> None:
    process, port, token, _ = starved
    dribblers = []
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST /write HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sock.setblocking(False)
        dribblers.append(sock)
    started, open_ = time.monotonic(), set(range(100))
    slowest = 0.0
    while open_ and time.monotonic() - started < 30:
        for i in list(open_):
            try:
                dribblers[i].send(b"a")  # one byte a second: each resets no deadline
                if dribblers[i].recv(65536) == b"":
                    open_.discard(i)
            except BlockingIOError:
                pass
            except OSError:  # answered 408 and closed
                open_.discard(i)
        began = time.monotonic()
        assert post(port, write_request(token, f"telemetry soc_pct=1 {int(time.time())}".encode())) == 204
        slowest = max(slowest, time.monotonic() - began)
        time.sleep(1)
    closed_after = time.monotonic() - started
    for sock in dribblers:
        sock.close()
    print(f"100 dribblers closed after {closed_after:.1f} s; slowest normal request {slowest * 1000:.0f} ms")
    assert not open_, f"{len(open_)} dribblers still open after {closed_after:.0f} s"
    assert closed_after < 20  # head_timeout (10 s) and the one-second sweep
    assert slowest < 0.5
