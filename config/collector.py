"""The ``collector:`` section: the ingestion gateway and the scraper."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.fields import Duration, Strict

FieldType = Literal["float", "integer", "string", "boolean"]
BOX_TAGS = ("jbox_id", "site", "region", "service")
# The JSON payload versions the collector serves. Their registry is collector/payloads/, which config
# must not import (it sits below the collector); a test holds this tuple equal to that registry.
PAYLOAD_VERSIONS = ("v1", "v2")
PayloadVersionName = Literal[PAYLOAD_VERSIONS]


class MeasurementSchema(Strict):
    """What a box may write to one measurement: its fields with their types, and extra tags."""

    retention_policy: str = "raw"
    fields: dict[str, FieldType]
    tags: list[str] = []

    @field_validator("tags")
    @classmethod
    def _no_box_tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if tag in BOX_TAGS:
                raise ValueError(f"{tag!r} is always allowed and set from the registry; do not list it")
        return value


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
            retention_policy="logs", fields={"code": "string", "message": "string"}, tags=["level"]
        ),
        "scrape": MeasurementSchema(fields={"up": "boolean", "duration_s": "float"}),
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


class CollectorConfig(Strict):
    listen: str = "127.0.0.1:8181"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    spool_dir: Path = Path("var/spool")
    spool_max_bytes: int = Field(1 << 30, gt=0)
    max_body_bytes: int = Field(10 << 20, gt=0)
    max_future: Duration = 300
    token_overlap: Duration = 86400
    batch_lines: int = Field(20_000, ge=1)
    flush_interval: Duration = 0.2
    rate_limit: RateLimit = RateLimit()
    payload_versions: dict[PayloadVersionName, PayloadVersionPolicy] = {
        name: PayloadVersionPolicy() for name in PAYLOAD_VERSIONS
    }
    schema_: dict[str, MeasurementSchema] = Field(default_factory=default_schema, alias="schema")
    pull: PullConfig = PullConfig()

    model_config = Strict.model_config | {"populate_by_name": True}

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.\-:\[\]]+:\d{1,5}", value):
            raise ValueError(f"expected host:port like '127.0.0.1:8181', got {value!r}")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> CollectorConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])
