"""Email over SMTP (STARTTLS, implicit TLS or plain; optional auth): a text and an HTML body from
templates (``email.subject.j2``, ``email.txt.j2``, ``email.html.j2``, overridable from
``alerting.templates_dir``) and, for a box alert, an inline PNG chart of the offending series.

SMTP answers are classified as the RFC says: 4xx is transient (retry), 5xx permanent; a refused
connection or a timeout is retryable, a failed login is not.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerting.chart import colour_hex, line_chart
from alerting.receivers import Context, NotifyError
from alerting.templates import TemplateError, Templates
from config.alerting import EmailConfig

MAX_LISTED = 50  # alerts listed in one email; the rest are counted


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
        chart, title, legend = self._chart(payload)
        cid = make_msgid(domain="jboxmon")
        context = {
            **payload,
            "firing": [a for a in payload["alerts"] if a["status"] == "firing"],
            "resolved": [a for a in payload["alerts"] if a["status"] == "resolved"],
            "max_listed": MAX_LISTED,
            "chart_cid": cid[1:-1] if chart else "",
            "chart_title": title,
            "chart_legend": legend,
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
        if chart:
            message.get_payload()[1].add_related(chart, "image", "png", cid=cid, filename="chart.png")
        return message

    def _chart(self, payload: dict) -> tuple[bytes | None, str, list[tuple[str, str]]]:
        if not self.config.chart or self.context.series is None:
            return None, "", []
        for alert in payload["alerts"]:
            if alert["status"] != "firing":
                continue
            series = self.context.series(alert, self.context.chart_window_s)
            if series:
                box = alert["labels"].get("jbox_id", "")
                minutes = int(self.context.chart_window_s // 60)
                legend = [(name, colour_hex(i)) for i, name in enumerate(series)]
                return line_chart(series), f"{box}, last {minutes} min", legend
        return None, "", []

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
