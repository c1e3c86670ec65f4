"""Load and validate ``jboxmon.yaml``.

Relative paths in a config file (inventory, rule files and their globs, alert state, spool, TLS
files, secret files...) are relative to the file's folder, as in Prometheus: the same file works
whatever the current directory. The built-in defaults, used when there is no file, are relative to
the current directory. Either way the loaded config holds absolute paths (``config check`` shows them).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from pydantic import BaseModel, ValidationError

from config.errors import ConfigError, describe_errors
from config.model import JboxmonConfig
from config.yamlsource import YamlSyntaxError, load_yaml_file

DEFAULT_PATH = Path("config/jboxmon.yaml")


def load_config(path: Path | str | None = None) -> JboxmonConfig:
    """Read and validate a config file; raises ConfigError listing every problem, each pointed.

    A missing default file gives the built-in defaults, so a fresh checkout runs with no file at all.
    """
    if path is None:
        if not DEFAULT_PATH.exists():
            return resolve_paths(JboxmonConfig(), Path.cwd())
        path = DEFAULT_PATH
    source = str(path)
    try:
        data, lines = load_yaml_file(path)
    except YamlSyntaxError as exc:
        raise ConfigError([str(exc)]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}:1: (top level): expected a mapping of sections, got {type(data).__name__}"])
    try:
        config = JboxmonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, source, lines, JboxmonConfig)) from exc
    return resolve_paths(config, Path(path).absolute().parent)


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
