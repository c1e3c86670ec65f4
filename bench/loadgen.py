"""An open-loop load generator for the fleet benchmarks: requests are offered on schedule.

Each box has a due time for each of its requests (its phase in the send interval plus the interval
times the round). A generator process sleeps until a request is due and hands it to one of its
keep-alive connections; the latency recorded is from the DUE time to the end of the answer, so a
collector that falls behind is charged for the whole wait of every request queued behind it (no
coordinated omission). The generator checks itself: the lag between a request's due time and the
moment the dispatcher handed it over is recorded apart, and a run whose dispatcher fell behind is
reported as failed, not as a slow collector.

Bodies are built before the clock starts: a payload-v2 body is a per-box header joined to a
per-round sample block shared by every box, so building costs nothing during the run.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import time
from dataclasses import dataclass, field

import numpy as np

# a dispatcher handing a request over this late has fallen behind: its latencies would be its own
GENERATOR_LAG_LIMIT_S = 0.050


@dataclass
class Shard:
    """One generator process's part of the fleet."""

    port: int
    boxes: list[tuple[str, str]]  # (jbox_id, token)
    phases: list[float]  # each box's offset within the interval, seconds
    rounds: int
    interval_s: float
    start_s: int  # data timestamps start here (seconds since the epoch)
    began: float  # wall-clock time (time.time()) of round 0, the same for every shard
    connections: int
    payload: str = "v2"  # or "lp": line protocol to /write, one line per sample


@dataclass
class ShardResult:
    latencies: np.ndarray  # seconds from due time to answer, one per request answered
    lags: np.ndarray  # seconds from due time to hand-over, one per request offered
    statuses: dict[int, int] = field(default_factory=dict)
    points_acked: int = 0
    offered: int = 0
    last_answer: float = 0.0
    errors: int = 0


def samples_per_request(interval_s: float) -> int:
    """A box samples once per second and sends what it sampled since its last request."""
    return max(1, round(interval_s))


def sample_blocks(rounds: int, interval_s: float, start_s: int) -> list[bytes]:
    """The JSON of one request's samples for each round (every box sends the same values)."""
    blocks = []
    for round_ in range(rounds):
        first = start_s + int(round_ * interval_s)
        samples = [
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first + i)),
                "p_meas_kw": 100.0 + i,
                "p_setpoint_kw": 100.0,
                "grid_freq_hz": 50.0,
                "soc_pct": 50.0,
                "temp_max_c": 30.0,
            }
            for i in range(samples_per_request(interval_s))
        ]
        blocks.append(json.dumps(samples).encode())
    return blocks


def line_blocks(rounds: int, interval_s: float, start_s: int) -> list[bytes]:
    """The line protocol of one request's samples for each round (the box comes from its token)."""
    return [
        b"\n".join(
            b"telemetry p_meas_kw=%d,p_setpoint_kw=100,grid_freq_hz=50,soc_pct=50,temp_max_c=30 %d"
            % (100 + i, start_s + int(round_ * interval_s) + i)
            for i in range(samples_per_request(interval_s))
        )
        for round_ in range(rounds)
    ]


