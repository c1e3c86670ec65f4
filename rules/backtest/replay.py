"""Replay rule groups over history with the real engine, in chunks, and collect episodes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from inventory import Box
from rules.backtest.truth import NS, Episode
from rules.engine import Evaluation, RuleEngine
from rules.model import Group, Rule
from storage import InfluxError

CHUNK_S = 3600
CELLS_PER_QUERY = 2_000_000  # boxes x buckets one query may return before chunks get shorter


@dataclass(frozen=True)
class Timing:
    """What scoring needs to know about a rule's timing, in ns."""

    interval: int
    for_: int
    window: int
    inherited_warm_up: int = 0  # a fleet rule reads box alerts: their warm-up is its warm-up too

    @classmethod
    def of(cls, group: Group, rule: Rule) -> Timing:
        step = int(group.interval)
        conditions = [c for c in (rule.condition, rule.clear) if c is not None]
        window = max(c.window_s(step) for c in conditions)
        return cls(step * NS, int(rule.for_ * NS), window * NS)

    @property
    def warm_up(self) -> int:
        return max(self.window, self.inherited_warm_up)

    @property
    def lag(self) -> int:
        return self.for_ + self.window + 2 * self.interval


@dataclass
class RuleReplay:
    """One rule's episodes over the replay."""

    key: str
    group: Group
    rule: Rule
    fleet: bool
    episodes: list[Episode] = field(default_factory=list)
    open: dict[str, Episode] = field(default_factory=dict)

    def record(self, to: str, jbox_id: str, at: int, peak: float | None = None) -> None:
        if to == "firing":
            self.open[jbox_id] = episode = Episode(jbox_id, at, peak=peak)
            self.episodes.append(episode)
        elif to == "resolved" and jbox_id in self.open:
            episode = self.open.pop(jbox_id)
            episode.end, episode.peak = at, peak


@dataclass
class Replay:
    """Episodes per rule key, plus what the replay cost."""

    rules: dict[str, RuleReplay]
    evaluations: int = 0
    queries: int = 0
    seconds: float = 0.0
    chunk_s: int = CHUNK_S


def _times(step_s: int, start: int, stop: int) -> list[int]:
    """Multiples of the step in ``[start, stop)``."""
    step = step_s * NS
    first = -(-start // step) * step
    return list(range(first, stop, step))


def chunk_seconds(boxes: int, groups: list[Group]) -> int:
    """An hour of evaluation times per chunk, shorter when one query would return too many cells."""
    finest = min((int(g.interval) for g in groups), default=60)
    fits = CELLS_PER_QUERY * finest // max(1, boxes)
    return int(max(60, min(CHUNK_S, fits // 60 * 60)))


def replay(
    groups: list[Group],
    query: Callable,
    inventory: list[Box],
    start: int,
    end: int,
    *,
    data_start: int | None = None,
    box_energy_kwh: float = 1000.0,
    payload_versions: dict | None = None,
) -> Replay:
    """Evaluate every group at its interval over ``[start, end]``, chunk by chunk, recording episodes.

    Each chunk goes through :meth:`RuleEngine.evaluate_many`, the order used live: the data rules
    over the whole chunk (one query per rule), then the rules reading their alert states.
    Raises InfluxError when a query fails: a replay with holes would score wrongly.
    """
    started = time.perf_counter()
    calls = [0]

    def counted(statement: str):
        calls[0] += 1
        return query(statement)

    engine = RuleEngine(
        groups,
        counted,
        lambda: inventory,
        data_start=data_start,
        box_energy_kwh=box_energy_kwh,
        payload_versions=payload_versions,
    )
    rules = {
        loaded.key: RuleReplay(loaded.key, loaded.group, loaded.rule, loaded.reads_alert_states)
        for loaded_rules in engine.rules.values()
        for loaded in loaded_rules
    }
    chunk = chunk_seconds(len(inventory), groups)
    result = Replay(rules, chunk_s=chunk)
    for c0 in range(start, end + 1, chunk * NS):
        c1 = min(c0 + chunk * NS, end + 1)
        plan = [(group, _times(int(group.interval), c0, c1)) for group in groups]
        plan = [(group, times) for group, times in plan if times]
        for evaluation in engine.evaluate_many(plan):
            _collect(evaluation, rules)
        result.evaluations += sum(len(times) for _, times in plan)
    for loaded_rules in engine.rules.values():  # episodes still open at T2: their peak so far
        for loaded in loaded_rules:
            for jbox_id, episode in rules[loaded.key].open.items():
                state = loaded.states.alerts.get(jbox_id)
                episode.peak = state.peak if state is not None else episode.peak
    result.queries = calls[0]
    result.seconds = time.perf_counter() - started
    return result


def _collect(evaluation: Evaluation, rules: dict[str, RuleReplay]) -> None:
    if evaluation.errors:
        key, error = next(iter(evaluation.errors.items()))
        raise InfluxError(f"rule {key}: {error}", retryable=False)
    for loaded, transition in evaluation.transitions:
        rules[loaded.key].record(transition.to, transition.key, transition.at, transition.state.peak)


# -- scoring ------------------------------------------------------------------------------------
