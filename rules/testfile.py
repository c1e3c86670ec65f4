"""Rule unit-test files (the format is described in ``rules.unittest``): models and loading."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PlainValidator, field_validator

from config.collector import PayloadVersionName, PayloadVersionPolicy
from config.durations import format_duration
from config.errors import ConfigError, location, named_path
from config.fields import Duration, Strict
from config.loader import load_model
from config.yamlsource import Location, nearest_line
from inventory import Box
from rules.loader import RulesError, load_rules
from rules.model import Group
from rules.series import Selector, parse_selector, parse_values


def _selector(value: Any) -> Selector:
    if isinstance(value, Selector):
        return value
    return parse_selector(value)


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"expected a duration above zero like '10s', got {format_duration(value)!r}")
    return value


class InputSeries(Strict):
    series: Annotated[Selector, PlainValidator(_selector)]
    values: Annotated[list, PlainValidator(parse_values)]


class ExpectedAlert(Strict):
    exp_labels: dict[str, str] = {}
    exp_annotations: dict[str, str] | None = None


class AlertRuleTest(Strict):
    eval_time: Duration
    alertname: str
    exp_alerts: list[ExpectedAlert] = []


class InventoryBox(Strict):
    jbox_id: str
    site: str = ""
    region: str = ""
    service: str = ""
    registered: Duration | None = None  # when the box was registered, as an offset from the test start


class UnitTest(Strict):
    name: str = ""
    interval: Duration = 60
    inventory: list[InventoryBox] | None = None
    input_series: list[InputSeries] = []
    alert_rule_test: list[AlertRuleTest] = []

    @field_validator("interval")
    @classmethod
    def _positive_interval(cls, value: float) -> float:
        return _positive(value)

    @field_validator("inventory", mode="before")
    @classmethod
    def _box_ids(cls, value: Any) -> Any:
        """``jbox-0001`` is short for ``{jbox_id: jbox-0001}``."""
        if isinstance(value, list):
            return [{"jbox_id": item} if isinstance(item, str) else item for item in value]
        return value

    def boxes(self, start_ns: int = 0) -> list[Box]:
        """The inventory given, or every ``jbox_id`` of the input series; ``start_ns``: the test's start."""
        if self.inventory is None:
            seen = {s.series.jbox_id for s in self.input_series} - {None}
            return [Box(jbox_id) for jbox_id in sorted(seen)]
        return [
            Box(
                b.jbox_id,
                b.site,
                b.region,
                b.service,
                registered_at=None if b.registered is None else start_ns / 1e9 + b.registered,
            )
            for b in self.inventory
        ]


class TestFile(Strict):
    __test__ = False  # not a pytest class

    rule_files: list[str] = Field(min_length=1)
    evaluation_interval: Duration | None = None
    # as collector.payload_versions in the config: the dates the deprecated_payload condition reads
    payload_versions: dict[PayloadVersionName, PayloadVersionPolicy] = {}
    tests: list[UnitTest] = []

    @field_validator("evaluation_interval")
    @classmethod
    def _whole_seconds(cls, value: float | None) -> float | None:
        # groups are evaluated on whole seconds (GROUP BY time(step)), like a group's own interval
        if value is not None and (value < 1 or value != int(value)):
            raise ValueError(f"expected a whole number of seconds of at least 1s, got {format_duration(value)!r}")
        return value


class InvalidTestFile(ValueError):
    """A test file (or a rule file it names) is invalid; ``problems`` holds one pointed message each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class LoadedTestFile:
    path: Path
    spec: TestFile
    groups: list[Group]
    lines: dict[Location, int]

    def line_of(self, *path: str | int) -> int | None:
        return nearest_line(self.lines, path)


# -- loading ---------------------------------------------------------------------------------------


def load_test_file(path: Path | str) -> LoadedTestFile:
    """Parse and validate a test file and the rule files it names; raises InvalidTestFile."""
    path, source = Path(path), str(path)
    expected = "a mapping with 'rule_files' and 'tests'"
    try:
        loaded = load_model(path, TestFile, expected=expected, labeller=_named)
    except ConfigError as exc:
        raise InvalidTestFile(exc.problems) from exc
    spec, data, lines = loaded.model, loaded.data, loaded.lines
    rule_paths = [path.parent / name for name in spec.rule_files]
    try:
        groups = load_rules(rule_paths)
    except RulesError as exc:
        where = f"{source}:{nearest_line(lines, ('rule_files',))}: rule_files"
        raise InvalidTestFile([f"{where}: {problem}" for problem in exc.problems]) from exc
    if spec.evaluation_interval is not None:
        groups = [group.model_copy(update={"interval": spec.evaluation_interval}) for group in groups]
    loaded = LoadedTestFile(path, spec, groups, lines)
    _check_alertnames(loaded, data)
    return loaded


def _check_alertnames(loaded: LoadedTestFile, data: dict) -> None:
    known = {rule.alert for group in loaded.groups for rule in group.rules if rule.enabled}
    problems = []
    for t, test in enumerate(loaded.spec.tests):
        for a, check in enumerate(test.alert_rule_test):
            if check.alertname not in known:
                path = ("tests", t, "alert_rule_test", a, "alertname")
                close = difflib.get_close_matches(check.alertname, known, n=1)
                hint = f", did you mean {close[0]!r}?" if close else ""
                problems.append(
                    f"{location(str(loaded.path), loaded.lines, path)}: {_named(path, data)}: no enabled rule "
                    f"{check.alertname!r} in the rule files{hint} (known: {', '.join(sorted(known))})"
                )
    if problems:
        raise InvalidTestFile(problems)


def _named(path: Location, data: dict) -> str:
    """``tests[0] (stuck power): input_series[1].values`` - the test's name after its position."""
    return named_path(path, data, ("tests",), "name")
