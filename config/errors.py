"""Turn pydantic validation errors into messages that point at file, line, key and value."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ValidationError

from config.yamlsource import Location, nearest_line


class ConfigError(ValueError):
    """A configuration (or rule) file is wrong; ``problems`` holds one pointed message per fault."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def format_path(path: Location) -> str:
    """``("groups", 0, "rules", 2, "for")`` -> ``groups[0].rules[2].for``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe_errors(
    error: ValidationError,
    source: str,
    lines: dict[Location, int],
    model: type[BaseModel] | None = None,
    label: Callable[[Location], str] = format_path,
) -> list[str]:
    """One message per pydantic error, sorted by line: ``file:line: key.path: what is wrong, got 'value'``.

    ``label`` spells the key path; rule and test files use ``named_path`` to add the element's name.
    """
    problems = []
    for item in error.errors():
        path = error_location(item)
        message = f"{location(source, lines, path)}: {label(path)}: {explain(item, model, path)}"
        problems.append((nearest_line(lines, path) or 0, message))
    return [message for _, message in sorted(problems, key=lambda pair: pair[0])]


def location(source: str, lines: dict[Location, int], path: Location) -> str:
    """``file:line`` of a key path (of its nearest existing parent when the key is missing)."""
    line = nearest_line(lines, path)
    return f"{source}:{line}" if line else source


def named_path(path: Location, data: object, containers: tuple[str, ...], name_key: str) -> str:
    """The key path with the named element after its position.

    ``named_path(p, data, ("groups", "rules"), "alert")`` gives
    ``groups[0].rules[2] (SetpointNotFollowed): for`` for ``p = ("groups", 0, "rules", 2, "for")``.
    """
    depth = 2 * len(containers)
    inside = len(path) >= depth and all(
        path[2 * k] == name and isinstance(path[2 * k + 1], int) for k, name in enumerate(containers)
    )
    if not inside:
        return format_path(path)
    node = data
    try:
        for part in path[:depth]:
            node = node[part]
        name = node.get(name_key)
    except (KeyError, IndexError, TypeError, AttributeError):
        name = None
    head = format_path(path[:depth]) + (f" ({name})" if isinstance(name, str) else "")
    return f"{head}: {format_path(path[depth:])}" if len(path) > depth else head


def error_location(item: dict) -> Location:
    """The key path of one pydantic error, as the YAML author wrote it."""
    return _clean_location(item["loc"])


def _clean_location(loc: tuple) -> Location:
    # pydantic adds the names of union members and validator functions to locations
    # ("function-after[...]", "Secret"); they mean nothing to the person editing the file.
    return tuple(part for part in loc if isinstance(part, int) or not _is_internal(part))


def _is_internal(part: str) -> bool:
    return "[" in part or part[:1].isupper()


def explain(item: dict, model: type[BaseModel] | None, path: Location) -> str:
    """What is wrong, in words, with the offending value quoted."""
    kind = item["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1) if path else []
        hint = f", did you mean {close[0]!r}?" if close else ""
        hint += f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    message = item["msg"]
    if kind == "value_error":
        # our own validators already quote the offending value
        return message.removeprefix("Value error, ")
    if kind == "assertion_error":
        return message.removeprefix("Assertion failed, ")
    return f"{message[:1].lower()}{message[1:]}, got {item['input']!r}"


def _allowed_keys(model: type[BaseModel] | None, path: Location) -> list[str]:
    """The keys the model accepts at ``path``, for the 'unknown key' hint.

    Walks nested models, lists and dicts; a tagged union (``condition: {threshold: {...}}``) is
    followed through the member whose ``kind`` is the tag.
    """
    candidates = [model] if model else []
    for part in path:
        if isinstance(part, int) or not candidates:
            continue
        field = next((c.model_fields[part] for c in candidates if part in c.model_fields), None)
        if field is not None:
            candidates = _models_in(field.annotation)
            continue
        tagged = [c for c in candidates if "kind" in c.model_fields and c.model_fields["kind"].default == part]
        if not tagged:
            return []
        candidates = tagged
    if len(candidates) != 1:
        return []
    # "kind" is set from the tag (condition: {threshold: ...}), never written by hand
    return sorted(field.alias or name for name, field in candidates[0].model_fields.items() if name != "kind")


def _models_in(annotation) -> list[type[BaseModel]]:
    """Every model an annotation may hold (through Optional, unions, lists, dicts, Annotated)."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]
