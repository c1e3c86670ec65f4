"""Receiver integrations behind one small protocol, found by the ``type`` of their config list
(``email_configs`` -> ``email``). Each gets the notification document (Alertmanager's webhook v4
payload) and its idempotency key; it raises :class:`NotifyError` saying whether a retry can help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from alerting.alertchart import AlertCharts


class NotifyError(Exception):
    """Delivery failed; ``retryable`` is the only thing the sender branches on."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Notifier(Protocol):
    def notify(self, payload: dict, key: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class Context:
    """What integrations may need besides their own config."""

    templates_dir: Path | None = None
    charts: AlertCharts | None = None  # charts of alerts (email); None: no InfluxDB to read series from
    external_url: str = ""  # the status page, where notification links point (alerting.links)


def registry() -> dict[str, Callable[[object, Context], Notifier]]:
    """``type`` -> factory; imported lazily so the email stack loads only when configured."""
    from alerting.receivers.alertmanager import AlertmanagerNotifier
    from alerting.receivers.email import EmailNotifier
    from alerting.receivers.webhook import WebhookNotifier

    return {"email": EmailNotifier, "webhook": WebhookNotifier, "alertmanager": AlertmanagerNotifier}


def build(kind: str, config: object, context: Context) -> Notifier:
    try:
        factory = registry()[kind]
    except KeyError:
        raise ValueError(f"unknown receiver type {kind!r} (known: {', '.join(sorted(registry()))})") from None
    return factory(config, context)
