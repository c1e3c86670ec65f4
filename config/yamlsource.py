"""YAML loading that remembers where each key came from, so errors can name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


class YamlSyntaxError(ValueError):
    """The file is not valid YAML; the message names the file, line and column."""


def load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[Location, int]]:
    """Parse ``text`` and return the data and a map from key path to 1-based line number."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(f"{where}: invalid YAML: {problem}") from exc
    lines: dict[Location, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def load_yaml_file(path: Path | str) -> tuple[Any, dict[Location, int]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlSyntaxError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    return load_yaml_with_lines(text, str(path))


def _walk(node: yaml.Node, path: Location, lines: dict[Location, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def nearest_line(lines: dict[Location, int], path: Location) -> int | None:
    """The line of ``path`` or, for a missing key, of its closest existing parent."""
    for end in range(len(path), -1, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None
