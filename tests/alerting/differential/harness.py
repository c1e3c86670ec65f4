"""Differential runs: one scenario played against Debian's ``prometheus-alertmanager`` and against jboxmon's
alerting service (``jboxmon alerting``, or the component it runs), configured from a jboxmon.yaml.

A scenario file (YAML) holds:

- ``alertmanager``: an alertmanager.yml, and ``jboxmon``: the same design as jboxmon's ``alerting:``
  section (routes, receivers, inhibit rules, time intervals); ``{hook}`` stands for the webhook URL;
- ``steps``: at ``at`` seconds after the start, ``alerts`` to post (``starts``/``ends`` are offsets in
  seconds from the start; without ``starts`` no startsAt is sent), a ``silence`` to create (named, with
  ``starts``/``ends`` offsets; ``update: NAME`` posts it with that silence's id, ``starts: keep`` with the
  start that silence has), a silence to
  ``expire`` by name, ``check_alerts`` or ``check_silences`` (both ``GET /api/v2/alerts`` or
  ``GET /api/v2/silences`` answers compared);
- ``duration``: how long to watch the receivers after the start;
- ``run: command``: jboxmon's side is the ``jboxmon alerting`` command in its own process (else the
  same component, started in the test's process: seconds faster on a loaded machine).

Notifications are compared per (receiver, groupKey), in order: status, group labels, common labels and
annotations, externalURL, version, truncatedAlerts, the alerts in their order with their status,
labels, annotations, fingerprint and generatorURL, their times (within the tolerance), and when each
notification arrived (within the tolerance).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml

from config import load_config
from jboxmon.alerting_component import AlertingComponent
from storage.server import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
EXTERNAL_URL = "http://alerts.example.test"
ZERO = "0001-01-01T00:00:00Z"


class _Server(ThreadingHTTPServer):
    # Alertmanager sends every group's notification at once: with a listen backlog of 5 (the default)
    # connections are dropped, and the kernel's SYN retry makes some of them a second late
    request_queue_size = 128
    daemon_threads = True


class TimedReceiver:
    """Records each webhook POST with the second it arrived, relative to ``t0`` once set."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Side:
    """One system under test: where to post, and what its receiver got."""

    name: str
    url: str
    receiver: TimedReceiver
    silence_ids: dict[str, str] = field(default_factory=dict)
    snapshots: list[list[dict]] = field(default_factory=list)
    silence_snapshots: list[list[dict]] = field(default_factory=list)
    kept_ids: list[bool] = field(default_factory=list)  # per silence update: was the id kept?


def start_alertmanager(workdir: Path, config_text: str) -> tuple[subprocess.Popen, str]:
    config = workdir / "alertmanager.yml"
    config.write_text(config_text)
    port = free_port()
    command = [BINARY, f"--config.file={config}", f"--storage.path={workdir / 'am-data'}",
               f"--web.listen-address=127.0.0.1:{port}", f"--web.external-url={EXTERNAL_URL}",
               "--cluster.listen-address=", "--log.level=warn"]  # fmt: skip
    process = subprocess.Popen(command, stdout=(workdir / "am.log").open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url + "/-/ready", process, workdir / "am.log", timeout_s=30)
    return process, url


class JboxmonAlerting:
    """jboxmon's side: the ``jboxmon alerting`` command in its own process (``command=True``; its start-up
    takes seconds on a loaded machine), or the same component in this process."""

    def __init__(self, workdir: Path, section_text: str, command: bool) -> None:
        section = yaml.safe_load(section_text)
        port = free_port() if command else 0
        section.update({"outbox": str(workdir / "outbox.sqlite"), "silences": str(workdir / "silences.sqlite"),
                        "history": str(workdir / "history.sqlite"), "external_url": EXTERNAL_URL,
                        "listen": f"127.0.0.1:{port}"})  # fmt: skip
        path = workdir / "jboxmon.yaml"
        # auth off (loopback only): the comparison is about notifications, and with a credential a silence's
        # createdBy would be the operator's name instead of what was posted, as Alertmanager keeps it
        config = {"auth": {"mode": "none"}, "alerting": section, "logging": {"level": "WARNING"}}
        path.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen | None = None
        self.component: AlertingComponent | None = None
        if command:
            jboxmon = Path(sys.executable).parent / "jboxmon"
            log = (workdir / "jboxmon.log").open("w")
            self.process = subprocess.Popen([str(jboxmon), "--config", str(path), "alerting"], stdout=log,
                                            stderr=subprocess.STDOUT)  # fmt: skip
            self.url = f"http://127.0.0.1:{port}"
            _wait_ready(self.url + "/health", self.process, workdir / "jboxmon.log", timeout_s=90)
        else:
            self.component = AlertingComponent(load_config(path), None, path, port=0).start()
            self.url = self.component.url

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url}: the process exited: {log.read_text()}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    process.terminate()
    raise AssertionError(f"{url} did not become ready in {timeout_s} s")


