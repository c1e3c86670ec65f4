"""The page in a real browser: headless Chromium (Debian's ``chromium``) loads it, runs its script and
dumps the DOM it built; the firing alert and the down component must be there, the injected label as
text only. CI installs chromium (.ci/run, the Makefile's test set-up); only a local run without it skips."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from jboxmon.status_component import StatusComponent

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; CI installs it)"
)


def dump_dom(url: str, profile: Path) -> str:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        "--dump-dom", url,
    ]  # fmt: skip
    # generous: chromium's first start on a busy 2-core CI machine takes seconds
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_browser_renders_the_firing_alert_and_the_down_component(fleet_page: StatusComponent, tmp_path: Path) -> None:
    dom = dump_dom(fleet_page.url + "/", tmp_path / "profile")
    retention = re.search(r'<tr class="component state-down" id="component-retention">(.*?)</tr>', dom, re.S)
    assert retention, dom[:3000]
    assert "down" in retention.group(1) and "unreachable" in retention.group(1)
    overheating = re.search(r'<tr class="alert sev-critical">(?:(?!</tr>).)*Overheating(?:(?!</tr>).)*</tr>', dom, re.S)
    assert overheating and 'href="/box/jbox-0000"' in overheating.group(0)
    # the label that looks like a script is text in the DOM, never an element
    assert "&lt;script&gt;alert(" in dom
    assert re.findall(r"<script\b[^>]*>", dom) == ['<script src="/static/refresh.js" defer="">']


def screenshot(url: str, profile: Path, out: Path, size: str = "1280,900") -> Path:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={profile}", f"--window-size={size}", f"--screenshot={out}", url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
    keep = os.environ.get("JBOXMON_SCREENSHOT_DIR")  # to look at them: JBOXMON_SCREENSHOT_DIR=/tmp/shots
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / out.name)
    return out


def test_screenshot_banner_is_red_with_critical_alerts(fleet_page: StatusComponent, tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image")
    shot = image.imread(screenshot(fleet_page.url + "/", tmp_path / "profile", tmp_path / "status-page.png"))
    pixels = (shot[:, :, :3] * 255).round().astype(int)
    # the banner: the first rows below the dark header that are the banner's red (#c62828)
    red = [y for y in range(0, 200) if tuple(pixels[y, 600]) == (198, 40, 40)]
    assert len(red) > 30, "no red banner at the top of the page"
    box = screenshot(fleet_page.url + "/box/jbox-0002", tmp_path / "profile", tmp_path / "box-view.png")
    assert box.stat().st_size > 5000
