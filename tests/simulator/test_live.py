"""Live mode against a real HTTP server on port 0: payload shapes, auth header, retries, pacing."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jboxmon.cli import main
from simulator.live import LiveOptions, run_live
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from tests.simulator.conftest import START_MS

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
V1_TELEMETRY_KEYS = {"jbox_id", "ts", "kind", "p_kw", "sp_kw", "f_hz", "soc", "t_max"}
V1_HEARTBEAT_KEYS = {"jbox_id", "ts", "kind", "uptime_s", "fw", "disk_pct"}
SAMPLE_KEYS = {"time", "p_meas_kw", "p_setpoint_kw", "grid_freq_hz", "soc_pct", "temp_max_c"}


class Collector(ThreadingHTTPServer):
    """Records every request; answers 429 to the first ``throttle`` requests."""

    daemon_threads = True

    def __init__(self, throttle: int = 0, refuse: int | None = None, throttle_status: int = 429) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str | None, dict]] = []
        self.throttle = throttle
        self.throttle_status = throttle_status  # 429 with Retry-After, or e.g. 503 without
        self.refuse = refuse  # answer every request with this (permanent) status
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            throttled = self.server.throttle > 0
            if throttled:
                self.server.throttle -= 1
            else:
                self.server.requests.append((self.path, self.headers.get("Authorization"), body))
        status = self.server.refuse or (self.server.throttle_status if throttled else 204)
        self.send_response(status)
        if throttled and status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector(throttle=3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_live_payloads_and_tokens(collector):
    scenario = build_scenario(boxes=12, seed=4, window=SimWindow(START_MS, 1200, 10), fault_rate=0.5)
    tokens = {box: f"tok-{box}" for box in scenario.fleet.ids[:6]}
    options = LiveOptions(collector_url=collector.url, speed=1200, batch_s=30, tokens=tokens, workers=4)
    report = run_live(scenario, options)
    assert not report.failed and report.retries == 3
    assert sum(report.sent.values()) == len(collector.requests)
    fleet = scenario.fleet
    version = dict(zip(fleet.ids, fleet.payload_version.tolist(), strict=True))
    silent = {e.jbox_id for e in scenario.plan.events if e.kind == "silent"}
    seen_paths, seqs = set(), {}
    for path, auth, body in collector.requests:
        seen_paths.add(path)
        box = body["header"]["jbox_id"] if path == "/v2/telemetry" else body["jbox_id"]
        assert auth == (f"Token tok-{box}" if box in tokens else None)
        if path == "/v1/telemetry":
            assert version[box] == 1
            keys = V1_TELEMETRY_KEYS if body["kind"] == "telemetry" else V1_HEARTBEAT_KEYS
            assert set(body) == keys and isinstance(body["ts"], float)
        elif path == "/v2/telemetry":
            assert version[box] == 2
            assert set(body) <= {"header", "samples", "heartbeat"}
            assert set(body["header"]) == {"jbox_id", "fw_version", "sent_at", "seq"}
            assert TIME.match(body["header"]["sent_at"])
            assert all(set(s) == SAMPLE_KEYS and TIME.match(s["time"]) for s in body["samples"])
            seqs.setdefault(box, []).append(body["header"]["seq"])
            if "heartbeat" in body:
                assert set(body["heartbeat"]) == {"time", "uptime_s", "disk_used_pct"}
        else:
            assert path == "/v1/logs"
            assert body["entries"] and all(
                set(e) == {"time", "level", "code", "message"} and TIME.match(e["time"]) for e in body["entries"]
            )
    assert seen_paths == {"/v1/telemetry", "/v2/telemetry", "/v1/logs"}
    v2_talking = {b for b, v in version.items() if v == 2} - silent
    assert v2_talking and all(sorted(seqs[b]) == list(range(len(seqs[b]))) for b in v2_talking)
    # A v2 box that never goes silent sends 120 samples in 40 batches of 3 (30 s at 10 s).
    quiet_free = sorted(v2_talking)[0]
    samples = [
        s
        for p, _, b in collector.requests
        if p == "/v2/telemetry" and b["header"]["jbox_id"] == quiet_free
        for s in b["samples"]
    ]
    assert len(samples) == 120 and len(seqs[quiet_free]) == 40


def test_cli_live_stops_by_itself(collector, tmp_path, capsys):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"jbox-0001": "secret-1"}))
    code = main(
        [
            "simulate",
            "--live",
            "--collector-url",
            collector.url,
            "--speed",
            "300",
            "--duration",
            "1s",
            "--boxes",
            "5",
            "--seed",
            "2",
            "--tokens",
            str(tokens),
            "--truth",
            str(tmp_path / "truth.jsonl"),
        ]
    )
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out
    # five boxes over five simulated minutes: no fault planned, so no (empty) ground truth is written
    assert "sent" in out and not (tmp_path / "truth.jsonl").exists()
    assert "no fault in this window, no ground truth written" in captured.err
    assert collector.requests
    assert {auth for _, auth, body in collector.requests if body.get("jbox_id") == "jbox-0001"} <= {"Token secret-1"}


def _serve(server: Collector) -> Collector:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_permanent_refusal_is_not_retried() -> None:
    server = _serve(Collector(refuse=400))
    try:
        scenario = build_scenario(boxes=3, seed=4, window=SimWindow(START_MS, 60, 10), fault_rate=0)
        report = run_live(scenario, LiveOptions(collector_url=server.url, speed=600, workers=2), sleep=lambda _: None)
    finally:
        server.shutdown()
        server.server_close()
    assert report.retries == 0 and not report.sent
    assert sum(report.failed.values()) == len(server.requests) > 0


def test_an_overloaded_collector_is_retried_after_a_pause() -> None:
    server = _serve(Collector(throttle=2, throttle_status=503))
    pauses: list[float] = []
    try:
        scenario = build_scenario(boxes=1, seed=4, window=SimWindow(START_MS, 10, 10), fault_rate=0)
        options = LiveOptions(collector_url=server.url, speed=600, workers=1)
        report = run_live(scenario, options, clock=lambda: 0.0, sleep=pauses.append)
    finally:
        server.shutdown()
        server.server_close()
    assert report.retries == 2 and not report.failed
    assert pauses == [1.0, 1.0]  # 503 without Retry-After: one second each


def test_a_run_without_faults_never_replaces_a_ground_truth(collector, tmp_path, capsys):
    truth = tmp_path / "truth.jsonl"
    truth.write_text('{"jbox_id": "jbox-0003", "kind": "stuck"}\n')  # the backfill's truth, say
    code = main(["simulate", "--live", "--collector-url", collector.url, "--speed", "300", "--duration", "1s",
                 "--boxes", "5", "--seed", "2", "--truth", str(truth)])  # fmt: skip
    assert code == 0 and truth.read_text() == '{"jbox_id": "jbox-0003", "kind": "stuck"}\n'
    assert f"{truth} kept as it was" in capsys.readouterr().err


def test_ground_truth_default_is_one_file_per_run(tmp_path):
    from jboxmon.commands.simulate import per_run

    base = tmp_path / "ground_truth.jsonl"
    live, backfill = per_run(base, "live", 1796617740000), per_run(base, "backfill", 1796614140000)
    assert live.name == "ground_truth.live-20261207T042900Z.jsonl" and live.parent == tmp_path
    assert backfill.name == "ground_truth.backfill-20261207T032900Z.jsonl"
