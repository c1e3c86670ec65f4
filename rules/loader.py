"""Load rule files; every problem names file, line, rule, key and value.

``rules/faults.yaml:12: groups[0].rules[2] (SetpointNotFollowed): for: expected a duration like '3m', got '3 minutes'``
"""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError, location, named_path
from config.loader import load_model
from config.yamlsource import Location
from rules.model import Group, RuleFile
from rules.templates import TemplateProblem, compile_template


class RulesError(ConfigError):
    """One or more rule files are invalid; ``problems`` holds one pointed message each."""


def load_rules(paths: list[Path | str]) -> list[Group]:
    """Parse and validate every file; raises RulesError listing all problems of all files."""
    groups: list[Group] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            parsed = load_rule_file(path)
        except RulesError as exc:
            problems += exc.problems
            continue
        for group in parsed.groups:
            if group.name in seen:
                problems.append(f"{path}: group {group.name!r} is also defined in {seen[group.name]}")
            seen[group.name] = str(path)
            groups.append(group)
    if problems:
        raise RulesError(problems)
    return groups


def load_rule_file(path: Path | str) -> RuleFile:
    try:
        loaded = load_model(path, RuleFile, expected="a mapping with 'groups'", labeller=_named)
    except ConfigError as exc:
        raise RulesError(exc.problems) from exc
    parsed, data, lines, source = loaded.model, loaded.data, loaded.lines, loaded.source
    problems = []
    for g, group in enumerate(parsed.groups):
        for r, rule in enumerate(group.rules):
            for name, text in rule.annotations.items():
                try:
                    compile_template(text)
                except TemplateProblem as exc:
                    path_ = ("groups", g, "rules", r, "annotations", name)
                    problems.append(f"{location(source, lines, path_)}: {_named(path_, data)}: {exc}")
    if problems:
        raise RulesError(problems)
    return parsed


def _named(path: Location, data: dict) -> str:
    return named_path(path, data, ("groups", "rules"), "alert")
