"""Typed configuration: strict models, pointed errors, secrets from the environment or files."""

from config.errors import ConfigError
from config.loader import DEFAULT_PATH, load_config
from config.model import JboxmonConfig

__all__ = ["ConfigError", "DEFAULT_PATH", "JboxmonConfig", "load_config"]
