"""Evaluate rule groups: one query per distinct statement of a group for all boxes, reading only
the buckets not read before (:mod:`rules.reads`), then the state machine.

``evaluate_many(plan)`` is the single entry point, and its order the only one, for live evaluation
(one group, one time), ``rules test`` (every group up to a checkpoint) and backtests (every group,
hours of times, in chunks): the same queries, the same pandas code, the same state machine, data
rules before the rules that read their alert states.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from alerting.model import Alert
from config.collector import PayloadVersionPolicy
from inventory import Box
from rules.conditions.base import ConditionBase, EvalContext
from rules.conditions.payload import lifecycle_for_templates
from rules.conditions.reading import Reading
from rules.model import Group, Rule
from rules.reads import LATE_DATA_S, BucketReader
from rules.state import RuleStates, Transition
from rules.store import StateStore
from rules.stream import SampleStream
from rules.templates import compile_template, render
from rules.timeline import AlertTimeline
from storage import InfluxError

log = logging.getLogger(__name__)
NS = 1_000_000_000
Query = Callable[[str], pd.DataFrame]


@dataclass
class LoadedRule:
    group: Group
    rule: Rule
    states: RuleStates
    templates: dict[str, object]
    last_error: str | None = None
    last_duration_s: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.group.name}/{self.rule.alert}"

    @property
    def reads_alert_states(self) -> bool:
        return self.rule.condition.reads_alert_states


@dataclass
class Evaluation:
    """What one evaluation round produced."""

    transitions: list[tuple[LoadedRule, Transition]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)  # firing now, plus those resolved this round
    errors: dict[str, str] = field(default_factory=dict)  # rule key -> error


class RuleEngine:
    def __init__(
        self,
        groups: list[Group],
        query: Query,
        inventory: Callable[[], list[Box]],
        store: StateStore | None = None,
        *,
        data_start: int | None = None,
        box_energy_kwh: float = 1000.0,
        payload_versions: Mapping[str, PayloadVersionPolicy] | None = None,
        late_data_s: float | None = LATE_DATA_S,
        reader: BucketReader | None = None,
        clock: Callable[[], float] | None = None,
        samples: Query | None = None,
        stream: SampleStream | None = None,
    ) -> None:
        self.query = query
        # raw-sample statements (``reads_samples``) may take a cheaper decoding: the same frame
        self.samples = samples or query
        # what each statement has read, carried between evaluations (and over a reload: see reader);
        # live evaluation gives the wall clock, so buckets read late enough are read once
        self.reader = reader if reader is not None else BucketReader(query, late_data_s, clock)
        # the samples InfluxDB forwards: new buckets answered from memory when it holds them all
        self.stream = stream
        self.data_start = data_start  # ns; see EvalContext.data_start
        self.box_energy_kwh = box_energy_kwh
        # collector.payload_versions: the deprecated_payload condition and annotation templates read it
        self.payload_versions = dict(payload_versions or {})
        self._lifecycle = lifecycle_for_templates(self.payload_versions)
        self.inventory = inventory
        self.store = store
        self.groups = groups
        self.timeline = AlertTimeline()
        self._stepping = threading.Lock()  # state machines, timeline and store: one evaluation at a time
        self.rules: dict[str, list[LoadedRule]] = {}
        for group in groups:
            self.rules[group.name] = [self._load(group, rule) for rule in group.rules if rule.enabled]
        if stream is not None:
            stream.want(self.readings().values())

    def _load(self, group: Group, rule: Rule) -> LoadedRule:
        loaded = LoadedRule(
            group,
            rule,
            RuleStates(rule.for_, rule.keep_firing_for, rule.clear is not None, rule.condition.lower_is_worse),
            {name: compile_template(text) for name, text in rule.annotations.items()},
        )
        if self.store is not None:
            loaded.states.alerts = self.store.load(loaded.key)
            self.timeline.seed(rule.alert, loaded.states.alerts)
        return loaded

    def adopt_states(self, previous: RuleEngine) -> None:
        """Carry alert states over a reload: rules that kept their name keep their alerts."""
        self.reader = previous.reader  # what unchanged statements have read stays good
        self.reader.forget(keep=self.statements())
        old = {loaded.key: loaded for rules in previous.rules.values() for loaded in rules}
        for rules in self.rules.values():
            for loaded in rules:
                if loaded.key in old:
                    loaded.states.alerts = old[loaded.key].states.alerts
                    self.timeline.seed(loaded.rule.alert, loaded.states.alerts)

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate(self, group: Group, eval_times: list[int]) -> Evaluation:
        """Evaluate ``group`` at each of ``eval_times`` (ns, multiples of the interval), in order."""
        return self.evaluate_many([(group, eval_times)])[0]

    def evaluate_many(self, plan: list[tuple[Group, list[int]]]) -> list[Evaluation]:
        """The one evaluation order, used live, by ``rules test`` and by backtests.

        First the data rules of every group of ``plan``, each at all its times at once (one query
        per rule); then the rules whose condition reads alert states (``reads_alert_states``), at
        each of their times in order, from the firing intervals the data rules left in
        :attr:`timeline`. So at one instant a fleet rule sees the box alerts of that instant, however
        far ahead the data rules were evaluated. One :class:`Evaluation` per plan entry.
        """
        boxes = {box.jbox_id: box for box in self.inventory()}
        context = EvalContext(
            inventory=sorted(boxes),
            alert_labels=self.rule_labels(),
            registered={b.jbox_id: int(b.registered_at * NS) for b in boxes.values() if b.registered_at is not None},
            data_start=self.data_start,
            box_energy_kwh=self.box_energy_kwh,
            payload_versions=self.payload_versions,
        )
        # each group's reads and conditions outside the lock (groups evaluated by different threads
        # read InfluxDB side by side: a slow energy read does not make the power group miss its
        # runs), then its state machines under it; one group's results held at a time
        results = [Evaluation() for _ in plan]
        all_times = [t for _, times in plan for t in times]
        if all_times:
            with self._stepping:
                self.timeline.forget_before(min(all_times))
        for (group, times), result in zip(plan, results, strict=True):
            data_rules = [r for r in self.rules.get(group.name, []) if not r.reads_alert_states]
            per_rule = self._data_results(data_rules, group, times, context, result)
            with self._stepping:
                for t in times:
                    for loaded in data_rules:
                        if loaded.key in per_rule:
                            self._step(loaded, t, per_rule[loaded.key].get(t, {}), boxes, result)
        # then the rules reading alert states, the alerts and the store, one evaluation at a time
        with self._stepping:
            for (group, times), result in zip(plan, results, strict=True):
                state_rules = [r for r in self.rules.get(group.name, []) if r.reads_alert_states]
                for t in times if state_rules else ():
                    context.firing = self.timeline.firing_at(t, set(context.alert_labels))
                    for loaded in state_rules:
                        try:
                            found = self._state_results(loaded, t, int(group.interval), context)
                        except Exception as exc:  # as for data rules: this rule failed, the others go on
                            _failed(loaded, exc, result)
                            continue
                        loaded.last_error = None
                        self._step(loaded, t, found, boxes, result)
            for (group, times), result in zip(plan, results, strict=True):
                rules = self.rules.get(group.name, [])
                if times:
                    result.alerts = self._current_alerts(rules, times[-1], boxes, result)
                if self.store is not None:
                    self.store.save({loaded.key: loaded.states.alerts for loaded in rules})
        return results

    def _data_results(
        self, rules: list[LoadedRule], group: Group, times: list[int], context: EvalContext, out: Evaluation
    ) -> dict[str, dict]:
        """Read (one query per distinct statement) and evaluate the data rules: rule key -> results
        by time; a rule whose read or condition failed is left out and counted in ``out.errors``."""
        step = int(group.interval)
        frames, failed, read_s = self._read(rules, times, step)
        per_rule = {}
        for loaded in rules:
            statements = [_statement(c, step) for c in (loaded.rule.condition, loaded.rule.clear) if c is not None]
            error = next((failed[s] for s in statements if s in failed), None)
            if error is not None:
                loaded.last_error = error
                out.errors[loaded.key] = error
                log.warning("rule %s: evaluation failed, states kept: %s", loaded.key, error)
                continue
            started = time.perf_counter()
            try:
                per_rule[loaded.key] = self._results(loaded, times, step, context, frames)
            except Exception as exc:  # a failed evaluation of this rule only: the others go on
                _failed(loaded, exc, out)
                continue
            loaded.last_duration_s = time.perf_counter() - started + sum(read_s.get(s, 0.0) for s in set(statements))
        return per_rule

    def _read(self, rules: list[LoadedRule], times: list[int], step: int):
        """One read per distinct statement of ``rules``, over the longest window that needs it.

        Returns (statement -> frame, statement -> error, statement -> seconds).
        """
        windows: dict[str, tuple[ConditionBase, int]] = {}
        for loaded in rules:
            for condition in (loaded.rule.condition, loaded.rule.clear):
                key = _statement(condition, step) if condition is not None else None
                if key:
                    longest = max(windows.get(key, (None, 0))[1], condition.lookback_s(step))
                    windows[key] = (condition, longest)
        frames, failed, seconds = {}, {}, {}
        for key, (condition, window_s) in windows.items():
            started = time.perf_counter()
            reading = condition.reading(step)
            answer = None
            if self.stream is not None and reading is not None:
                answer = lambda a, b, r=reading: self.stream.answer(r, a, b)  # noqa: E731
            try:
                frames[key] = self.reader.read(
                    lambda a, b, c=condition: c.query(a, b, step),
                    min(times) - window_s * NS,
                    max(times),
                    step,
                    self.samples if condition.reads_samples else None,
                    answer,
                )
            except InfluxError as exc:
                failed[key] = str(exc)
            except Exception as exc:  # a bug in reading one statement fails its rules only, with its traceback
                log.error("rules reading %s failed", key, exc_info=exc)
                failed[key] = f"{type(exc).__name__}: {exc}"
            seconds[key] = time.perf_counter() - started
        return frames, failed, seconds

    @staticmethod
    def _state_results(loaded: LoadedRule, t: int, step: int, context: EvalContext) -> dict:
        results = _by_time(loaded.rule.condition.evaluate(pd.DataFrame(), [t], step, context))
        clear = loaded.rule.clear
        if clear is not None:
            results = _merge_clear(results, _by_time(clear.evaluate(pd.DataFrame(), [t], step, context)))
        return results.get(t, {})

    @staticmethod
    def _results(loaded: LoadedRule, eval_times: list[int], step: int, context: EvalContext, frames: dict) -> dict:
        condition, clear = loaded.rule.condition, loaded.rule.clear

        def evaluate(condition) -> pd.DataFrame:
            frame = frames.get(_statement(condition, step), pd.DataFrame())
            return condition.evaluate(frame, eval_times, step, context)

        results = _by_time(evaluate(condition))
        if clear is not None:
            results = _merge_clear(results, _by_time(evaluate(clear)))
        loaded.last_error = None
        return results

    def _step(self, loaded: LoadedRule, t: int, results: dict, boxes: dict, out: Evaluation) -> None:
        for transition in loaded.states.step(t, results):
            out.transitions.append((loaded, transition))
            self.timeline.record(loaded.rule.alert, transition)
            if transition.to == "resolved":
                out.alerts.append(self._alert(loaded, transition.state, boxes, resolved_at=t))

    def _current_alerts(self, rules: list[LoadedRule], t: int, boxes: dict, out: Evaluation) -> list[Alert]:
        firing = [
            self._alert(loaded, state, boxes)
            for loaded in rules
            for state in loaded.states.alerts.values()
            if state.state == "firing"
        ]
        return firing + out.alerts

    def _alert(self, loaded: LoadedRule, state, boxes: dict, resolved_at: int | None = None) -> Alert:
        labels = dict(loaded.rule.labels)
        box = boxes.get(state.key)
        if state.key:
            labels["jbox_id"] = state.key
            if box is not None:
                labels.update({k: v for k, v in box.tags().items() if v and k != "jbox_id"})
        context = {
            "labels": {"alertname": loaded.rule.alert, **labels},
            "value": state.value,
            "alert": loaded.rule.alert,
            "box": {"site": box.site, "region": box.region, "service": box.service} if box else {},
            "payload_versions": self._lifecycle,
        }
        annotations = {name: render(template, context) for name, template in loaded.templates.items()}
        return Alert(
            name=loaded.rule.alert,
            labels=labels,
            annotations=annotations,
            status="resolved" if resolved_at is not None else "firing",
            starts_at=_utc(state.fired_at or state.active_since),
            ends_at=_utc(resolved_at) if resolved_at is not None else None,
            value=state.value,
        )

    # -- introspection -------------------------------------------------------------------------

    def firing_by_alert(self) -> dict[str, set[str]]:
        firing: dict[str, set[str]] = {}
        for rules in self.rules.values():
            for loaded in rules:
                firing.setdefault(loaded.rule.alert, set()).update(loaded.states.firing())
        return firing

    def statements(self) -> set[str]:
        """The statements (without time range) the data rules read."""
        return set(self.readings())

    def readings(self) -> dict[str, Reading]:
        """What the data rules read, by statement (without time range)."""
        readings = [
            condition.reading(int(group.interval))
            for group in self.groups
            for loaded in self.rules.get(group.name, [])
            for condition in (loaded.rule.condition, loaded.rule.clear)
            if condition is not None
        ]
        return {reading.influxql(0, 0): reading for reading in readings if reading is not None}

    def rule_labels(self) -> dict[str, dict[str, str]]:
        return {loaded.rule.alert: loaded.rule.labels for rules in self.rules.values() for loaded in rules}


def _failed(loaded: LoadedRule, exc: Exception, out: Evaluation) -> None:
    """A rule whose evaluation raised: its states are kept, the failure is counted (``out.errors``,
    the service's per-rule metric), shown by the rules API and /health until it evaluates again."""
    text = str(exc) if isinstance(exc, InfluxError) else f"{type(exc).__name__}: {exc}"
    repeated = loaded.last_error == text
    loaded.last_error = text
    out.errors[loaded.key] = text
    if isinstance(exc, InfluxError) or repeated:  # an outage, or the same bug again: one line
        log.warning("rule %s: evaluation failed, states kept: %s", loaded.key, text)
    else:  # a new error in a condition: its traceback, once
        log.error("rule %s: evaluation failed, states kept: %s", loaded.key, text, exc_info=exc)


def _statement(condition, step: int) -> str | None:
    """The condition's statement without its time range: what names its read (None: it reads no data)."""
    return condition.query(0, 0, step)


def _by_time(frame: pd.DataFrame) -> dict[int, dict[str, tuple]]:
    """DataFrame (time, jbox_id, value, active[, since]) -> {time: {box: (value, active, False, since)}}.

    Columns taken out as lists first: iterating a frame's (Arrow-backed) columns row by row cost
    ~1 s per 100,000 results (10,000 boxes, a few rules)."""
    out: dict[int, dict[str, tuple]] = {}
    if frame.empty:
        return out
    times = [int(t) for t in frame["time"].tolist()]
    values = frame["value"].astype("float64").tolist()
    active = frame["active"].astype(bool).tolist()
    if "since" not in frame:
        since = [None] * len(frame)
    elif pd.api.types.is_integer_dtype(frame["since"]):
        since = frame["since"].tolist()
    else:
        since = [None if began != began else int(began) for began in frame["since"].astype("float64").tolist()]
    rows = zip(times, frame["jbox_id"].tolist(), values, active, since, strict=True)
    for t, box, value, is_active, began in rows:
        out.setdefault(t, {})[box] = (value, is_active, False, began)
    return out


def _merge_clear(results: dict, cleared: dict) -> dict:
    """Set the third element (the clear condition holds) from the clear condition's results."""
    for t, boxes in results.items():
        clear_at = cleared.get(t, {})
        for box, (value, active, _, since) in boxes.items():
            boxes[box] = (value, active, clear_at.get(box, (0.0, False, False, None))[1], since)
    return results


def _utc(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)
