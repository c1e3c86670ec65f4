"""The status page with auth on: sign in, silence a firing alert from its row, see who created the
silence, expire it; what a viewer, a foreign page and a missing CSRF token cannot do. Over HTTP here;
tests/controlplane/test_status_browser.py does the same in headless Chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from config import load_config
from jboxmon.alerting_component import AlertingComponent
from jboxmon.status_component import StatusComponent
from tests.controlplane.conftest import write_config
from tests.controlplane.helpers import issue_operator
from tests.status.conftest import closed_port_url


class Page:
    """A firing alert in a real alerting service, the status page in front of it, two operators."""

    def __init__(self, tmp_path: Path) -> None:
        down = closed_port_url()
        urls = f"  urls: {{collector: '{down}', rules: '{down}', retention: '{down}'}}\n"
        path = write_config(tmp_path, "status:\n  refresh: 30s\n  timeout: 1s\n  listen: 127.0.0.1:0\n" + urls)
        inventory = tmp_path / "registry.sqlite"
        self.alerting = AlertingComponent(load_config(path), None, path, port=0).start()
        config = load_config(path)
        urls = config.status.urls.model_copy(update={"alerting": self.alerting.url})
        config = config.model_copy(update={"status": config.status.model_copy(update={"urls": urls})})
        self.operator = issue_operator(inventory, "operator", name="alice")
        self.viewer = issue_operator(inventory, "viewer", name="victor")
        _, producer = issue_operator(inventory, "producer")
        alert = {"labels": {"alertname": "Overheating", "severity": "critical", "jbox_id": "jbox-0002"},
                 "annotations": {"summary": "hot"}}  # fmt: skip
        requests.post(self.alerting.url + "/api/v2/alerts", json=[alert], timeout=5,
                      headers={"Authorization": f"Bearer {producer}"}).raise_for_status()  # fmt: skip
        self.status = StatusComponent(config, port=0).start()
        self.refresh()
        self.url = self.status.url

    def refresh(self) -> None:
        self.status.service.refresher.refresh_once()

    def stop(self) -> None:
        self.status.stop()
        self.alerting.stop()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    page = Page(tmp_path)
    yield page
    page.stop()


def sign_in(page: Page, who: tuple[str, str]) -> requests.Session:
    session = requests.Session()
    answer = session.post(page.url + "/login", data={"name": who[0], "token": who[1]}, allow_redirects=False,
                          timeout=5)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return session


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_sign_in_silence_from_the_row_and_expire(page: Page) -> None:
    anonymous = requests.get(page.url + "/", headers={"Accept": "text/html"}, allow_redirects=False, timeout=5)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/login"
    assert requests.get(page.url + "/api/v1/status", timeout=5).status_code == 401
    assert requests.get(page.url + "/health", timeout=5).status_code == 200
    wrong = requests.post(page.url + "/login", data={"name": "alice", "token": "jbo_guess"}, timeout=5)
    assert wrong.status_code == 401 and "unknown operator name or token" in wrong.text

    login = requests.post(page.url + "/login", data={"name": page.operator[0], "token": page.operator[1]},
                          allow_redirects=False, timeout=5)  # fmt: skip
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    browser = sign_in(page, page.operator)
    home = browser.get(page.url + "/", timeout=5).text
    link = re.search(r'<a class="silence" href="([^"]+)">', home).group(1).replace("&amp;", "&")
    assert link == "/silence?alertname=Overheating&jbox_id=jbox-0002"
    form = browser.get(page.url + link, timeout=5).text
    assert 'value="Overheating"' in form and 'value="jbox-0002"' in form
    body = {"csrf": csrf_of(form), "name": ["alertname", "jbox_id", ""], "value": ["Overheating", "jbox-0002", ""],
            "duration": "1h", "comment": "fan swap"}  # fmt: skip
    # without the CSRF token, or from another site, nothing happens
    assert browser.post(page.url + "/silence", data={**body, "csrf": "x"}, timeout=5).status_code == 403
    foreign = browser.post(page.url + "/silence", data=body, headers={"Origin": "https://evil.example"}, timeout=5)
    assert foreign.status_code == 403
    assert page.alerting.service.silences.list() == []
    created = browser.post(page.url + "/silence", data=body, allow_redirects=False, timeout=5)
    assert created.status_code == 303 and created.headers["Location"] == "/silences"
    (silence,) = page.alerting.service.silences.list()
    assert silence.created_by == "alice" and silence.comment == "fan swap"
    assert 3590 < silence.ends_at - time.time() <= 3600
    listing = browser.get(page.url + "/silences", timeout=5).text
    assert '<td class="created-by">alice</td>' in listing
    page.refresh()
    assert "Overheating" in browser.get(page.url + "/", timeout=5).text
    assert browser.get(page.url + "/api/v1/status", timeout=5).json()["alerts"]["counts"]["silenced"] == 1
    expired = browser.post(page.url + f"/silences/{silence.id}/expire", data={"csrf": csrf_of(listing)},
                           allow_redirects=False, timeout=5)  # fmt: skip
    assert expired.status_code == 303
    assert 'id="no-silences"' in browser.get(page.url + "/silences", timeout=5).text
    # the audit names alice, through the page
    events = [(e.actor, e.action) for e in page.alerting.control.audit.query(action="silence")]
    assert events == [("alice", "silence.expire"), ("alice", "silence.create")]
    # signed out: the session is gone
    out = browser.post(page.url + "/logout", data={"csrf": csrf_of(listing)}, allow_redirects=False, timeout=5)
    assert out.status_code == 303 and "Max-Age=0" in out.headers["Set-Cookie"]
    assert browser.get(page.url + "/api/v1/status", timeout=5).status_code == 401


def test_a_viewer_sees_but_cannot_silence(page: Page) -> None:
    browser = sign_in(page, page.viewer)
    form = browser.get(page.url + "/silence?alertname=Overheating", timeout=5).text
    body = {"csrf": csrf_of(form), "name": "alertname", "value": "Overheating", "duration": "1h", "comment": "x"}
    refused = browser.post(page.url + "/silence", data=body, timeout=5)
    assert refused.status_code == 403 and "role viewer" in refused.text
    assert page.alerting.service.silences.list() == []
    assert browser.get(page.url + "/api/v1/status", timeout=5).status_code == 200


def test_revoking_the_operator_ends_their_session(page: Page) -> None:
    browser = sign_in(page, page.viewer)
    assert browser.get(page.url + "/api/v1/status", timeout=5).status_code == 200
    page.status.control.operators.revoke(page.viewer[0])
    assert browser.get(page.url + "/api/v1/status", timeout=5).status_code == 401
