"""The ``collector:`` section: the ingestion gateway and the scraper."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.fields import Duration, ListenAddress, Listens, Strict

FieldType = Literal["float", "integer", "string", "boolean"]
BOX_TAGS = ("jbox_id", "site", "region", "service")
# The JSON payload versions the collector serves. Their registry is collector/payloads/, which config
# must not import (it sits below the collector); a test holds this tuple equal to that registry.
PAYLOAD_VERSIONS = ("v1", "v2")
PayloadVersionName = Literal[PAYLOAD_VERSIONS]


class TagValues(Strict):
    """The values a box may give one of its own tags: a list, or a regular expression the whole
    value must match. Declared for every such tag, so no box can grow the fleet's series at will."""

    values: list[str] | None = None
    pattern: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TagValues:
        if (self.values is None) == (self.pattern is None):
            raise ValueError("give exactly one of 'values' (a list) or 'pattern' (a regular expression)")
        for value in self.values or []:
            if not value or "\\" in value or not value.isprintable():
                raise ValueError(f"a tag value is printable, non-empty and without backslash, got {value!r}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a regular expression: {exc}") from None
        return self

    def allows(self, value: str) -> bool:
        if self.values is not None:
            return value in self.values
        return re.fullmatch(self.pattern, value) is not None


class MeasurementSchema(Strict):
    """What may be written to one measurement: its fields with their types, the tags a box may set
    (with their allowed values), its retention policy, and who writes it (``push``: boxes through
    the ingestion endpoints; ``scrape``: only the collector's scraper)."""

    retention_policy: Literal["raw", "logs", "ds_1m", "ds_1h"] = "raw"  # the policies jboxmon creates
    source: Literal["push", "scrape"] = "push"
    fields: dict[str, FieldType]
    tags: dict[str, TagValues] = {}

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_with_values(cls, value: object) -> object:
        if isinstance(value, list):
            raise ValueError(
                "each tag declares its values: write {level: {values: [debug, info]}} or {name: {pattern: '...'}}"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _no_box_tags(cls, value: dict[str, TagValues]) -> dict[str, TagValues]:
        for tag in value:
            if tag in BOX_TAGS:
                raise ValueError(f"{tag!r} is always set from the registry; do not list it")
            if tag == "time":
                raise ValueError("'time' cannot be a tag: InfluxDB refuses it")
        return value

    @field_validator("fields")
    @classmethod
    def _no_time_field(cls, value: dict[str, FieldType]) -> dict[str, FieldType]:
        if "time" in value:
            raise ValueError("'time' cannot be a field: InfluxDB refuses it")
        return value


LOG_LEVELS = ["debug", "info", "warning", "error", "critical"]


def default_schema() -> dict[str, MeasurementSchema]:
    telemetry = dict.fromkeys(
        ["p_meas_kw", "p_setpoint_kw", "grid_freq_hz", "soc_pct", "temp_max_c", "temp_min_c"], "float"
    )
    return {
        "telemetry": MeasurementSchema(fields=telemetry),
        "heartbeat": MeasurementSchema(
            fields={
                "uptime_s": "integer",
                "fw_version": "string",
                "payload_version": "integer",
                "disk_used_pct": "float",
            }
        ),
        "log": MeasurementSchema(
            retention_policy="logs",
            fields={"code": "string", "message": "string"},
            tags={"level": TagValues(values=LOG_LEVELS)},
        ),
        "scrape": MeasurementSchema(source="scrape", fields={"up": "boolean", "duration_s": "float"}),
    }


class PayloadVersionPolicy(Strict):
    """Lifecycle of one JSON payload version: deprecated from a date, refused (410) after its sunset."""

    deprecated_since: dt.date | None = None
    sunset: dt.date | None = None

    @model_validator(mode="after")
    def _order(self) -> PayloadVersionPolicy:
        if self.sunset and self.deprecated_since and self.sunset < self.deprecated_since:
            raise ValueError(f"sunset {self.sunset} is before deprecated_since {self.deprecated_since}")
        return self


class RateLimit(Strict):
    """Per-token token bucket, in points; a request over it gets 429 with Retry-After."""

    points_per_s: float = Field(2000, gt=0)
    burst_points: int = Field(50_000, gt=0)


class PullTarget(Strict):
    jbox_id: str
    url: str


class PullConfig(Strict):
    """Scrape JBOX HTTP status endpoints (pull mode)."""

    enabled: bool = False
    interval: Duration = 10
    timeout: Duration = 3
    concurrency: int = Field(64, ge=1, le=1024)
    targets: list[PullTarget] = []
    targets_file: Path | None = None


class CollectorConfig(Listens, Strict):
    listen: ListenAddress = "127.0.0.1:8181"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    spool_dir: Path = Path("var/spool")
    spool_max_bytes: int = Field(1 << 30, gt=0)
    dead_letter_max_bytes: int = Field(64 << 20, gt=0)
    max_series_per_box: int = Field(100, ge=1)
    age_margin: Duration = 3600
    max_body_bytes: int = Field(10 << 20, gt=0)
    max_future: Duration = 300
    token_overlap: Duration = 86400
    token_refresh: Duration = Field(1, gt=0)
    workers: int = Field(1, ge=1, le=64)
    batch_lines: int = Field(50_000, ge=1)
    flush_interval: Duration = 0.2
    commit_delay: Duration = Field(0.002, ge=0, le=0.1)
    rate_limit: RateLimit = RateLimit()
    payload_versions: dict[PayloadVersionName, PayloadVersionPolicy] = {
        name: PayloadVersionPolicy() for name in PAYLOAD_VERSIONS
    }
    schema_: dict[str, MeasurementSchema] = Field(default_factory=default_schema, alias="schema")
    pull: PullConfig = PullConfig()

    model_config = Strict.model_config | {"populate_by_name": True}


    @model_validator(mode="after")
    def _tls_pair(self) -> CollectorConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self

