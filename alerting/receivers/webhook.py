"""Webhook: Alertmanager's webhook payload (version "4") POSTed as JSON.

Headers: ``Idempotency-Key`` (the same for every retry of one notification, so a receiver can drop
repeats) and, with ``hmac_secret``, ``X-Jboxmon-Signature: sha256=<hex HMAC-SHA256 of the body>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from alerting.receivers import Context, NotifyError
from config.alerting import WebhookConfig
from storage.http import HttpClient, HttpError, HttpSettings


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def truncate(payload: dict, max_alerts: int) -> dict:
    if not max_alerts or len(payload["alerts"]) <= max_alerts:
        return payload
    return {**payload, "alerts": payload["alerts"][:max_alerts],
            "truncatedAlerts": payload.get("truncatedAlerts", 0) + len(payload["alerts"]) - max_alerts}  # fmt: skip


class WebhookNotifier:
    def __init__(self, config: WebhookConfig, context: Context) -> None:
        self.config = config
        verify = str(config.tls_verify) if not isinstance(config.tls_verify, bool) else config.tls_verify
        self.client = HttpClient(settings=HttpSettings(timeout_s=config.timeout, verify=verify,
                                                       max_response_bytes=1024 * 1024))  # fmt: skip

    def notify(self, payload: dict, key: str) -> None:
        body = json.dumps(truncate(payload, self.config.max_alerts), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.config.hmac_secret is not None:
            try:
                secret = self.config.hmac_secret.resolve()
            except ValueError as exc:  # the operator must fix the secret: retrying cannot help
                raise NotifyError(f"webhook secret: {exc}", retryable=False) from exc
            headers[self.config.signature_header] = sign(secret, body)
        try:
            self.client.request("POST", self.config.url, data=body, headers=headers)
        except HttpError as exc:
            raise NotifyError(str(exc), retryable=exc.retryable, retry_after_s=exc.retry_after_s) from exc

    def close(self) -> None:
        self.client.close()