def _request_head(token: str, length: int, payload: str = "v2") -> bytes:
    target, media = ("/write?precision=s", "text/plain") if payload == "lp" else ("/v2/telemetry", "application/json")
    return (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: {media}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def _connection(
    port: int, jobs: asyncio.Queue, result: ShardResult, latencies: list, wall_offset: float, samples: int
):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (job := await jobs.get()) is not None:
            due, request = job
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            done = time.perf_counter() + wall_offset
            latencies.append(done - due)
            result.last_answer = max(result.last_answer, done)
            status = int(status_line.split()[1]) if status_line else 0
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status in (202, 204):
                result.points_acked += samples
    except (ConnectionError, asyncio.IncompleteReadError):
        result.errors += 1
    finally:
        writer.close()


async def _run_shard(shard: Shard) -> ShardResult:
    lines = shard.payload == "lp"
    build = line_blocks if lines else sample_blocks
    blocks = build(shard.rounds, shard.interval_s, shard.start_s)
    heads = [f'{{"header":{{"jbox_id":"{box}"}},"samples":'.encode() for box, _ in shard.boxes]
    # every request of the run, built now: (due wall time, bytes), in due order
    schedule = []
    for round_ in range(shard.rounds):
        for index, (_, token) in enumerate(shard.boxes):
            body = blocks[round_] if lines else heads[index] + blocks[round_] + b"}"
            due = shard.began + round_ * shard.interval_s + shard.phases[index]
            schedule.append((due, _request_head(token, len(body), shard.payload) + body))
    schedule.sort(key=lambda item: item[0])

    # perf_counter is monotonic; the offset maps it onto the wall clock the shards agree on
    wall_offset = time.time() - time.perf_counter()
    result = ShardResult(latencies=np.empty(0), lags=np.empty(0), offered=len(schedule))
    jobs: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []
    lags = np.empty(len(schedule))
    workers = [
        asyncio.create_task(
            _connection(shard.port, jobs, result, latencies, wall_offset, samples_per_request(shard.interval_s))
        )
        for _ in range(shard.connections)
    ]
    for position, (due, request) in enumerate(schedule):
        delay = due - (time.perf_counter() + wall_offset)
        if delay > 0:
            await asyncio.sleep(delay)
        lags[position] = max(0.0, time.perf_counter() + wall_offset - due)
        jobs.put_nowait((due, request))
    for _ in workers:
        jobs.put_nowait(None)
    await asyncio.gather(*workers)
    result.latencies = np.asarray(latencies)
    result.lags = lags
    return result


def _shard_main(shard: Shard, results: mp.Queue) -> None:
    results.put(asyncio.run(_run_shard(shard)))


@dataclass
class FleetRun:
    boxes: int
    seconds: float
    interval_s: float
    offered: int
    answered: int
    statuses: dict[int, int]
    points_acked: int
    latencies: np.ndarray
    lags: np.ndarray
    elapsed_s: float
    errors: int

    @property
    def generator_behind(self) -> bool:
        """More than 1 % of requests handed over later than the limit: the load was not offered."""
        return float(np.mean(self.lags > GENERATOR_LAG_LIMIT_S)) > 0.01

    def percentile_ms(self, share: float) -> float:
        return float(np.percentile(self.latencies, share * 100)) * 1000 if len(self.latencies) else float("inf")

    @property
    def offered_rate(self) -> float:
        return self.offered / self.seconds

    @property
    def achieved_rate(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def accepted(self) -> int:
        """Requests answered 202 (JSON) or 204 (line protocol)."""
        return self.statuses.get(202, 0) + self.statuses.get(204, 0)


def run_fleet(
    port: int,
    tokens: dict[str, str],
    *,
    seconds: float,
    interval_s: float = 10.0,
    start_s: int,
    processes: int = 2,
    connections: int = 128,
    payload: str = "v2",
) -> FleetRun:
    """Offer every box's requests on schedule from ``processes`` generator processes."""
    boxes = list(tokens.items())
    rounds = max(1, int(seconds // interval_s))
    began = time.time() + 1.0 + len(boxes) * rounds / 200_000  # time for the shards to build their bodies
    phases = [index * interval_s / len(boxes) for index in range(len(boxes))]
    context = mp.get_context("fork")
    results: mp.Queue = context.Queue()
    children = []
    for part in range(processes):
        shard = Shard(
            port=port,
            boxes=boxes[part::processes],
            phases=phases[part::processes],
            rounds=rounds,
            interval_s=interval_s,
            start_s=start_s,
            began=began,
            connections=max(1, connections // processes),
            payload=payload,
        )
        child = context.Process(target=_shard_main, args=(shard, results), daemon=True)
        child.start()
        children.append(child)
    parts = [results.get() for _ in children]
    for child in children:
        child.join()
    statuses: dict[int, int] = {}
    for part in parts:
        for status, count in part.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    last = max((part.last_answer for part in parts), default=began)
    return FleetRun(
        boxes=len(boxes),
        seconds=rounds * interval_s,
        interval_s=interval_s,
        offered=sum(part.offered for part in parts),
        answered=sum(statuses.values()),
        statuses=statuses,
        points_acked=sum(part.points_acked for part in parts),
        latencies=np.concatenate([part.latencies for part in parts]),
        lags=np.concatenate([part.lags for part in parts]),
        elapsed_s=max(last - began, 1e-9),
        errors=sum(part.errors for part in parts),
    )
