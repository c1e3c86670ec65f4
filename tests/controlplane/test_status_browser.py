"""In headless Chromium (Debian's ``chromium``, driven over the DevTools protocol): sign in on the status
page, silence the firing alert from its row, see it silenced and who did it, expire it. The page runs
no script of its own here: every step is a plain form, as an on-call person would click it."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from storage.server import free_port
from tests.controlplane.test_status_signin import Page, page  # noqa: F401  (the fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (CI installs it)"),
]


class Browser:
    """One headless Chromium tab: ``goto``, ``run`` (JavaScript, from DevTools) and ``wait_for``."""

    def __init__(self, profile: Path) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             f"--remote-debugging-port={port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60  # chromium's first start on a busy 2-core machine takes seconds
        while True:
            try:
                tabs = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                tab = next(t for t in tabs if t["type"] == "page")
                break
            except (requests.RequestException, StopIteration, ValueError):
                assert time.monotonic() < deadline, "chromium did not open its DevTools port"
                time.sleep(0.2)
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=30))
        self.ids = 0

    def call(self, method: str, **params) -> dict:
        self.ids += 1
        self.ws.send(json.dumps({"id": self.ids, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.ids:
                assert "error" not in message, message
                return message["result"]

    def run(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout_s: float = 30):
        deadline = time.monotonic() + timeout_s
        while True:
            # an element found is true (DevTools would hand it back as an empty object)
            value = self.run(f"(() => {{ try {{ const v = {expression}; return v instanceof Node ? true : v; }} "
                             "catch (e) { return null; } })()")  # fmt: skip
            if value:
                return value
            assert time.monotonic() < deadline, f"never true: {expression}; at {self.run('location.href')}: " + str(
                self.run('document.body && document.body.innerText.slice(0, 1500)'))
            time.sleep(0.1)

    def close(self) -> None:
        self._stack.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def test_sign_in_silence_see_it_silenced_expire(page: Page, tmp_path: Path) -> None:  # noqa: F811
    browser = Browser(tmp_path / "profile")
    try:
        browser.goto(page.url + "/")
        browser.wait_for("location.pathname === '/login' && document.getElementById('login')")
        browser.run(f"document.getElementById('name').value = {json.dumps(page.operator[0])};"
                    f"document.getElementById('token').value = {json.dumps(page.operator[1])};"
                    "document.getElementById('sign-in').click()")  # fmt: skip
        row = "[...document.querySelectorAll('tr.alert')].find(r => r.textContent.includes('Overheating'))"
        browser.wait_for(f"location.pathname === '/' && {row}.querySelector('a.silence')")
        assert "firing" in browser.run(f"{row}.textContent")
        browser.run(f"{row}.querySelector('a.silence').click()")
        browser.wait_for("document.getElementById('silence')")
        assert browser.run("[...document.querySelectorAll('input[name=value]')].map(i => i.value)")[:2] == [
            "Overheating", "jbox-0002"]  # fmt: skip
        browser.run("document.getElementById('duration').value = '30m';"
                    "document.getElementById('comment').value = 'fan swap, back by noon';"
                    "document.getElementById('create-silence').click()")  # fmt: skip
        created_by = browser.wait_for("location.pathname === '/silences' && "
                                      "document.querySelector('tr.silence td.created-by').textContent")  # fmt: skip
        assert created_by == "alice"
        page.refresh()  # the page's next round, now
        browser.goto(page.url + "/")
        state = browser.wait_for(f"{row}.lastElementChild.textContent.trim()")
        assert state == "silenced"
        browser.goto(page.url + "/silences")
        browser.wait_for("document.querySelector('tr.silence button.expire')")
        browser.run("document.querySelector('tr.silence button.expire').click()")
        browser.wait_for("document.getElementById('no-silences')")
    finally:
        browser.close()
    assert [s.created_by for s in page.alerting.service.silences.list()] == ["alice"]
    assert page.alerting.service.silences.list()[0].ends_at <= time.time()
