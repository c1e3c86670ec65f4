"""The ``rules:`` section: which rule files run, where alert state lives, where alerts go."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from config.fields import Duration, ListenAddress, Listens, Secret, ServesTls, Strict


class StreamConfig(Listens, Strict):
    """The writes InfluxDB 1.x forwards to the rules engine (a subscription, as Kapacitor's)."""

    enabled: bool = True
    listen: ListenAddress = "127.0.0.1:0"  # where InfluxDB posts them; port 0: any free port
    # the address InfluxDB reaches that listener at; null = http://<listen> (InfluxDB on this host)
    advertise: str | None = None
    hold: Duration = 180  # how much of the forwarded samples is held in memory

    @field_validator("advertise")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("http://"):
            raise ValueError(f"expected an http:// URL (InfluxDB 1.x posts over HTTP), got {value!r}")
        return value

    @field_validator("hold")
    @classmethod
    def _long_enough(cls, value: float) -> float:
        if value < 60:
            raise ValueError(
                f"expected at least 60s (the samples of a 1-minute step and their late data), got {value:g}s"
            )
        return value


class RulesConfig(Listens, ServesTls):
    files: list[str] = ["rules/default/jbox.yaml"]  # paths or glob patterns
    state_db: Path = Path("var/rules-state.sqlite")
    listen: ListenAddress = "127.0.0.1:8182"  # HTTP API: /api/v1/alerts, /api/v1/rules, /health, /metrics
    alerting_url: str | None = None  # POST firing/resolved alerts (Alertmanager v2 format) here
    # its credential there (a producer's token); null = issued by the rules engine itself at start,
    # which works when the alerting service shares this inventory
    alerting_token: Secret | None = None
    reload_every: Duration = 5
    misfire_grace: Duration = 30
    late_data: Duration = 15  # an evaluation re-reads this much of what it read before (late points)
    write_alerts_to_influxdb: bool = True
    # `jboxmon rules run`'s niceness (0: as started): on a node it shares with the collector, an
    # evaluation's CPU burst waits for the collector's acknowledgements, not the other way round
    nice: int = Field(10, ge=0, le=19)
    stream: StreamConfig = StreamConfig()

    @field_validator("files")
    @classmethod
    def _some_files(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("expected at least one rule file or pattern, got an empty list")
        return value

    @field_validator("alerting_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value
