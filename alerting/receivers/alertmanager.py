"""Forward to an external Prometheus Alertmanager (HA: its cluster gossips, so two jboxmon instances
forwarding the same alerts still give one notification). Like Prometheus, every URL gets the alerts;
delivery counts as done when at least one accepted them, since the cluster shares them.
"""

from __future__ import annotations

from alerting.receivers import Context, NotifyError
from config.alerting import AlertmanagerConfig
from storage.http import HttpClient, HttpError, HttpSettings


def postable(payload: dict) -> list[dict]:
    """Webhook v4 alerts back into ``POST /api/v2/alerts`` items (firing ones carry no endsAt)."""
    items = []
    for alert in payload["alerts"]:
        item = {"labels": alert["labels"], "annotations": alert["annotations"], "startsAt": alert["startsAt"],
                "generatorURL": alert.get("generatorURL", "")}  # fmt: skip
        if alert["status"] == "resolved":
            item["endsAt"] = alert["endsAt"]
        elif payload.get("forwardEndsAt"):
            item["endsAt"] = payload["forwardEndsAt"]
        items.append(item)
    return items


class AlertmanagerNotifier:
    def __init__(self, config: AlertmanagerConfig, context: Context) -> None:
        self.config = config
        verify = str(config.tls_verify) if not isinstance(config.tls_verify, bool) else config.tls_verify
        self.client = HttpClient(settings=HttpSettings(timeout_s=config.timeout, verify=verify))

    def notify(self, payload: dict, key: str) -> None:
        items = postable(payload)
        errors: list[HttpError] = []
        for url in self.config.urls:
            try:
                self.client.request("POST", url.rstrip("/") + "/api/v2/alerts", json=items)
            except HttpError as exc:
                errors.append(exc)
        if len(errors) == len(self.config.urls):
            raise NotifyError("; ".join(map(str, errors)), retryable=any(e.retryable for e in errors))

    def close(self) -> None:
        self.client.close()
