"""``jboxmon rules test FILES``: unit tests for rules, shaped like ``promtool test rules``.

Each test writes its input series into a fresh database of a REAL InfluxDB (a private ``influxd``
started for the run, or the configured one), then runs the production :class:`~rules.engine.RuleEngine`
over it - the same queries, pandas code and state machine - and compares the firing alerts with
the expected ones at each ``eval_time``. The database is dropped afterwards.

::

    rule_files: [../jbox.yaml]          # relative to this file
    evaluation_interval: 10s            # optional: evaluate EVERY group at this interval
                                        # (default: each group's own interval)
    tests:
      - name: stuck power fires after 3 minutes, not before
        interval: 10s                   # spacing of the input samples (default 1m, like promtool)
        inventory:                      # optional fleet inventory (default: the jbox_id tags of input_series)
          - jbox-0001
          - {jbox_id: jbox-0002, site: site-002, region: IDF, service: fcr}
          - {jbox_id: jbox-0003, registered: 10m}   # registered 10 minutes after the start
        input_series:
          - series: 'telemetry.p_meas_kw{jbox_id="jbox-0001"}'
            values: '500x30'
          - series: 'telemetry.p_setpoint_kw{jbox_id="jbox-0001"}'
            values: '0x30'
          - series: 'logs:log.code{jbox_id="jbox-0001", level="error"}'   # policy 'logs'
            values: '"E1"x300'                                         # string field
        alert_rule_test:
          - eval_time: 3m10s            # offset from the test start
            alertname: SetpointNotFollowed
            exp_alerts:                 # the FIRING alerts at that time; [] = none firing
              - exp_labels: {jbox_id: jbox-0001, severity: critical, team: operations}
                exp_annotations: {summary: "..."}   # optional; all annotations, compared exactly

Series and values: see :mod:`rules.series` (``[policy:]measurement.field{tags}``; promtool's
expanding notation ``a+bxN``, ``axN``, ``_``, ``_xN``, and quoted strings ``"E1"xN``). Sample ``i``
is written at ``start + i * interval``.

Time: ``start`` is a fixed instant about six hours ago (inside every retention policy, the one-day
``logs`` policy included), a multiple of every interval in the file. Each group is evaluated at
``start + k * interval`` (k = 1, 2, ...) up to the last ``eval_time``, so alert states evolve exactly
as in production; an ``eval_time`` between two evaluations sees the state of the earlier one. At
one instant data rules are evaluated before the rules that read their alert states (``fleet_ratio``).

Labels: ``exp_labels`` must equal the alert's labels exactly: the rule's labels, ``jbox_id`` and the
box's non-empty ``site``/``region``/``service`` from the inventory (``alertname`` may be given too).

Exit code: 0 all tests passed, 1 a test failed, 2 a test file (or a rule file it names) is invalid.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from alerting.model import Alert
from config.durations import format_duration
from config.model import InfluxDBConfig
from config.yamlsource import Location
from rules.engine import RuleEngine
from rules.model import Group
from rules.series import Selector
from rules.testfile import AlertRuleTest, ExpectedAlert, InvalidTestFile, LoadedTestFile, UnitTest, load_test_file
from storage import InfluxClient, InfluxError, InfluxSettings
from storage.lineprotocol import encode_point

NS = 1_000_000_000
LOOKBACK_NS = 6 * 3600 * NS  # how far before now a test starts: inside the 1-day 'logs' policy


# -- running ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulesTestOptions:
    """How ``rules test`` runs: on which InfluxDB, and how evaluations are batched.

    ``influx``: the server and its credentials and TLS settings (each test uses a fresh database
    on it, dropped afterwards); None starts a private ``influxd`` for the run. ``batched``: see
    :func:`evaluate_until`.
    """

    influx: InfluxSettings | None = None
    batched: bool = True


def run_test_files(files: list[Path | str], options: RulesTestOptions | None = None, out: TextIO | None = None) -> int:
    """Run every test of ``files``; print failures and a summary. Exit code 0, 1 (failed) or 2 (invalid)."""
    options = options or RulesTestOptions()
    out = out or sys.stdout
    loaded, invalid = [], 0
    for path in files:
        try:
            loaded.append(load_test_file(path))
        except InvalidTestFile as exc:
            invalid += 1
            for problem in exc.problems:
                print(problem, file=out)
    passed = failed = 0
    started = time.monotonic()
    if any(file.spec.tests for file in loaded):
        with _influx(options.influx) as settings:
            for file in loaded:
                print(f"Unit testing: {file.path}", file=out)
                for number, test in enumerate(file.spec.tests):
                    failures = run_test(file, number, test, settings, batched=options.batched)
                    passed, failed = passed + (not failures), failed + bool(failures)
                    for failure in failures:
                        print(failure, file=out)
    summary = f"{passed} passed, {failed} failed in {time.monotonic() - started:.1f}s"
    if invalid:
        summary += f"; {invalid} invalid test file(s)"
    print(summary, file=out)
    return 2 if invalid else 1 if failed else 0


@contextmanager
def _influx(settings: InfluxSettings | None) -> Iterator[InfluxSettings]:
    """The given InfluxDB, or a private ``influxd`` in a temporary directory for the run."""
    if settings is not None:
        yield settings
        return
    from storage.server import InfluxServer

    with tempfile.TemporaryDirectory(prefix="jboxmon-rules-test-") as data_dir, InfluxServer(data_dir) as server:
        yield InfluxSettings.from_config(InfluxDBConfig(url=server.url))


def run_test(
    file: LoadedTestFile, number: int, test: UnitTest, influx: InfluxSettings, *, batched: bool = True
) -> list[str]:
    """One test on a fresh database, dropped afterwards; returns its failure messages (empty = passed)."""
    database = f"rules_test_{uuid.uuid4().hex[:16]}"
    client = InfluxClient(replace(influx, database=database))
    try:
        client.create_database()
        start = start_time(file, time.time_ns())
        _write_series(client, test, start)
        return _check(file, number, test, start, client, batched)
    except InfluxError as exc:
        return [f"{_header(file, number, ('tests', number))}\n    InfluxDB: {exc}"]
    finally:
        try:
            client.execute(f'DROP DATABASE "{database}"', database="")
        except InfluxError:
            pass
        client.close()


def start_time(file: LoadedTestFile, now_ns: int) -> int:
    """About six hours ago, a multiple of every interval of the file (samples and groups)."""
    step = 60 * NS
    intervals = [group.interval for group in file.groups] + [test.interval for test in file.spec.tests]
    for seconds in intervals:
        step = math.lcm(step, round(seconds * NS))
    return (now_ns - LOOKBACK_NS) // step * step


def _write_series(client: InfluxClient, test: UnitTest, start: int) -> None:
    interval = round(test.interval * NS)
    by_policy: dict[str | None, list[str]] = {}
    for item in test.input_series:
        selector: Selector = item.series
        lines = by_policy.setdefault(selector.retention_policy, [])
        tags = dict(selector.tags)
        for i, value in enumerate(item.values):
            if value is not None:
                lines.append(encode_point(selector.measurement, tags, {selector.field: value}, start + i * interval))
    for policy, lines in by_policy.items():
        client.write_batches(lines, retention_policy=policy)


def _check(
    file: LoadedTestFile, number: int, test: UnitTest, start: int, client: InfluxClient, batched: bool
) -> list[str]:
    checkpoints = sorted({start + round(check.eval_time * NS) for check in test.alert_rule_test})
    if not checkpoints:
        return []
    engine = RuleEngine(
        file.groups,
        query=client.query,
        samples=client.query_samples,
        inventory=lambda: test.boxes(start),
        payload_versions=file.spec.payload_versions,
    )
    alertnames = {check.alertname for check in test.alert_rule_test}
    firing, errors = evaluate_until(engine, file.groups, start, checkpoints, alertnames, batched=batched)
    failures = []
    for a, check in enumerate(test.alert_rule_test):
        at = start + round(check.eval_time * NS)
        problem = errors.get(at) or _compare(check, firing[at].get(check.alertname, []))
        if problem:
            header = _header(file, number, ("tests", number, "alert_rule_test", a))
            at_text = f"alertname: {check.alertname}, time: {format_duration(check.eval_time)}"
            failures.append(f"{header}\n    {at_text}\n{problem}")
    return failures


def _header(file: LoadedTestFile, number: int, path: Location) -> str:
    name = file.spec.tests[number].name or f"tests[{number}]"
    return f"  FAILED: {name} ({file.path}:{file.line_of(*path)})"


def evaluate_until(
    engine: RuleEngine,
    groups: list[Group],
    start: int,
    checkpoints: list[int],
    alertnames: set[str] | None = None,
    *,
    batched: bool = True,
) -> tuple[dict[int, dict[str, list[Alert]]], dict[int, str]]:
    """Evaluate the groups at each multiple of their interval up to the last checkpoint.

    Returns, per checkpoint, the firing alerts by name, and the evaluation errors seen up to it.
    Only the groups ``alertnames`` depend on are evaluated (all when None): a box rule reads only
    its data, a rule reading alert states also the states of the alerts it counts. Between two
    checkpoints every group goes through :meth:`RuleEngine.evaluate_many` at once (the backtest's
    batches, the live order); ``batched=False`` makes one call per evaluation time instead, as live
    (tests prove both agree).
    """
    groups = needed_groups(groups, alertnames)
    end = checkpoints[-1]
    schedule = {g.name: list(range(start + int(g.interval) * NS, end + 1, int(g.interval) * NS)) for g in groups}
    boundaries = set(checkpoints)
    if not batched:
        boundaries |= {t for times in schedule.values() for t in times}
    firing_by_group: dict[str, list[Alert]] = {}
    snapshots: dict[int, dict[str, list[Alert]]] = {}
    errors: dict[int, str] = {}
    error = ""
    previous = start
    for boundary in sorted(boundaries):
        plan = [(g, [t for t in schedule[g.name] if previous < t <= boundary]) for g in groups]
        plan = [(group, times) for group, times in plan if times]
        for (group, _), result in zip(plan, engine.evaluate_many(plan), strict=True):
            firing_by_group[group.name] = [alert for alert in result.alerts if alert.status == "firing"]
            for key, message in result.errors.items():
                error = error or f"    evaluation of {key} failed: {message}"
        if boundary in checkpoints:
            by_name: dict[str, list[Alert]] = {}
            for alert in (a for alerts in firing_by_group.values() for a in alerts):
                by_name.setdefault(alert.name, []).append(alert)
            snapshots[boundary] = by_name
            if error:
                errors[boundary] = error
        previous = boundary
    return snapshots, errors


def needed_groups(groups: list[Group], alertnames: set[str] | None) -> list[Group]:
    """The groups holding ``alertnames`` and, transitively, the alerts their state-reading rules count."""
    if alertnames is None:
        return groups
    rules = [rule for group in groups for rule in group.rules]
    wanted, needed = set(alertnames), set()
    while True:
        grow = {g.name for g in groups if any(r.alert in wanted for r in g.rules)} - needed
        if not grow:
            return [g for g in groups if g.name in needed]
        needed |= grow
        for group in (g for g in groups if g.name in grow):
            for reader in (r for r in group.rules if r.enabled and r.condition.reads_alert_states):
                wanted |= {r.alert for r in rules if reader.condition.reads_alert(r.alert, r.labels)}


def _compare(check: AlertRuleTest, got: list[Alert]) -> str:
    """Empty when the firing alerts match the expected ones (in any order), else what differs."""
    remaining = list(got)
    unmatched = []
    for expected in check.exp_alerts:
        match = next((alert for alert in remaining if _matches(expected, alert)), None)
        if match is None:
            unmatched.append(expected)
        else:
            remaining.remove(match)
    if not unmatched and not remaining:
        return ""
    exp = [_show(e.exp_labels, e.exp_annotations) for e in check.exp_alerts]
    shown = [_show(a.labels, a.annotations if _wants_annotations(check) else None) for a in got]
    return f"      exp:{_listing(exp)}\n      got:{_listing(shown)}"


def _matches(expected: ExpectedAlert, alert: Alert) -> bool:
    labels = dict(alert.labels)
    if "alertname" in expected.exp_labels:
        labels["alertname"] = alert.name
    if expected.exp_labels != labels:
        return False
    return expected.exp_annotations is None or expected.exp_annotations == alert.annotations


def _wants_annotations(check: AlertRuleTest) -> bool:
    return any(e.exp_annotations is not None for e in check.exp_alerts) or not check.exp_alerts


def _show(labels: dict[str, str], annotations: dict[str, str] | None) -> str:
    text = _braces(labels)
    return f"{text} annotations {_braces(annotations)}" if annotations is not None else text


def _braces(pairs: dict[str, str]) -> str:
    """``{jbox_id="jbox-0001", severity="critical"}``, keys sorted, as promtool shows labels."""
    text = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in sorted(pairs.items()))
    return "{" + text + "}"


def _listing(items: list[str]) -> str:
    if not items:
        return " (none)"
    return "".join(f"\n        {i}: {item}" for i, item in enumerate(items))
