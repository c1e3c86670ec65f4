"""Benchmark: the libraries made for the collector's hot path against the current code, same run.

(a) a payload-v2 body (header + 10 samples) : stdlib ``json.loads``, ``orjson.loads``,
    ``msgspec.json.decode`` untyped, and typed into a Struct built from the schema (which validates
    names and types in the same C pass); and the whole current decode + validate + encode path.
(b) a 5,000-line line-protocol body for many boxes: the collector's ``fastlines`` path (parse,
    validate, normalise), its general parser, and ``line_protocol_parser.parse_line`` per line
    (parse only, no checks).
(c) HTTP servers: the collector's server CPU per request is measured for a minimal POST route
    (Starlette under uvicorn+httptools+uvloop, a bare ASGI callable under uvicorn, the collector's
    own HTTP/1.1 protocol on httptools, and both ASGI apps under granian) with a keep-alive client
    in its own process; CPU is read from /proc for the server's process tree, so the figure is CPU
    per request, not a throughput that depends on the client.

Each line prints microseconds per call and the ratio against the current code.

``--baseline TREE`` also times the fast paths (collector/fastjson.py, collector/fastlines.py) of
another source tree on the same bodies, in the same process (loaded from the tree's files, on this
tree's parser and validator), and prints the ratio baseline / current for each body.

    .venv/bin/python bench/bench_decode.py [--seconds 1.0] [--requests 20000] [--no-servers]
    .venv/bin/python bench/bench_decode.py --baseline TREE --no-servers   # the fast paths against TREE's
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import line_protocol_parser
import msgspec
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector import payloads  # noqa: E402
from collector.fastjson import V2FastPath  # noqa: E402
from collector.fastlines import validate_body  # noqa: E402
from collector.lineparser import parse_lines  # noqa: E402
from collector.scope import GatewayScope  # noqa: E402
from collector.validate import Validator  # noqa: E402
from config.collector import default_schema  # noqa: E402
from inventory import Box, Gateway  # noqa: E402
from storage.server import free_port  # noqa: E402

BOX = Box("jbox-0001", "site-001", "IDF", "fcr")


def per_call_us(function: Callable[[], object], seconds: float) -> float:
    """Best of three timed loops, microseconds per call."""
    best = float("inf")
    for _ in range(3):
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds / 3:
            for _ in range(50):
                function()
            calls += 50
        best = min(best, elapsed / calls * 1e6)
    return best


def v2_body(start_s: int) -> bytes:
    samples = [
        {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_s + i)),
            "p_meas_kw": 100.0 + i,
            "p_setpoint_kw": 100.0,
            "grid_freq_hz": 50.01,
            "soc_pct": 50.5,
            "temp_max_c": 30.25,
        }
        for i in range(10)
    ]
    return json.dumps({"header": {"jbox_id": BOX.jbox_id, "seq": 1}, "samples": samples}).encode()


def v2_struct():
    """A msgspec Struct for the v2 body, its sample fields taken from the telemetry schema."""
    fields = [(name, float | None, None) for name in default_schema()["telemetry"].fields]
    sample = msgspec.defstruct("Sample", [("time", str | None, None), *fields], forbid_unknown_fields=True)
    header = msgspec.defstruct(
        "Header",
        [
            ("jbox_id", str | None, None),
            ("fw_version", str | None, None),
            ("sent_at", str | None, None),
            ("seq", int | None, None),
        ],
        forbid_unknown_fields=True,
    )
    return msgspec.defstruct(
        "V2",
        [("header", header), ("samples", list[sample], []), ("heartbeat", dict | None, None)],
        forbid_unknown_fields=True,
    )


def lp_body(lines: int, start_ns: int) -> str:
    return "\n".join(
        f"telemetry,jbox_id=jbox-{i % 1000:04d} p_meas_kw={i % 997}.5,p_setpoint_kw=100.0,grid_freq_hz=50.01,"
        f"soc_pct=51.2,temp_max_c=31.5 {start_ns + i * 1_000_000}"
        for i in range(lines)
    )


def report(name: str, us: float, baseline: float, unit: str = "call") -> None:
    print(f"  {name:<58} {us:>9.2f} us/{unit}  {baseline / us:>6.2f}x")


def decode_section(seconds: float) -> None:
    now = time.time()
    body = v2_body(int(now) - 20)
    schema = default_schema()
    validator = Validator(schema, max_future_s=300, max_age_s=7 * 86400)
    decoder = msgspec.json.Decoder(v2_struct())
    untyped = msgspec.json.Decoder()

    def current() -> None:
        validator.check(BOX, payloads.VERSIONS["v2"].decode(json.loads(body)), int(now * 1e9))

    print(f"(a) payload v2, header + 10 samples ({len(body)} bytes); ratio = current full path / this")
    baseline = per_call_us(current, seconds)
    report("general path: json.loads + v2.decode + Validator.check", baseline, baseline)
    fast = V2FastPath(validator)
    assert fast.accept(BOX, body, int(now * 1e9)) is not None
    report(
        "fast path (collector/fastjson.py): msgspec typed + compiled encode",
        per_call_us(lambda: fast.accept(BOX, body, int(now * 1e9)), seconds),
        baseline,
    )
    report("json.loads (stdlib) alone", per_call_us(lambda: json.loads(body), seconds), baseline)
    report("orjson.loads alone", per_call_us(lambda: orjson.loads(body), seconds), baseline)
    report("msgspec.json.decode untyped alone", per_call_us(lambda: untyped.decode(body), seconds), baseline)
    report(
        "msgspec typed decode (names and types checked) alone",
        per_call_us(lambda: decoder.decode(body), seconds),
        baseline,
    )


def lines_section(seconds: float) -> None:
    now_ns = time.time_ns()
    body = lp_body(5000, now_ns - 3600 * 10**9)
    lines = body.split("\n")
    validator = Validator(default_schema(), max_future_s=300, max_age_s=7 * 86400)
    print("(b) line protocol, 5,000 lines for 1,000 boxes; ratio = fastlines / this; us per line")

    def parser_only() -> None:
        for line in lines:
            line_protocol_parser.parse_line(line)

    # a box token writes only its own box: fastlines is timed on the same lines for one box
    own = "\n".join(line.split(",", 1)[0] + ",jbox_id=jbox-0001 " + line.split(" ", 1)[1] for line in lines)
    baseline = per_call_us(lambda: validate_body(validator, BOX, own, "ns", now_ns), seconds) / 5000
    report("current fastlines (parse + validate + normalise)", baseline, baseline, "line")
    report(
        "current general parser (parse_lines only)",
        per_call_us(lambda: parse_lines(own), seconds) / 5000,
        baseline,
        "line",
    )
    report(
        "line_protocol_parser.parse_line per line (parse only)",
        per_call_us(parser_only, seconds) / 5000,
        baseline,
        "line",
    )


def load_module(tree: Path, module: str):
    """``collector/<module>.py`` of another tree, as a module of its own (its imports resolve here)."""
    spec = importlib.util.spec_from_file_location(f"baseline_{module}", tree / "collector" / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # msgspec resolves a Struct's annotations through its module
    spec.loader.exec_module(loaded)
    return loaded


def baseline_section(tree: Path, seconds: float) -> None:
    """The fast paths of ``tree`` against this tree's, per body; ratio = baseline / current."""
    now = time.time()
    now_ns = time.time_ns()
    schema = default_schema()
    modules = {"current": (V2FastPath, validate_body)}
    old = load_module(tree, "fastjson"), load_module(tree, "fastlines")
    modules["baseline"] = (old[0].V2FastPath, old[1].validate_body)
    print(f"(d) fast paths, this tree against {tree}; ratio = baseline / current")
    body = v2_body(int(now) - 20)
    timings = {}
    for name, (fast_json, _) in modules.items():
        fast = fast_json(Validator(schema, max_future_s=300, max_age_s=7 * 86400))
        assert fast.accept(BOX, body, int(now * 1e9)).count == 10
        timings[name] = per_call_us(lambda fast=fast: fast.accept(BOX, body, int(now * 1e9)), seconds)
    print(f"  {'payload v2, 10 samples':<44} {timings['baseline']:>8.2f} -> {timings['current']:>7.2f} us/request"
          f"  {timings['baseline'] / timings['current']:>5.2f}x")  # fmt: skip
    own_key = "telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-001"
    gateway = GatewayScope(Gateway("gw-1", site="site-001"), lambda jbox_id: Box(jbox_id, "site-001", "IDF", "fcr"))
    cases = [
        (f"box, own lines, {lines} per request", BOX, lp_lines(own_key, lines, now_ns), lines)
        for lines in (10, 50, 5000)
    ] + [("gateway, 5,000 lines for 1,000 boxes", gateway, lp_body(5000, now_ns - 3600 * 10**9), 5000)]
    for title, scope, text, lines in cases:
        timings = {}
        for name, (_, fast_lines) in modules.items():
            validator = Validator(schema, max_future_s=300, max_age_s=7 * 86400)
            assert fast_lines(validator, scope, text, "ns", now_ns).count == lines
            timings[name] = (
                per_call_us(
                    lambda fast_lines=fast_lines, validator=validator, scope=scope, text=text: fast_lines(
                        validator, scope, text, "ns", now_ns
                    ),
                    seconds,
                )
                / lines
            )
        print(f"  {title:<44} {timings['baseline']:>8.3f} -> {timings['current']:>7.3f} us/line"
              f"     {timings['baseline'] / timings['current']:>5.2f}x")  # fmt: skip


