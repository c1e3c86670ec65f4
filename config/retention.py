"""The ``retention:`` section: what leaves InfluxDB, when, and where it goes first.

jboxmon archives (Parquet on any fsspec URL), verifies, and only then deletes. InfluxDB's own retention
policies stay as safety nets: each must be longer than the age at which jboxmon archives from it, which
:func:`safety_net_problems` checks (``jboxmon config check`` reports it, pointed at the key).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.durations import format_duration
from config.fields import Duration, ListenAddress, Listens, Secret, ServesTls, Strict

# jboxmon's InfluxDB retention policies and the ``influxdb.retention`` key that sets each duration
POLICY_KEYS = {"raw": "raw", "logs": "logs", "ds_1m": "downsampled_1m", "ds_1h": "downsampled_1h"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ArchiveConfig(Strict):
    """Where archives go: ``file://`` (default) or ``s3://bucket/prefix`` (s3fs; any S3-protocol server)."""

    url: str = "file://./var/archive"
    endpoint_url: str | None = None  # S3-compatible server (MinIO, Ceph...); None = AWS
    region: str | None = None
    access_key_id: Secret | None = None  # None: s3fs's usual chain (environment, ~/.aws, instance role)
    secret_access_key: Secret | None = None
    compression_level: int = Field(3, ge=1, le=22)  # zstd
    # server-side encryption of s3:// archives: AES256 (SSE-S3) or aws:kms (SSE-KMS), passed to every upload
    encryption: Literal["AES256", "aws:kms"] | None = None
    kms_key_id: str | None = None  # with aws:kms: the key id or ARN (None: the account's default KMS key)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not re.match(r"^(file|s3|memory)://.+", value):
            raise ValueError(f"expected a file://, s3:// or memory:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _key_pair(self) -> ArchiveConfig:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together: give both or neither")
        if self.encryption and not self.url.startswith("s3://"):
            raise ValueError(f"encryption applies to s3:// archives only, not {self.url!r} (use disk encryption)")
        if self.kms_key_id and self.encryption != "aws:kms":
            raise ValueError(f"kms_key_id needs encryption: aws:kms, got encryption: {self.encryption}")
        return self


class Policy(Strict):
    """One measurement of one InfluxDB retention policy: archived, then deleted, once older than ``age``.

    ``levels`` gives other ages to lines whose ``level`` tag is listed (logs: errors kept longer);
    ``age: 0`` keeps the data in InfluxDB (nothing is archived or deleted).
    """

    measurement: str
    retention_policy: str = "raw"
    age: Duration
    levels: dict[str, Duration] = {}

    @field_validator("measurement", "retention_policy")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError(f"expected a name of letters, digits and '_', got {value!r}")
        return value

    @property
    def max_age(self) -> float:
        ages = [self.age, *self.levels.values()]
        return 0.0 if 0 in ages else max(ages)


class Tier(Strict):
    """One downsampling step: windows of ``every`` from ``source`` into ``<measurement>_<name>``.

    ``source`` is ``raw`` or the name of an earlier tier. Points keep mean, min, max and count per
    numeric field and series (box); ``age`` then archives and prunes the tier itself (0 = kept).
    """

    name: str
    every: Duration
    source: str = "raw"
    retention_policy: str
    measurements: list[str] = ["telemetry"]
    age: Duration = 0

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_]+$", value):
            raise ValueError(f"expected a name of letters, digits and '_', got {value!r}")
        return value


def default_policies() -> list[Policy]:
    return [
        Policy(measurement="telemetry", retention_policy="raw", age=5 * 86400),
        Policy(measurement="heartbeat", retention_policy="raw", age=5 * 86400),
        Policy(measurement="scrape", retention_policy="raw", age=5 * 86400),
        Policy(measurement="alerts", retention_policy="raw", age=5 * 86400),  # alert history, from rules
        Policy(
            measurement="log", retention_policy="logs", age=86400, levels={"error": 30 * 86400, "critical": 30 * 86400}
        ),
    ]


def default_tiers() -> list[Tier]:
    return [
        Tier(name="1m", every=60, source="raw", retention_policy="ds_1m", age=60 * 86400),
        Tier(name="1h", every=3600, source="1m", retention_policy="ds_1h", age=0),
    ]


class UsageConfig(Strict):
    """The hourly usage roll-up per site, region and service (energy, availability, faulty share)."""

    enabled: bool = True
    measurement: str = "usage"
    retention_policy: str = "ds_1h"
    power_field: str = "p_meas_kw"  # positive = delivered to the grid, negative = absorbed
    default_sample_period: Duration = Field(10, gt=0)  # for a box-hour with a single sample
    max_sample_period: Duration = Field(60, gt=0)  # a sample stands for the gap to the next one, at most this


class QueriesConfig(Strict):
    """How big jobs (downsampling, archive export, usage, restore) split their InfluxDB queries.

    Each query covers at most ``slice`` of time and ``boxes`` boxes; one that InfluxDB is too slow
    to answer (a read timeout) is halved and asked again, down to one window of one box.
    """

    slice: Duration = Field(3600, gt=0)
    boxes: int = Field(500, ge=1)


class DataRetentionConfig(Listens, ServesTls):
    """The ``retention:`` section (InfluxDB's own policies are ``influxdb.retention``)."""

    enabled: bool = True  # scheduled inside `jboxmon run`
    interval: Duration = 3600
    listen: ListenAddress = "127.0.0.1:8185"  # /metrics and /health of the scheduled passes
    archive: ArchiveConfig = ArchiveConfig()
    state_dir: Path = Path("var/retention")  # checkpoints and the local lease: created 0700
    lease_ttl: Duration = Field(600, gt=0)
    delete_slice: Duration = Field(600, gt=0)
    late_windows: int = Field(3, ge=0, le=1000)
    queries: QueriesConfig = QueriesConfig()
    policies: list[Policy] = Field(default_factory=default_policies)
    downsample: list[Tier] = Field(default_factory=default_tiers)
    usage: UsageConfig = UsageConfig()

    @model_validator(mode="after")
    def _tiers_chain(self) -> DataRetentionConfig:
        seen = {"raw"}
        for tier in self.downsample:
            if tier.source not in seen:
                raise ValueError(
                    f"downsample tier {tier.name!r}: source {tier.source!r} is neither raw nor an earlier tier"
                )
            seen.add(tier.name)
        return self


def safety_net_problems(influx_retention: object, retention: DataRetentionConfig) -> list[tuple[tuple, str]]:
    """Each InfluxDB retention policy that could drop data jboxmon has not archived yet.

    Returns (key path, message) pairs; the path points at ``influxdb.retention.<key>``.
    """
    problems = []
    ages: list[tuple[str, float, str]] = [
        (p.retention_policy, p.max_age, f"{p.measurement} ({p.retention_policy})") for p in retention.policies
    ]
    ages += [(t.retention_policy, t.age, f"downsample tier {t.name}") for t in retention.downsample]
    for policy, age, what in ages:
        key = POLICY_KEYS.get(policy)
        if key is None:
            continue
        duration = getattr(influx_retention, key)
        if duration == 0:
            continue
        if age == 0:
            message = f"drops data after {format_duration(duration)} but {what} is never archived (age 0)"
        elif duration <= age:
            message = (
                f"must be longer than the age at which {what} is archived ({format_duration(age)}), "
                f"got {format_duration(duration)}"
            )
        else:
            continue
        problems.append((("influxdb", "retention", key), message))
    return problems
