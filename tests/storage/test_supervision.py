"""The shared supervision of background loops: restart with backoff, count, report, recover."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from storage.supervision import Loop, Supervisor


def wait_for(predicate, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def errors(registry: CollectorRegistry, service: str, loop: str) -> float:
    return registry.get_sample_value(f"jboxmon_{service}_loop_errors_total", {"loop": loop}) or 0.0


def healthy(registry: CollectorRegistry, service: str, loop: str) -> float | None:
    return registry.get_sample_value(f"jboxmon_{service}_loop_healthy", {"loop": loop})


class Flaky:
    """A loop body that raises ``failures`` times, then works until stopped; ``release`` gates the
    first successful iteration so a test can look at the failing state."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0
        self.iterations = 0
        self.release = threading.Event()
        self.stop = threading.Event()

    def __call__(self, loop: Loop) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.release.wait()
        while not self.stop.wait(0.01):
            self.iterations += 1
            loop.ok()


def test_a_loop_that_raises_is_counted_reported_restarted_and_recovers(caplog) -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor("demo", registry, backoff_initial_s=0.01)
    body = Flaky(2, OSError(24, "Too many open files"))
    with caplog.at_level(logging.INFO, logger="storage.supervision"):
        loop = supervisor.spawn("writer", body)
        wait_for(lambda: body.calls == 3)
        assert errors(registry, "demo", "writer") == 2
        [problem] = supervisor.problems()
        assert problem.startswith("loop writer failing (2 error(s) in a row, restarting): OSError: [Errno 24]")
        assert healthy(registry, "demo", "writer") == 0
        body.release.set()
        wait_for(lambda: body.iterations > 2)
        assert supervisor.problems() == []
        assert healthy(registry, "demo", "writer") == 1
        body.stop.set()
        loop.stop()
    assert not loop.alive
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1, "the same error twice in a row: one traceback, then one line"
    assert any("failed again (2 in a row)" in r.getMessage() for r in caplog.records)
    assert any("recovered after 2 error(s)" in r.getMessage() for r in caplog.records)
    assert b'jboxmon_demo_loop_errors_total{loop="writer"} 2.0' in generate_latest(registry)


def test_backoff_doubles_up_to_its_bound_and_resets_after_progress() -> None:
    supervisor = Supervisor("demo", backoff_initial_s=0.01, backoff_max_s=0.04)
    body = Flaky(4, RuntimeError("boom"))
    loop = supervisor.spawn("w", body)
    wait_for(lambda: body.calls == 5)
    assert loop.backoff_s == 0.04  # 0.01, 0.02, 0.04, then held at the bound
    body.release.set()
    wait_for(lambda: body.iterations > 0)
    assert loop.backoff_s == 0.01
    body.stop.set()
    loop.stop()


def test_stop_interrupts_the_backoff_and_no_restart_follows() -> None:
    supervisor = Supervisor("demo", backoff_initial_s=30)
    body = Flaky(1, ValueError("once"))
    loop = supervisor.spawn("w", body)
    wait_for(lambda: body.calls == 1 and loop.failing)
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 2 and not loop.alive and body.calls == 1
    assert supervisor.problems() == []  # a stopped loop is no longer watched


def test_a_loop_without_progress_within_its_bound_is_stuck_unless_idle() -> None:
    now = [0.0]
    supervisor = Supervisor("demo", monotonic=lambda: now[0])
    hold = threading.Event()
    loop = supervisor.spawn("refresher", lambda loop: hold.wait(), stall_after_s=30)
    now[0] = 29.0
    assert supervisor.problems() == []
    now[0] = 31.0
    assert supervisor.problems() == ["loop refresher stuck: no progress for 31s (bound 30s)"]
    loop.idle()  # waiting for work without a bound is not being stuck
    now[0] = 500.0
    assert supervisor.problems() == []
    loop.ok()
    now[0] = 531.0
    assert supervisor.problems() == ["loop refresher stuck: no progress for 31s (bound 30s)"]
    hold.set()
    loop.stop()


def test_a_loop_check_names_its_own_problem_and_a_raising_check_is_shown() -> None:
    supervisor = Supervisor("demo")
    found = ["oldest spooled record 90s old"]
    hold = threading.Event()
    loop = supervisor.spawn("spool-writer", lambda loop: hold.wait(), check=lambda: found[0])
    assert supervisor.problems() == ["loop spool-writer: oldest spooled record 90s old"]
    found[0] = None
    assert supervisor.problems() == []
    loop.check = lambda: 1 / 0
    assert supervisor.problems() == ["loop spool-writer: health check raised ZeroDivisionError: division by zero"]
    hold.set()
    loop.stop()


def test_a_thread_ended_by_systemexit_is_reported_dead() -> None:
    supervisor = Supervisor("demo")

    def body(loop: Loop) -> None:
        raise SystemExit(3)

    loop = supervisor.spawn("w", body)
    wait_for(lambda: not loop.alive)
    assert supervisor.problems() == ["loop w is dead: SystemExit: 3"]


def test_a_scheduled_job_that_raises_is_counted_until_a_later_run_succeeds() -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor("rules", registry)
    outcomes = [ValueError("Can only compare identically-labeled DataFrame objects"), None]

    def evaluate(name: str) -> str:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return name

    job = supervisor.job("group:power", evaluate)
    assert job("power") is None  # the scheduler's thread is not disturbed
    assert errors(registry, "rules", "group:power") == 1
    assert supervisor.problems() == [
        "loop group:power failing (1 error(s) in a row, restarting): "
        "ValueError: Can only compare identically-labeled DataFrame objects"
    ]
    assert job("power") == "power"
    assert supervisor.problems() == []
    supervisor.forget("group:power")
    assert healthy(registry, "rules", "group:power") is None


@pytest.mark.parametrize("stall", [None, 5.0])
def test_a_job_never_run_is_stuck_only_with_a_bound(stall) -> None:
    now = [0.0]
    supervisor = Supervisor("retention", monotonic=lambda: now[0])
    supervisor.job("retention-scheduler", lambda: None, stall_after_s=stall)
    now[0] = 6.0
    expected = [] if stall is None else ["loop retention-scheduler stuck: no progress for 6s (bound 5s)"]
    assert supervisor.problems() == expected