def lp_lines(key: str, lines: int, now_ns: int) -> str:
    """A box's own lines, one series, a second apart, the newest a minute old."""
    return "\n".join(
        f"{key} p_meas_kw={i % 997}.5,p_setpoint_kw={i % 991}.0,grid_freq_hz=50.01,soc_pct=51.2,temp_max_c=31.5 "
        f"{now_ns - 60 * 10**9 - (lines - i) * 10**9}"
        for i in range(lines)
    )


# -- (c) servers --------------------------------------------------------------------------------


async def _raw_app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _starlette_app():
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def post(request):
        await request.body()
        return Response(status_code=204)

    return Starlette(routes=[Route("/v2/telemetry", post, methods=["POST"])])


raw_app = _raw_app
starlette_app = _starlette_app()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children processes, from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def _client(port: int, body: bytes, requests: int, connections: int) -> None:
    head = (
        f"POST /v2/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    async def one(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count):
            writer.write(head + body)
            length = 0
            await reader.readline()
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(one(requests // connections) for _ in range(connections)))


def _client_main(port: int, body: bytes, requests: int, connections: int) -> None:
    asyncio.run(_client(port, body, requests, connections))


def _serve(command: list[str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=Path(__file__).parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            asyncio.run(asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1))
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server did not start: {command}")


def server_section(requests: int) -> None:
    body = v2_body(int(time.time()) - 20)
    python = sys.executable
    servers = {
        "uvicorn (httptools, uvloop) + Starlette route": [
            python,
            "-m",
            "uvicorn",
            "bench_decode:starlette_app",
            "--http",
            "httptools",
            "--loop",
            "uvloop",
        ],
        "uvicorn (httptools, uvloop) + bare ASGI callable": [
            python,
            "-m",
            "uvicorn",
            "bench_decode:raw_app",
            "--http",
            "httptools",
            "--loop",
            "uvloop",
        ],
        "the collector's own HTTP/1.1 protocol (httptools, uvloop)": [python, "bench_decode.py", "--serve-protocol"],
        "granian ASGI + Starlette route": [
            python,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--loop",
            "uvloop",
            "bench_decode:starlette_app",
        ],
        "granian ASGI + bare ASGI callable": [
            python,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--loop",
            "uvloop",
            "bench_decode:raw_app",
        ],
    }
    print(f"(c) server CPU per request, {requests:,} keep-alive POSTs of {len(body)} bytes, 16 connections")
    baseline = None
    for name, command in servers.items():
        port = free_port()
        if "--serve-protocol" in command:
            command = [*command, str(port)]
        elif "uvicorn" in command:
            command = [*command, "--port", str(port), "--log-level", "warning"]
        else:
            command = [*command, "--port", str(port), "--log-level", "warning", "--workers", "1"]
        process = _serve(command, port)
        try:
            _client_main(port, body, 200, 4)  # warm up
            before = _cpu_seconds(process.pid)
            client = mp.get_context("fork").Process(target=_client_main, args=(port, body, requests, 16))
            started = time.perf_counter()
            client.start()
            client.join()
            wall = time.perf_counter() - started
            used = _cpu_seconds(process.pid) - before
        finally:
            process.terminate()
            process.wait()
        us = used / requests * 1e6
        baseline = baseline or us
        print(f"  {name:<58} {us:>9.1f} us CPU/request {baseline / us:>6.2f}x  ({requests / wall:,.0f} req/s)")


def serve_protocol(port: int) -> None:
    """The collector's server (collector/http11.py) with one route answering 204 at once, until killed."""
    from collector.httplimits import HttpLimits
    from collector.httpserver import HttpServer
    from collector.serving import BackgroundHttp

    def no_content(request, reply) -> None:
        reply(204, [], b"")

    server = HttpServer({"/v2/telemetry": no_content}, no_content, HttpLimits(max_body_bytes=1 << 20))
    BackgroundHttp(server, port=port).start()
    while True:
        time.sleep(3600)


def main() -> None:
    if sys.argv[1:2] == ["--serve-protocol"]:
        serve_protocol(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per measurement")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--no-servers", action="store_true")
    parser.add_argument("--baseline", type=Path, help="also time the fast paths of this source tree")
    args = parser.parse_args()
    decode_section(args.seconds)
    lines_section(args.seconds)
    if args.baseline:
        baseline_section(args.baseline, args.seconds)
    if not args.no_servers:
        server_section(args.requests)


if __name__ == "__main__":
    main()
