"""Field types shared by every config section: durations, secrets, strict base model."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from config.durations import parse_duration


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _duration(value: object) -> float:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    raise ValueError(f"expected a duration like '3m', got {value!r}")


Duration = Annotated[float, BeforeValidator(_duration)]
"""Seconds, written in YAML as ``10s``, ``3m``, ``1h30m`` or ``7d``."""


_HOST_PORT = re.compile(r"[\w.\-:\[\]]+:\d{1,5}")


def _listen_address(value: object) -> str:
    if not isinstance(value, str) or not _HOST_PORT.fullmatch(value):
        raise ValueError(f"expected host:port like '127.0.0.1:8181', got {value!r}")
    return value


ListenAddress = Annotated[str, BeforeValidator(_listen_address)]
"""Where a service listens: ``host:port`` (``[::1]:8181`` for IPv6)."""


class Listens:
    """``host`` and ``port`` of a section's ``listen`` address, for the services that bind it."""

    listen: str

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class ServesTls(Strict):
    """``tls_cert`` and ``tls_key`` (PEM files) of a service that can serve HTTPS: both or neither."""

    tls_cert: Path | None = None
    tls_key: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self):
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self


class Secret(Strict):
    """A secret read at use time from an environment variable or a file, never from the YAML.

    ``password: {env: JBOXMON_INFLUX_PASSWORD}`` or ``password: {file: /run/secrets/influx}``.
    """

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_value(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError(
                "secrets are not written in the file: use {env: VARIABLE} or {file: PATH}, got a plain string"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret needs exactly one of 'env' or 'file'")
        return self

    def resolve(self) -> str:
        """The secret's value; raises ValueError naming the variable or file when it is missing."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ValueError(f"environment variable {self.env!r} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file '{self.file}': {exc.strerror}") from exc

    def __repr__(self) -> str:  # never print the value
        return f"Secret(env={self.env!r})" if self.env else f"Secret(file='{self.file}')"
