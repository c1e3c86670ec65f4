"""The typed configuration of jboxmon: one model per section of ``config/jboxmon.yaml``.

Each default is declared once, here, and shown in the commented sample file, which a test loads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.alerting import AlertingConfig
from config.auth import AuthConfig, open_listens
from config.collector import CollectorConfig
from config.fields import Duration, Secret, Strict
from config.retention import DataRetentionConfig
from config.rules import RulesConfig
from config.status import StatusConfig

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class RetentionConfig(Strict):
    """How long InfluxDB keeps each level of data (its retention policies)."""

    raw: Duration = 7 * 86400
    logs: Duration = 35 * 86400  # longer than the age of error logs (retention.policies)
    downsampled_1m: Duration = 90 * 86400
    downsampled_1h: Duration = 0  # 0 = forever


class InfluxDBConfig(Strict):
    url: str = "http://127.0.0.1:8086"
    database: str = "jboxmon"
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    timeout: Duration = 10
    gzip: bool = True
    tls_verify: bool | Path = True
    retention: RetentionConfig = RetentionConfig()

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("database")
    @classmethod
    def _database_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"expected a name of letters, digits, '_', '-' or '.', got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> InfluxDBConfig:
        if self.token is not None and (self.username or self.password):
            raise ValueError("use either token (InfluxDB 2.x/3.x) or username/password (1.x), not both")
        return self


class FleetConfig(Strict):
    """Physical facts of a JBOX, used by the simulator, the default rules and dashboards."""

    box_power_kw: float = Field(1000.0, gt=0)
    box_energy_kwh: float = Field(1000.0, gt=0)
    fcr_deadband_hz: float = Field(0.01, ge=0)
    fcr_full_activation_hz: float = Field(0.2, gt=0)
    nominal_frequency_hz: float = 50.0
    temp_warning_c: float = 45.0
    temp_critical_c: float = 55.0
    heartbeat_interval: Duration = Field(3600, gt=0)  # how often a box sends its heartbeat


class SimulatorConfig(Strict):
    """Defaults of ``jboxmon simulate``; each can be overridden on the command line."""

    boxes: int = Field(100, ge=1, le=100_000)
    seed: int = 1
    fault_rate: float = Field(0.1, ge=0, le=1)
    transient_rate: float = Field(0.05, ge=0, le=1)
    interval: Duration = 10
    v2_share: float = Field(0.6, ge=0, le=1)
    afrr_share: float = Field(0.25, ge=0, le=1)
    idle_share: float = Field(0.05, ge=0, le=1)
    ground_truth: Path = Path("var/ground_truth.jsonl")
    collector_url: str = "http://127.0.0.1:8181"

    @model_validator(mode="after")
    def _shares(self) -> SimulatorConfig:
        if self.afrr_share + self.idle_share > 1:
            raise ValueError(f"afrr_share + idle_share must be at most 1, got {self.afrr_share} + {self.idle_share}")
        return self


class InventoryConfig(Strict):
    """Where the fleet inventory (boxes, sites, regions, services, hashed tokens) is kept: the
    embedded SQLite file ``path`` (one node), or a shared PostgreSQL at ``url`` (several nodes)."""

    path: Path = Path("var/registry.sqlite")
    url: str | None = None
    password: Secret | None = None  # PostgreSQL's password; null: none, or the URL's own

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^postgres(ql)?://[^/\s]+/[^/\s]+$", value):
            raise ValueError(f"expected a URL like 'postgresql://jboxmon@db.example:5432/jboxmon', got {value!r}")
        if value is not None and re.match(r"^postgres(ql)?://[^/@]*:[^/@]*@", value):
            raise ValueError("the password is not written in the URL: give it as password: {env: VARIABLE}")
        return value

    @property
    def location(self) -> Path | str:
        """The URL when set, else the file."""
        return self.url if self.url is not None else self.path

    @property
    def where(self) -> str:
        """What messages name: the URL or the file, with the key that sets it."""
        return f"{self.url} (inventory.url)" if self.url is not None else f"{self.path} (inventory.path)"


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class JboxmonConfig(Strict):
    """The whole configuration file."""

    influxdb: InfluxDBConfig = InfluxDBConfig()
    fleet: FleetConfig = FleetConfig()
    inventory: InventoryConfig = InventoryConfig()
    collector: CollectorConfig = CollectorConfig()
    rules: RulesConfig = RulesConfig()
    alerting: AlertingConfig = AlertingConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    retention: DataRetentionConfig = DataRetentionConfig()
    status: StatusConfig = StatusConfig()
    auth: AuthConfig = AuthConfig()
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _links_to_the_status_page(self) -> JboxmonConfig:
        """``alerting.external_url`` left null: notification links point at this file's status page."""
        if self.alerting.external_url is None:
            linked = self.alerting.model_copy(update={"external_url": f"http://{self.status.listen}"})
            object.__setattr__(self, "alerting", linked)  # the sections are frozen; this is their construction
        return self

    def cross_checks(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems that need the whole file (names referenced elsewhere), as (key path, message)."""
        problems = [(("alerting", *path), message) for path, message in self.alerting.cross_checks()]
        return problems + open_listens(self.auth, self.control_plane_listens())

    def control_plane_listens(self) -> dict[str, str]:
        """The listen address of each service behind the ``auth:`` section (the collector has box tokens)."""
        return {
            "rules": self.rules.listen,
            "alerting": self.alerting.listen,
            "retention": self.retention.listen,
            "status": self.status.listen,
        }
