"""Load and validate ``jboxmon.yaml``."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from config.errors import ConfigError, describe_errors, format_path, location
from config.model import JboxmonConfig
from config.yamlsource import YamlSyntaxError, load_yaml_file

DEFAULT_PATH = Path("config/jboxmon.yaml")


def load_config(path: Path | str | None = None) -> JboxmonConfig:
    """Read and validate a config file; raises ConfigError listing every problem, each pointed.

    A missing default file gives the built-in defaults, so a fresh checkout runs with no file at all.
    """
    if path is None:
        if not DEFAULT_PATH.exists():
            return JboxmonConfig()
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
    problems = [f"{location(source, lines, path)}: {format_path(path)}: {why}" for path, why in config.cross_checks()]
    if problems:
        raise ConfigError(problems)
    return config
