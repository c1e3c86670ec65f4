"""Load rule files; every problem names file, line, rule, key and value.

``rules/faults.yaml:12: groups[0].rules[2] (SetpointNotFollowed): for: expected a duration like '3m', got '3 minutes'``
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from config.errors import ConfigError, error_location, explain, format_path
from config.yamlsource import Location, YamlSyntaxError, load_yaml_file, nearest_line
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
    source = str(path)
    try:
        data, lines = load_yaml_file(path)
    except YamlSyntaxError as exc:
        raise RulesError([str(exc)]) from exc
    if data is None:
        raise RulesError([f"{source}:1: (top level): the file is empty; expected a mapping with 'groups'"])
    if not isinstance(data, dict):
        raise RulesError([f"{source}:1: (top level): expected a mapping with 'groups', got {type(data).__name__}"])
    try:
        parsed = RuleFile.model_validate(data)
    except ValidationError as exc:
        raise RulesError(_describe(exc, source, lines, data)) from exc
    problems = []
    for g, group in enumerate(parsed.groups):
        for r, rule in enumerate(group.rules):
            for name, text in rule.annotations.items():
                try:
                    compile_template(text)
                except TemplateProblem as exc:
                    path_ = ("groups", g, "rules", r, "annotations", name)
                    problems.append(f"{_where(source, lines, path_)}: {_named(path_, data)}: {exc}")
    if problems:
        raise RulesError(problems)
    return parsed


def _describe(error: ValidationError, source: str, lines: dict, data: dict) -> list[str]:
    problems = []
    for item in error.errors():
        path = error_location(item)
        problems.append(
            (
                nearest_line(lines, path) or 0,
                f"{_where(source, lines, path)}: {_named(path, data)}: {explain(item, RuleFile, path)}",
            )
        )
    return [message for _, message in sorted(problems, key=lambda pair: pair[0])]


def _where(source: str, lines: dict, path: Location) -> str:
    line = nearest_line(lines, path)
    return f"{source}:{line}" if line else source


def _named(path: Location, data: dict) -> str:
    """``groups[0].rules[2] (SetpointNotFollowed): for`` - the rule's name after its position."""
    if len(path) >= 4 and path[0] == "groups" and path[2] == "rules" and isinstance(path[3], int):
        try:
            name = data["groups"][path[1]]["rules"][path[3]].get("alert")
        except (KeyError, IndexError, TypeError, AttributeError):
            name = None
        head = format_path(path[:4]) + (f" ({name})" if isinstance(name, str) else "")
        rest = format_path(path[4:]) if len(path) > 4 else ""
        return f"{head}: {rest}" if rest else head
    return format_path(path)