def run_scenario(path: Path, workdir: Path) -> dict[str, list]:
    """Play the scenario against both; returns {"alertmanager": [...], "jboxmon": [...]} with the received
    notifications as (seconds after start, payload) and the alert snapshots taken by ``check_alerts``."""
    scenario = yaml.safe_load(path.read_text())
    receivers = {"alertmanager": TimedReceiver(), "jboxmon": TimedReceiver()}
    am_dir, jb_dir = workdir / "am", workdir / "jboxmon"
    am_dir.mkdir(parents=True)
    jb_dir.mkdir(parents=True)
    am_process, jboxmon, errors = None, None, []
    try:
        # jboxmon first: Alertmanager sweeps its emptied groups 30 s after it starts, so it starts last
        jboxmon_section = scenario["jboxmon"].replace("{hook}", receivers["jboxmon"].url)
        jboxmon = JboxmonAlerting(jb_dir, jboxmon_section, command=scenario.get("run") == "command")
        am_process, am_url = start_alertmanager(
            am_dir, scenario["alertmanager"].replace("{hook}", receivers["alertmanager"].url)
        )
        sides = [
            Side("alertmanager", am_url, receivers["alertmanager"]),
            Side("jboxmon", jboxmon.url, receivers["jboxmon"]),
        ]
        for side in sides:  # the first request of a fresh server is slow (threads, connections): not timed
            requests.get(side.url + "/api/v2/alerts", timeout=10).raise_for_status()
        t0_wall, t0 = time.time(), time.monotonic()
        for step in scenario["steps"]:
            _sleep_until(t0 + step["at"])
            threads = [threading.Thread(target=_play, args=(step, side, t0_wall, errors)) for side in sides]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors, errors
        _sleep_until(t0 + scenario["duration"])
        return {side.name: {"notifications": [(round(at - t0, 3), body) for at, body in side.receiver.received],
                            "snapshots": side.snapshots, "silences": side.silence_snapshots,
                            "kept_ids": side.kept_ids} for side in sides}  # fmt: skip
    finally:
        if jboxmon is not None:
            jboxmon.stop()
        if am_process is not None:
            am_process.terminate()
            am_process.wait(10)
        for receiver in receivers.values():
            receiver.close()


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


def _iso(t0_wall: float, offset: float) -> str:
    return dt.datetime.fromtimestamp(t0_wall + offset, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _play(step: dict, side: Side, t0_wall: float, errors: list) -> None:
    """One step on one side (both sides play each step at the same time, from two threads)."""
    try:
        _play_step(step, side, t0_wall)
    except Exception as exc:  # noqa: BLE001 - reported by the scenario runner
        errors.append(f"{side.name}: {exc!r}")


def _play_step(step: dict, side: Side, t0_wall: float) -> None:
    if "alerts" in step:
        items = []
        for spec in step["alerts"]:
            item = {"labels": spec["labels"], "annotations": spec.get("annotations", {}),
                    "generatorURL": spec.get("generatorURL", "")}  # fmt: skip
            if "starts" in spec:
                item["startsAt"] = _iso(t0_wall, spec["starts"])
            if "ends" in spec:
                item["endsAt"] = _iso(t0_wall, spec["ends"])
            items.append(item)
        answer = requests.post(side.url + "/api/v2/alerts", json=items, timeout=5)
        assert answer.status_code == 200, (side.name, answer.status_code, answer.text)
    if "silence" in step:
        spec = step["silence"]
        body = {
            "matchers": spec["matchers"],
            "startsAt": _iso(t0_wall, 0 if spec.get("starts", "keep") == "keep" else spec["starts"]),
            "endsAt": _iso(t0_wall, spec["ends"]),
            "createdBy": "differential",
            "comment": spec["name"],
        }
        if "update" in spec:
            body["id"] = side.silence_ids[spec["update"]]
            if spec.get("starts") == "keep":  # as amtool does: the start the server holds, re-sent
                held = requests.get(f"{side.url}/api/v2/silence/{body['id']}", timeout=5).json()
                body["startsAt"] = held["startsAt"]
        answer = requests.post(side.url + "/api/v2/silences", json=body, timeout=5)
        assert answer.status_code == 200, (side.name, answer.status_code, answer.text)
        side.silence_ids[spec["name"]] = answer.json()["silenceID"]
        if "update" in spec:
            side.kept_ids.append(body["id"] == answer.json()["silenceID"])
    if "expire" in step:
        answer = requests.delete(f"{side.url}/api/v2/silence/{side.silence_ids[step['expire']]}", timeout=5)
        assert answer.status_code == 200, (side.name, answer.status_code, answer.text)
    if step.get("check_alerts"):
        side.snapshots.append(requests.get(side.url + "/api/v2/alerts", timeout=5).json())
    if step.get("check_silences"):
        side.silence_snapshots.append(requests.get(side.url + "/api/v2/silences", timeout=5).json())


# -- comparison -----------------------------------------------------------------------------------


def _seconds(text: str) -> float | None:
    if text == ZERO:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tolerance)


