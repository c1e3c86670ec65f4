"""Load YAML files into typed models with pointed errors: ``jboxmon.yaml``, rule files, rule test files.

:func:`load_model` is the one place that reads a YAML file, checks its top level is a mapping,
validates it against a pydantic model and turns every validation error into a message that names
file, line, key path and the offending value. Callers add only what their format checks beyond
the model (templates, cross-file references).

Relative paths in a config file (inventory, rule files and their globs, alert state, spool, TLS
files, secret files...) are relative to the file's folder, as in Prometheus: the same file works
whatever the current directory. The built-in defaults, used when there is no file, are relative to
the current directory. Either way the loaded config holds absolute paths (``config check`` shows them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from config.errors import ConfigError, describe_errors, format_path, location
from config.model import JboxmonConfig
from config.retention import safety_net_problems
from config.yamlsource import Location, YamlSyntaxError, load_yaml_file

DEFAULT_PATH = Path("config/jboxmon.yaml")

M = TypeVar("M", bound=BaseModel)

# Labels spell a key path in messages; rule files add the rule's name: ``groups[0].rules[2] (X): for``.
Labeller = Callable[[Location, Any], str]


@dataclass(frozen=True)
class LoadedModel(Generic[M]):
    """A validated model with what pointed messages about it need: the raw data and each key's line."""

    model: M
    data: Any
    lines: dict[Location, int]
    source: str
    labeller: Labeller

    def problem(self, path: Location, message: str) -> str:
        """``file:line: key.path: message`` for a problem the model alone cannot see."""
        return f"{location(self.source, self.lines, path)}: {self.labeller(path, self.data)}: {message}"


def load_model(
    path: Path | str,
    model: type[M],
    *,
    expected: str,
    empty: Any = None,
    labeller: Labeller | None = None,
) -> LoadedModel[M]:
    """Read ``path`` and validate it as ``model``; raises ConfigError listing every problem, each pointed.

    ``expected`` says what the top level must be (``"a mapping with 'groups'"``), for files that are
    not a mapping. An empty file is validated as ``empty`` when given (a config file with nothing in
    it means the defaults), and is otherwise an error of its own.
    """
    source = str(path)
    try:
        data, lines = load_yaml_file(path)
    except YamlSyntaxError as exc:
        raise ConfigError([str(exc)]) from exc
    if data is None:
        if empty is None:
            raise ConfigError([f"{source}:1: (top level): the file is empty; expected {expected}"])
        data = empty
    if not isinstance(data, dict):
        raise ConfigError([f"{source}:1: (top level): expected {expected}, got {type(data).__name__}"])
    label = labeller or _plain
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc, source, lines, model, lambda p: label(p, data))
        raise ConfigError(problems) from exc
    return LoadedModel(parsed, data, lines, source, label)


def _plain(path: Location, data: Any) -> str:
    return format_path(path)


def load_config(path: Path | str | None = None) -> JboxmonConfig:
    """Read and validate a config file; raises ConfigError listing every problem, each pointed.

    A missing default file gives the built-in defaults, so a fresh checkout runs with no file at all.
    """
    if path is None:
        if not DEFAULT_PATH.exists():
            return resolve_paths(JboxmonConfig(), Path.cwd())
        path = DEFAULT_PATH
    loaded = load_model(path, JboxmonConfig, expected="a mapping of sections", empty={})
    # across sections: InfluxDB must never drop what jboxmon has not archived yet; names referenced
    # across the alerting section (receivers and time intervals used by routes) exist
    problems = safety_net_problems(loaded.model.influxdb.retention, loaded.model.retention)
    problems += list(loaded.model.cross_checks())
    if problems:
        raise ConfigError([loaded.problem(key_path, text) for key_path, text in problems])
    return resolve_paths(loaded.model, Path(path).absolute().parent)


def resolve_paths(config: JboxmonConfig, base: Path) -> JboxmonConfig:
    """``config`` with every relative path (and ``rules.files`` pattern) made absolute against ``base``."""
    resolved = _resolve_model(config, base)
    files = [str(_absolute(Path(pattern), base)) for pattern in resolved.rules.files]
    return resolved.model_copy(update={"rules": resolved.rules.model_copy(update={"files": files})})


def _resolve_model(model: BaseModel, base: Path):
    updates = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            updates[name] = _resolve_model(value, base)
        elif isinstance(value, PurePath):
            updates[name] = _absolute(value, base)
        elif isinstance(value, list) and any(isinstance(item, BaseModel) for item in value):
            updates[name] = [_resolve_model(item, base) if isinstance(item, BaseModel) else item for item in value]
    return model.model_copy(update=updates) if updates else model


def _absolute(path: Path, base: Path) -> Path:
    # normpath, not resolve(): '..' is folded but symbolic links are kept as the operator wrote them
    return Path(os.path.normpath(base / path))
