"""The ``rules:`` section: which rule files run, where alert state lives, where alerts go."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from config.fields import Duration, ListenAddress, Listens, Secret, ServesTls


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