def _notification_shape(body: dict) -> dict:
    """Everything that must be equal, times left out (compared with a tolerance)."""
    return {
        **{k: body[k] for k in ("receiver", "status", "groupLabels", "commonLabels", "commonAnnotations", "groupKey",
                                "externalURL", "version", "truncatedAlerts")},
        # in order: Alertmanager sorts them (job, instance, then labels) and receivers may rely on it
        "alerts": [{k: a[k] for k in ("status", "labels", "annotations", "fingerprint", "generatorURL")}
                   for a in body["alerts"]],
    }  # fmt: skip


def compare_notifications(am: list, jb: list, tolerance: float) -> list[str]:
    """Differences, as readable lines (empty when both sides notified the same things at the same times)."""
    problems = []

    def by_group(received: list) -> dict[tuple[str, str], list]:
        groups: dict[tuple[str, str], list] = {}
        for at, body in received:
            groups.setdefault((body["receiver"], body["groupKey"]), []).append((at, body))
        return groups

    am_groups, jb_groups = by_group(am), by_group(jb)
    for key in sorted(set(am_groups) | set(jb_groups)):
        a_list, j_list = am_groups.get(key, []), jb_groups.get(key, [])
        if len(a_list) != len(j_list):
            a_times, j_times = [at for at, _ in a_list], [at for at, _ in j_list]
            problems.append(f"{key}: alertmanager sent {len(a_list)} at {a_times}, jboxmon {len(j_list)} at {j_times}")
            continue
        for index, ((a_at, a_body), (j_at, j_body)) in enumerate(zip(a_list, j_list, strict=True)):
            where = f"{key} #{index}"
            if abs(a_at - j_at) > tolerance:
                problems.append(f"{where}: alertmanager notified at {a_at}s, jboxmon at {j_at}s")
            if _notification_shape(a_body) != _notification_shape(j_body):
                problems.append(f"{where}: payloads differ:\n  am: {_notification_shape(a_body)}\n"
                                f"  jb: {_notification_shape(j_body)}")  # fmt: skip
                continue
            for a_alert, j_alert in zip(a_body["alerts"], j_body["alerts"], strict=True):
                for name in ("startsAt", "endsAt"):
                    if not _close(_seconds(a_alert[name]), _seconds(j_alert[name]), tolerance):
                        problems.append(f"{where} {a_alert['fingerprint']}: {name} {a_alert[name]} vs {j_alert[name]}")
    return problems


def _snapshot_shape(alerts: list[dict]) -> list[dict]:
    """Silence ids differ between the two (each makes its own): compared by count. An inhibited
    alert's source is compared when it is the only active alert that can be one; where several
    inhibit, Alertmanager names the first of a Go map's (random) order, so any of them is right."""
    active = {a["fingerprint"] for a in alerts if a["status"]["state"] == "active"}
    return [{"fingerprint": a["fingerprint"], "labels": a["labels"], "state": a["status"]["state"],
             "silenced": len(a["status"]["silencedBy"]),
             "inhibitedBy": _inhibited_by(a["status"]["inhibitedBy"], active - {a["fingerprint"]}),
             "receivers": sorted(r["name"] for r in a["receivers"])} for a in alerts]  # fmt: skip


def _inhibited_by(sources: list[str], candidates: set[str]) -> list[str]:
    if len(sources) == 1 and len(candidates) > 1 and sources[0] in candidates:
        return ["(one of the active alerts)"]
    return sorted(sources)


def compare_snapshots(am: list[list[dict]], jb: list[list[dict]]) -> list[str]:
    problems = []
    for index, (a, j) in enumerate(zip(am, jb, strict=True)):
        if [x["fingerprint"] for x in a] != [x["fingerprint"] for x in j]:
            problems.append(f"GET /api/v2/alerts #{index}: order or set differs")
        if _snapshot_shape(a) != _snapshot_shape(j):
            problems.append(
                f"GET /api/v2/alerts #{index} differs:\n  am: {_snapshot_shape(a)}\n  jb: {_snapshot_shape(j)}"
            )
    return problems


def _silence_shape(silence: dict) -> dict:
    matchers = sorted((m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in silence["matchers"])
    return {"comment": silence["comment"], "createdBy": silence["createdBy"], "state": silence["status"]["state"],
            "matchers": matchers}  # fmt: skip


def compare_silences(am: list[list[dict]], jb: list[list[dict]], tolerance: float) -> list[str]:
    """Silence lists in order (ids differ: each side makes its own), times within the tolerance."""
    problems = []
    for index, (a, j) in enumerate(zip(am, jb, strict=True)):
        if [_silence_shape(s) for s in a] != [_silence_shape(s) for s in j]:
            problems.append(f"GET /api/v2/silences #{index} differs:\n  am: {[_silence_shape(s) for s in a]}\n"
                            f"  jb: {[_silence_shape(s) for s in j]}")  # fmt: skip
            continue
        for a_silence, j_silence in zip(a, j, strict=True):
            for name in ("startsAt", "endsAt"):
                if not _close(_seconds(a_silence[name]), _seconds(j_silence[name]), tolerance):
                    problems.append(f"silences #{index} {a_silence['comment']}: {name} {a_silence[name]} vs "
                                    f"{j_silence[name]}")  # fmt: skip
    return problems
