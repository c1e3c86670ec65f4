"""The ``status:`` section: the fleet status page an on-call operator opens first (``jboxmon status``).

The page asks each service's ``/health`` and the alerting service's ``/api/v2/alerts`` over HTTP, and
reads the inventory, from a background refresher: the page itself never waits on an upstream.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from config.fields import Duration, ListenAddress, Listens, Secret, ServesTls, Strict


class ComponentUrls(Strict):
    """Where each service is reached; ``null`` = ``http://`` its own ``listen`` address on this host."""

    collector: str | None = None
    rules: str | None = None
    alerting: str | None = None
    retention: str | None = None

    @field_validator("collector", "rules", "alerting", "retention")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value


class StatusConfig(Listens, ServesTls):
    """The status page: what it shows, how fresh, and how much."""

    enabled: bool = True  # started inside `jboxmon run`
    listen: ListenAddress = "127.0.0.1:8186"
    refresh: Duration = Field(10, gt=0)
    timeout: Duration = Field(2, gt=0)
    stale_after: Duration = Field(60, gt=0)
    reporting_window: Duration = Field(300, gt=0)
    max_listed: int = Field(50, ge=1, le=10_000)
    box_url: str = "/box/{jbox_id}"
    urls: ComponentUrls = ComponentUrls()
    # its viewer token for the alerting API; null = issued by the page itself at start (same inventory)
    alerting_token: Secret | None = None
    tls_verify: bool | Path = True  # https upstreams: true, false, or the path of a CA bundle


    @field_validator("box_url")
    @classmethod
    def _box_url(cls, value: str) -> str:
        # a link on the page: only http(s) or a path here, never javascript: or data:
        if "{jbox_id}" not in value or not re.match(r"^(https?://[^/\s]+)?/", value):
            raise ValueError(f"expected a path or http(s) URL containing {{jbox_id}}, got {value!r}")
        if re.search(r"\{(?!jbox_id\})", value):
            raise ValueError(f"only {{jbox_id}} may be substituted, got {value!r}")
        return value

    @model_validator(mode="after")
    def _timeout_below_refresh(self) -> StatusConfig:
        if self.timeout >= self.refresh:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must be shorter than refresh ({self.refresh:g}s): "
                "a round of checks has to end before the next one starts"
            )
        if self.stale_after <= self.refresh:
            raise ValueError(
                f"stale_after ({self.stale_after:g}s) must be longer than refresh ({self.refresh:g}s), "
                "or every snapshot would look stale"
            )
        return self

