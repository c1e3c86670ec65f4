"""The state machine with injected time: pending, firing, resolved, hysteresis, no data."""

from __future__ import annotations

from rules.state import RuleStates

S = 1_000_000_000


def run(states: RuleStates, timeline: list[tuple[int, dict]]) -> list[tuple[int, str, str]]:
    out = []
    for t, results in timeline:
        out += [(tr.at // S, tr.key, tr.to) for tr in states.step(t * S, results)]
    return out


def on(value: float = 1.0, clear: bool = False):
    return {"b1": (value, True, clear)}


def off(clear: bool = False):
    return {"b1": (0.0, False, clear)}


def test_fires_only_after_for_and_resolves() -> None:
    states = RuleStates(for_s=30, keep_firing_for_s=0, has_clear=False)
    events = run(states, [(0, on()), (10, on()), (20, on()), (30, on()), (40, on()), (50, off())])
    assert events == [(0, "b1", "pending"), (30, "b1", "firing"), (50, "b1", "resolved")]


def test_a_gap_in_the_condition_resets_the_timer() -> None:
    states = RuleStates(for_s=30, keep_firing_for_s=0, has_clear=False)
    events = run(states, [(0, on()), (10, on()), (20, off()), (30, on()), (50, on()), (60, on())])
    assert events == [(0, "b1", "pending"), (20, "b1", "inactive"), (30, "b1", "pending"), (60, "b1", "firing")]


def test_keep_firing_for_bridges_short_gaps() -> None:
    states = RuleStates(for_s=0, keep_firing_for_s=30, has_clear=False)
    events = run(states, [(0, on()), (10, off()), (20, off()), (30, on()), (40, off()), (70, off())])
    assert events == [(0, "b1", "pending"), (0, "b1", "firing"), (70, "b1", "resolved")]


def test_hysteresis_resolves_only_on_the_clear_condition() -> None:
    states = RuleStates(for_s=0, keep_firing_for_s=0, has_clear=True)
    timeline = [(0, on()), (10, off(clear=False)), (20, off(clear=False)), (30, off(clear=True))]
    assert run(states, timeline) == [(0, "b1", "pending"), (0, "b1", "firing"), (30, "b1", "resolved")]


def test_no_data_keeps_the_state() -> None:
    states = RuleStates(for_s=0, keep_firing_for_s=0, has_clear=False)
    events = run(states, [(0, on()), (10, {}), (20, {}), (30, off())])
    assert events == [(0, "b1", "pending"), (0, "b1", "firing"), (30, "b1", "resolved")]
    assert states.firing() == set()


def test_keep_firing_for_counts_from_the_first_evaluation_found_off() -> None:
    """As Prometheus: with keep_firing_for equal to the interval, one off evaluation is bridged."""
    states = RuleStates(for_s=0, keep_firing_for_s=10, has_clear=False)
    events = run(states, [(0, on()), (10, off()), (20, on()), (30, off()), (40, off())])
    assert events == [(0, "b1", "pending"), (0, "b1", "firing"), (40, "b1", "resolved")]
