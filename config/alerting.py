"""The ``alerting:`` section. ``route``, ``receivers``, ``inhibit_rules`` and ``time_intervals`` take
Alertmanager's shapes, so a team can paste its routing tree; jboxmon adds ``disabled`` on receivers
and routes (picked up on reload), where its files live, and how delivery retries.

Receivers hold one list per integration type, named like Alertmanager's: ``email_configs``,
``webhook_configs``, and ``alertmanager_configs`` (forward to an external Alertmanager for HA).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.fields import Duration, ListenAddress, Listens, Secret, ServesTls, Strict
from config.matchers import parse_matchers
from config.timeintervals import TimeIntervalConfig

INTEGRATIONS = ("email", "webhook", "alertmanager")


def _matcher_list(value: list[str]) -> list[str]:
    for item in value:
        parse_matchers(item)
    return value


def _http_url(value: str) -> str:
    if not str(value).startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


class RouteConfig(Strict):
    """A node of the routing tree. Unset timers, receiver and ``group_by`` are inherited from the parent.

    ``group_by: ['...']`` groups by every label (one notification per alert). A ``disabled`` route is
    left out of the tree: its alerts go where they would go if it were not written.
    """

    model_config = {**Strict.model_config, "populate_by_name": True}

    receiver: str | None = None
    group_by: list[str] | None = None
    matchers: list[str] = []
    match: dict[str, str] = {}  # Alertmanager's older spellings, still accepted
    match_re: dict[str, str] = {}
    continue_: bool = Field(False, alias="continue")
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = []
    active_time_intervals: list[str] = []
    routes: list[RouteConfig] = []
    disabled: bool = False

    _check_matchers = field_validator("matchers")(classmethod(lambda cls, v: _matcher_list(v)))

    @field_validator("match_re")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            parse_matchers(f"{name}=~{_quote(pattern)}")
        return value

    def all_matchers(self) -> list[tuple[str, str, str]]:
        """Every matcher of this node, whichever way it was written."""
        found = [m for text in self.matchers for m in parse_matchers(text)]
        found += [(name, "=", value) for name, value in self.match.items()]
        found += [(name, "=~", value) for name, value in self.match_re.items()]
        return found


class EmailConfig(Strict):
    model_config = {**Strict.model_config, "populate_by_name": True}

    to: list[str]
    from_: str = Field("jboxmon@localhost", alias="from")
    smarthost: str = "127.0.0.1:25"  # host:port
    hello: str = "localhost"
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    tls_verify: bool | Path = True
    auth_username: str | None = None
    auth_password: Secret | None = None
    send_resolved: bool = False
    chart: bool = True  # inline PNG of the offending series over chart_window
    timeout: Duration = 30
    headers: dict[str, str] = {}

    @field_validator("to", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> object:
        if isinstance(value, str):  # Alertmanager writes `to: 'a@x, b@y'`
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and not value:
            raise ValueError("expected at least one address")
        return value

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {value!r}")
        return value


class WebhookConfig(Strict):
    url: str
    send_resolved: bool = True
    max_alerts: int = Field(0, ge=0)  # 0 = all; beyond it the payload says truncatedAlerts
    timeout: Duration = 10
    tls_verify: bool | Path = True
    hmac_secret: Secret | None = None  # signs the body: X-Jboxmon-Signature: sha256=<hex>
    signature_header: str = "X-Jboxmon-Signature"

    _url = field_validator("url")(classmethod(lambda cls, v: _http_url(v)))


class AlertmanagerConfig(Strict):
    """Forward alerts to an external Alertmanager (``POST /api/v2/alerts`` on every URL, as Prometheus does)."""

    urls: list[str]
    timeout: Duration = 10
    tls_verify: bool | Path = True

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("expected at least one URL")
        return [_http_url(url) for url in value]


class ReceiverConfig(Strict):
    """A named destination; a receiver with no integration only records its notifications in history."""

    name: str
    disabled: bool = False
    email_configs: list[EmailConfig] = []
    webhook_configs: list[WebhookConfig] = []
    alertmanager_configs: list[AlertmanagerConfig] = []

    def integrations(self) -> list[tuple[str, Strict]]:
        return [(kind, item) for kind in INTEGRATIONS for item in getattr(self, f"{kind}_configs")]


class InhibitRuleConfig(Strict):
    """While an alert matching ``source_matchers`` fires, alerts matching ``target_matchers`` with
    the same values of the ``equal`` labels are not notified. Alertmanager's older spellings
    (``source_match``, ``source_match_re``, ``target_match``, ``target_match_re``) are accepted too."""

    source_matchers: list[str] = []
    target_matchers: list[str] = []
    source_match: dict[str, str] = {}
    source_match_re: dict[str, str] = {}
    target_match: dict[str, str] = {}
    target_match_re: dict[str, str] = {}
    equal: list[str] = []

    _check = field_validator("source_matchers", "target_matchers")(classmethod(lambda cls, v: _matcher_list(v)))

    @field_validator("source_match_re", "target_match_re")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            parse_matchers(f"{name}=~{_quote(pattern)}")
        return value

    @model_validator(mode="after")
    def _both_sides(self) -> InhibitRuleConfig:
        if not self.sources() or not self.targets():
            raise ValueError("an inhibit rule needs source and target matchers (source_matchers, target_matchers)")
        return self

    def sources(self) -> list[str]:
        return self.source_matchers + _as_matchers(self.source_match, "=") + _as_matchers(self.source_match_re, "=~")

    def targets(self) -> list[str]:
        return self.target_matchers + _as_matchers(self.target_match, "=") + _as_matchers(self.target_match_re, "=~")


def _as_matchers(values: dict[str, str], op: str) -> list[str]:
    return [f"{name}{op}{_quote(value)}" for name, value in values.items()]


class RetryConfig(Strict):
    """Delivery retries: exponential backoff from ``initial`` to ``max``, given up after ``give_up_after``."""

    initial: Duration = 1
    max: Duration = 60
    give_up_after: Duration = 86400


def _default_route() -> RouteConfig:
    return RouteConfig(receiver="log", group_by=["alertname", "region"], group_wait=30, group_interval=300,
                       repeat_interval=4 * 3600)  # fmt: skip


def _default_inhibit() -> list[InhibitRuleConfig]:
    return [
        InhibitRuleConfig(
            source_matchers=['alertname="JBoxSilent"'],
            target_matchers=['alertname!="JBoxSilent"'],
            equal=["jbox_id"],
        )
    ]


class AlertingConfig(Listens, ServesTls):
    listen: ListenAddress = "127.0.0.1:8183"  # POST /api/v2/alerts, silences, history, /metrics
    external_url: str = "http://127.0.0.1:8183"  # links in notifications
    outbox: Path = Path("var/alerting/outbox.sqlite")
    silences: Path = Path("var/alerting/silences.sqlite")
    history: Path = Path("var/alerting/history.sqlite")
    history_retention: Duration = 30 * 86400
    templates_dir: Path | None = None  # email.subject.j2, email.html.j2, email.txt.j2 override the built-ins
    resolve_timeout: Duration = 300  # an alert sent without endsAt resolves this long after its last update
    chart_window: Duration = 3600
    retry: RetryConfig = RetryConfig()
    route: RouteConfig = Field(default_factory=_default_route)
    receivers: list[ReceiverConfig] = [ReceiverConfig(name="log")]
    inhibit_rules: list[InhibitRuleConfig] = Field(default_factory=_default_inhibit)
    time_intervals: list[TimeIntervalConfig] = []
    mute_time_intervals: list[TimeIntervalConfig] = []  # Alertmanager's older name for time_intervals

    _url = field_validator("external_url")(classmethod(lambda cls, v: _http_url(v)))

    @model_validator(mode="after")
    def _root_route(self) -> AlertingConfig:
        if not self.route.receiver:
            raise ValueError("route.receiver: the root route needs a receiver")
        if self.route.matchers or self.route.match or self.route.match_re:
            raise ValueError("route: the root route matches every alert, it takes no matchers")
        return self

    def cross_checks(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Names that must exist: receivers and time intervals referenced by routes; unique names."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        receivers = [r.name for r in self.receivers]
        intervals = [t.name for t in self.all_time_intervals()]
        for index, name in enumerate(receivers):
            if receivers.index(name) != index:
                problems.append((("receivers", index, "name"), f"receiver {name!r} is defined twice"))
        for index, name in enumerate(intervals):
            if intervals.index(name) != index:
                where = ("time_intervals", index) if index < len(self.time_intervals) else (
                    "mute_time_intervals", index - len(self.time_intervals))  # fmt: skip
                problems.append(((*where, "name"), f"time interval {name!r} is defined twice"))

        def walk(route: RouteConfig, path: tuple[str | int, ...]) -> None:
            if route.receiver is not None and route.receiver not in receivers:
                problems.append(((*path, "receiver"), f"unknown receiver {route.receiver!r} (defined: "
                                 f"{', '.join(receivers) or 'none'})"))  # fmt: skip
            for key in ("mute_time_intervals", "active_time_intervals"):
                for i, name in enumerate(getattr(route, key)):
                    if name not in intervals:
                        problems.append(((*path, key, i), f"unknown time interval {name!r} (defined: "
                                         f"{', '.join(intervals) or 'none'})"))  # fmt: skip
            for i, child in enumerate(route.routes):
                walk(child, (*path, "routes", i))

        walk(self.route, ("route",))
        return problems

    def all_time_intervals(self) -> list[TimeIntervalConfig]:
        return self.time_intervals + self.mute_time_intervals



def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
