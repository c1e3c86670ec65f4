"""Email over SMTP (STARTTLS, implicit TLS or plain; optional auth): a text and an HTML body from
templates (``email.subject.j2``, ``email.txt.j2``, ``email.html.j2``, overridable from
``alerting.templates_dir``) and, for box alerts, inline PNG charts of the offending series (firing
and resolved alerts alike: a resolution shows the recovery). Each alert links to the status page's
box view and to its prefilled silence form (:mod:`alerting.links`).

SMTP answers are classified as the RFC says: 4xx is transient (retry), 5xx permanent; a refused
connection or a timeout is retryable, a failed login is not.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerting.links import box_url, silence_url
from alerting.receivers import Context, NotifyError
from alerting.templates import TemplateError, Templates
from config.alerting import EmailConfig

log = logging.getLogger(__name__)
MAX_LISTED = 50  # alerts listed in one email; the rest are counted
MAX_CHARTS = 3  # charts per email, one per box: the first boxes listed (firing before resolved)
# drawing time per email: after the first chart, no new one starts past this, so a burst of emails
# (a fleet-wide outage) is not held up by matplotlib on a busy machine
CHART_BUDGET_S = 2.0


class EmailNotifier:
    def __init__(self, config: EmailConfig, context: Context) -> None:
        self.config = config
        self.context = context
        self.templates = Templates(context.templates_dir)

    def notify(self, payload: dict, key: str) -> None:
        message = self.build(payload, key)
        self._send(message)

    def build(self, payload: dict, key: str) -> EmailMessage:
        if not self.config.send_resolved:
            payload = {**payload, "alerts": [a for a in payload["alerts"] if a["status"] == "firing"]}
        charts = self._charts(payload)
        external = self.context.external_url or payload.get("externalURL", "")
        alerts = [self._linked(a, external) for a in payload["alerts"]]
        context = {
            **payload,
            "alerts": alerts,
            "firing": [a for a in alerts if a["status"] == "firing"],
            "resolved": [a for a in alerts if a["status"] == "resolved"],
            "max_listed": MAX_LISTED,
            "charts": [{"cid": cid[1:-1], "caption": chart.caption} for cid, chart in charts],
            "status_url": external,
            "group_silence_url": silence_url(external, payload.get("groupLabels", {}),
                                             payload.get("groupLabels", {}).keys()) if external else "",
        }
        try:
            subject = " ".join(self.templates.render("email.subject.j2", context).split())[:250]
            text = self.templates.render("email.txt.j2", context)
            html = self.templates.render("email.html.j2", context)
        except TemplateError as exc:
            raise NotifyError(str(exc), retryable=False) from exc
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.config.from_
        message["To"] = ", ".join(self.config.to)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{key}@jboxmon>"  # the idempotency key: mail clients drop repeats
        for name, value in self.config.headers.items():
            message[name] = value
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        for index, (cid, chart) in enumerate(charts, start=1):
            # inline, not attachment: mail clients show it in the HTML where the <img> is, not as a file
            message.get_payload()[1].add_related(chart.png, "image", "png", cid=cid, disposition="inline",
                                                 filename=f"chart-{index}.png")  # fmt: skip
        return message

    @staticmethod
    def _linked(alert: dict, external: str) -> dict:
        """The alert with its links for the templates (the payload itself stays Alertmanager's)."""
        box = alert.get("labels", {}).get("jbox_id", "")
        if not external:
            return {**alert, "boxURL": "", "silenceURL": ""}
        return {**alert, "boxURL": box_url(external, box) if box else external,
                "silenceURL": silence_url(external, alert.get("labels", {}))}  # fmt: skip

    def _charts(self, payload: dict) -> list[tuple[str, object]]:
        """Up to MAX_CHARTS (content id, chart) pairs, one per box; drawn in the sender's thread."""
        charts = self.context.charts
        if not self.config.chart or charts is None:
            return []
        out, boxes = [], set()
        ordered = sorted(payload["alerts"], key=lambda a: a.get("status") != "firing")
        deadline = time.monotonic() + CHART_BUDGET_S
        for alert in ordered:
            box = alert.get("labels", {}).get("jbox_id")
            if not box or box in boxes or len(out) >= MAX_CHARTS or (out and time.monotonic() > deadline):
                continue
            try:
                chart = charts.for_alert(alert)
            except Exception:  # a chart is a bonus: an email without one beats no email
                log.exception("chart for %s failed", box)
                continue
            if chart is not None:
                boxes.add(box)
                out.append((make_msgid(domain="jboxmon"), chart))
        return out

    def _send(self, message: EmailMessage) -> None:
        host, port = self.config.smarthost.rsplit(":", 1)
        context = ssl.create_default_context()
        if self.config.tls_verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.config.tls_verify is not True:
            context.load_verify_locations(str(self.config.tls_verify))
        try:
            if self.config.tls == "ssl":
                client = smtplib.SMTP_SSL(host, int(port), self.config.hello, timeout=self.config.timeout,
                                          context=context)  # fmt: skip
            else:
                client = smtplib.SMTP(host, int(port), self.config.hello, timeout=self.config.timeout)
            with client:
                if self.config.tls == "starttls":
                    client.starttls(context=context)
                if self.config.auth_username:
                    password = self.config.auth_password.resolve() if self.config.auth_password else ""
                    client.login(self.config.auth_username, password)
                client.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"SMTP login refused: {exc}", retryable=False) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise NotifyError(
                f"SMTP refused recipients: {exc.recipients}", retryable=all(c < 500 for c in codes)
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(
                f"SMTP answered {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:  # STARTTLS or AUTH missing on the server: fix the config
            raise NotifyError(f"SMTP server: {exc}", retryable=False) from exc
        except ValueError as exc:  # a missing secret
            raise NotifyError(f"SMTP password: {exc}", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS handshake
            raise NotifyError(f"SMTP {self.config.smarthost}: {exc}", retryable=True) from exc

    def close(self) -> None:
        pass
