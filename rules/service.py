"""The rules engine as a service: APScheduler runs one job per group at its interval, rule files
are reloaded on change or SIGHUP (a broken file keeps the previous rules running), and alerts go to
the sinks and to a small HTTP API (``/api/v1/alerts``, ``/api/v1/rules``, ``/health``, ``/metrics``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from alerting.model import AlertSink
from config.collector import PayloadVersionPolicy
from config.rules import RulesConfig
from inventory import Box
from rules.engine import RuleEngine
from rules.files import resolve_rule_files
from rules.loader import RulesError, load_rules
from rules.metrics import ReadsCollector, RulesMetrics
from rules.model import Group
from rules.sinks import CurrentAlerts, InfluxHistory
from rules.store import StateStore
from rules.stream import SampleStream
from storage.supervision import Supervisor

log = logging.getLogger(__name__)


class RulesService:
    def __init__(
        self,
        config: RulesConfig,
        query: Callable,
        inventory: Callable[[], list[Box]],
        *,
        history: InfluxHistory | None = None,
        sinks: list[AlertSink] = (),
        clock: Callable[[], float] = time.time,
        metrics: RulesMetrics | None = None,
        box_energy_kwh: float = 1000.0,
        loops: Supervisor | None = None,
        payload_versions: Mapping[str, PayloadVersionPolicy] | None = None,
        samples: Callable | None = None,
        stream: SampleStream | None = None,
    ) -> None:
        self.config = config
        self.query = query
        self.samples = samples  # raw-sample reads (InfluxClient.query_samples); None: query
        self.stream = stream  # the writes InfluxDB forwards (rules/stream.py); None: queries only
        self.inventory = inventory
        self.history = history
        self.sinks = list(sinks)
        self.clock = clock
        self.box_energy_kwh = box_energy_kwh  # fleet.box_energy_kwh, for energy_balance
        self.payload_versions = payload_versions  # collector.payload_versions, for deprecated_payload
        self.metrics = metrics or RulesMetrics()
        self.metrics.registry.register(ReadsCollector(lambda: self.engine.reader if self.engine else None, stream))
        # the scheduled jobs (one per group, the reload poll) are supervised: a job that raises is
        # counted in jboxmon_rules_loop_errors_total and named by /health until it runs again, and
        # a group not evaluated for a few intervals is reported stuck (storage/supervision.py)
        self.loops = loops or Supervisor("rules", self.metrics.registry)
        self.current = CurrentAlerts()
        self.store = StateStore(config.state_db)
        self.engine: RuleEngine | None = None
        self.last_reload_error: str | None = None
        self.failed_evaluations: dict[str, int] = {}  # rule key -> failed evaluations since start (the API)
        self._fingerprint = ""
        self._last_eval: dict[str, int] = {}
        # groups are evaluated side by side (each by its own scheduler thread, one evaluation of a
        # group at a time); a reload waits for the evaluations under way and holds new ones back
        self._group_locks: dict[str, threading.Lock] = {}
        self._engine_use = _SharedUse()
        self._scheduler: BackgroundScheduler | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> RulesService:
        self.store.open()
        groups = load_rules(resolve_rule_files(self.config.files))  # a broken file at start is fatal: nothing to keep
        self._fingerprint = self._files_fingerprint()
        self.engine = self._engine(groups, self.store)
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._schedule(groups)
        self._scheduler.add_job(
            self.loops.job("reload", self.reload_if_changed),
            IntervalTrigger(seconds=self.config.reload_every),
            id="reload",
            coalesce=True,
            max_instances=1,
        )
        self._scheduler.start()
        self.metrics.last_reload_ok.set(1)
        log.info("rules: %d group(s) scheduled", len(groups))
        return self

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self.store.close()

    def _schedule(self, groups: list[Group]) -> None:
        for job in self._scheduler.get_jobs():
            if job.id.startswith("group:"):
                job.remove()
                self.loops.forget(job.id)
        now = self.clock()
        for group in groups:
            # runs on the group's grid (plus its query offset): an evaluation reads up to the last
            # whole step, so one that ran off the grid would leave the newest seconds to the next one
            interval = int(group.interval)
            grid = (int(now - group.query_offset) // interval + 1) * interval + group.query_offset
            # stuck: no evaluation of the group completed within three intervals (and a minute)
            stall = 3 * group.interval + 60
            self._scheduler.add_job(
                self.loops.job(f"group:{group.name}", self.evaluate_group, stall_after_s=stall),
                IntervalTrigger(seconds=interval, start_date=dt.datetime.fromtimestamp(grid, dt.UTC)),
                args=[group.name],
                id=f"group:{group.name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(self.config.misfire_grace),
                next_run_time=dt.datetime.fromtimestamp(now, dt.UTC),  # and once at once
            )

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate_group(self, name: str, now: float | None = None) -> None:
        """Evaluate one group at the last completed step (minus the group's query offset)."""
        lock = self._group_locks.setdefault(name, threading.Lock())
        with lock, self._engine_use.shared():
            engine = self.engine
            group = next((g for g in engine.groups if g.name == name), None) if engine else None
            if group is None:
                return
            step_ns = int(group.interval) * 1_000_000_000
            at = int(((now or self.clock()) - group.query_offset) * 1e9) // step_ns * step_ns
            if self._last_eval.get(name, 0) >= at:
                return  # this step was evaluated already (coalesced or duplicate trigger)
            started = time.perf_counter()
            evaluation = engine.evaluate(group, [at])
            self._last_eval[name] = at
            self.metrics.duration.labels(name).observe(time.perf_counter() - started)
            self.metrics.lag.labels(name).observe(max(0.0, self.clock() - at / 1e9))
        for rule in evaluation.errors:
            self.metrics.failures.labels(rule).inc()
            self.failed_evaluations[rule] = self.failed_evaluations.get(rule, 0) + 1
        for loaded, transition in evaluation.transitions:
            if transition.to in ("firing", "resolved"):
                log.info("alert %s %s %s", loaded.rule.alert, transition.key or "(fleet)", transition.to)
        self._publish(group, engine, evaluation)

    def _publish(self, group: Group, engine: RuleEngine, evaluation) -> None:
        self.current.update(group.name, evaluation.alerts)
        for loaded in engine.rules.get(group.name, []):
            states = [s.state for s in loaded.states.alerts.values()]
            for state in ("pending", "firing"):
                self.metrics.alerts.labels(loaded.rule.alert, state).set(states.count(state))
        if self.history is not None:
            self.history.record(evaluation)
        for sink in self.sinks:
            try:
                sink.send(evaluation.alerts)
            except Exception:  # one broken sink must not stop the others or the evaluations
                log.exception("alert sink %s failed", type(sink).__name__)

    # -- reload --------------------------------------------------------------------------------

    def reload_if_changed(self) -> None:
        if self._files_fingerprint() != self._fingerprint:
            self.reload()

    def reload(self) -> bool:
        """Load the rule files again; on any problem keep the running rules and report it."""
        files = resolve_rule_files(self.config.files)
        try:
            groups = load_rules(files)
        except RulesError as exc:
            self.last_reload_error = str(exc)
            self._fingerprint = self._files_fingerprint()  # report once per change, not every poll
            self.metrics.reloads.labels("failure").inc()
            self.metrics.last_reload_ok.set(0)
            log.error("rule reload failed, previous rules keep running:\n%s", exc)
            return False
        with self._engine_use.exclusive():
            engine = self._engine(groups, None)
            engine.adopt_states(self.engine)
            engine.store = self.store
            self.engine = engine
            self._fingerprint = self._files_fingerprint()
            if self._scheduler is not None:
                self._schedule(groups)
        self.last_reload_error = None
        self.metrics.reloads.labels("success").inc()
        self.metrics.last_reload_ok.set(1)
        log.info("rules reloaded: %d group(s) from %d file(s)", len(groups), len(files))
        return True

    def _engine(self, groups: list[Group], store: StateStore | None) -> RuleEngine:
        return RuleEngine(
            groups,
            self.query,
            self.inventory,
            store,
            box_energy_kwh=self.box_energy_kwh,
            payload_versions=self.payload_versions,
            late_data_s=self.config.late_data,
            clock=self.clock,
            samples=self.samples,
            stream=self.stream,
        )

    def problems(self) -> list[str]:
        """What /health reports: scheduled jobs dead, failing or stuck, and rules whose last
        evaluation failed (one line each; the other rules keep being evaluated)."""
        failing = []
        engine = self.engine
        for loaded in [item for rules in engine.rules.values() for item in rules] if engine else []:
            if loaded.last_error:
                failing.append(f"rule {loaded.key}: last evaluation failed: {loaded.last_error}")
        return self.loops.problems() + failing

    def _files_fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in resolve_rule_files(self.config.files):
            digest.update(str(path).encode())
            try:
                digest.update(Path(path).read_bytes())
            except OSError:
                digest.update(b"(missing)")
        return digest.hexdigest()


class _SharedUse:
    """Many holders share the engine (group evaluations); one holds it alone (a reload)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._sharing = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self):
        with self._changed:
            self._changed.wait_for(lambda: not self._exclusive)
            self._sharing += 1
        try:
            yield
        finally:
            with self._changed:
                self._sharing -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def exclusive(self):
        with self._changed:
            self._changed.wait_for(lambda: not self._exclusive)
            self._exclusive = True  # new evaluations wait from now on
            self._changed.wait_for(lambda: self._sharing == 0)
        try:
            yield
        finally:
            with self._changed:
                self._exclusive = False
                self._changed.notify_all()
