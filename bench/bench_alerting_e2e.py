"""End to end: fault onset in the live simulator -> webhook received.

A private InfluxDB; ``jboxmon run`` components in this process (collector, rules with the default
``power`` group, alerting with a webhook to a local receiver, alerts handed over in process); the
fleet simulator pushing live at real speed (``jboxmon simulate --live``, its own process). For each
injected fault the default rules should catch (SetpointNotFollowed, stuck power), it prints the delay
from the fault's onset (ground truth) to the webhook, split into the rules' share (onset -> the
alert reaches the alerting service, from its history) and alerting's share (-> webhook), against the target
``for`` + evaluation interval + ``group_wait`` + 2 s.

    python bench/bench_alerting_e2e.py [--boxes 200] [--duration 600] [--group-wait 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import load_config  # noqa: E402
from storage.server import InfluxServer, free_port  # noqa: E402

FOR_S, INTERVAL_S = 180.0, 10.0  # the default SetpointNotFollowed rule and its group
KINDS = {"setpoint_not_followed", "power_stuck"}


class Receiver:
    def __init__(self) -> None:
        self.first_seen: dict[str, tuple[float, float]] = {}  # jbox_id -> (arrival, startsAt)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                arrived = time.time()
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                for alert in payload["alerts"]:
                    box = alert["labels"].get("jbox_id")
                    if alert["status"] == "firing" and box and box not in outer.first_seen:
                        started = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")).timestamp()
                        outer.first_seen[box] = (arrived, started)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def write_files(tmp: Path, influx_url: str, receiver_url: str, group_wait: float) -> tuple[Path, int]:
    rules = yaml.safe_load((ROOT / "rules/default/jbox.yaml").read_text())
    rules["groups"] = [g for g in rules["groups"] if g["name"] == "power"]
    (tmp / "power.yaml").write_text(yaml.safe_dump(rules))
    collector_port = free_port()
    config = {
        "influxdb": {"url": influx_url, "database": "bench"},
        "inventory": {"path": str(tmp / "registry.sqlite")},
        "collector": {"listen": f"127.0.0.1:{collector_port}", "spool_dir": str(tmp / "spool")},
        "rules": {"files": [str(tmp / "power.yaml")], "listen": f"127.0.0.1:{free_port()}",
                  "state_db": str(tmp / "state.sqlite"), "write_alerts_to_influxdb": False},
        "alerting": {"listen": f"127.0.0.1:{free_port()}", "outbox": str(tmp / "outbox.sqlite"),
                     "silences": str(tmp / "silences.sqlite"), "history": str(tmp / "history.sqlite"),
                     "route": {"receiver": "hook", "group_by": ["alertname", "jbox_id"],
                               "group_wait": f"{group_wait:g}s", "group_interval": "1m"},
                     "receivers": [{"name": "hook", "webhook_configs": [{"url": receiver_url}]}],
                     "inhibit_rules": []},
        "simulator": {"ground_truth": str(tmp / "truth.jsonl"), "collector_url": f"http://127.0.0.1:{collector_port}"},
    }  # fmt: skip
    path = tmp / "jboxmon.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, collector_port


def register(config, boxes: int, seed: int, tmp: Path) -> Path:
    from inventory import SERVICES, Box, Registry
    from simulator.scenario import build_scenario
    from simulator.window import SimWindow

    fleet = build_scenario(boxes=boxes, seed=seed, window=SimWindow(0, 60, 10), simulator=config.simulator).fleet
    new = [Box(box, site=fleet.sites[i], region=fleet.regions[i], service=SERVICES[int(fleet.service[i])])
           for i, box in enumerate(fleet.ids)]  # fmt: skip
    with Registry(config.inventory.path) as registry:
        tokens = registry.issue_many(new)
    path = tmp / "tokens.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(tokens, out)
    return path


def arrivals(services) -> dict[str, float]:
    """When each box's alert first reached the alerting service (its history), by jbox_id."""
    from jboxmon.alerting_component import AlertingComponent

    component = next(c for c in services.started if isinstance(c, AlertingComponent))
    first: dict[str, float] = {}
    for event in component.service.history.query(kind="alert", limit=100_000):
        if event.state == "firing" and event.jbox_id:
            first.setdefault(event.jbox_id, event.at)
    return first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--duration", type=float, default=600, help="live seconds (faults need 3 min to fire)")
    parser.add_argument("--group-wait", type=float, default=10.0)
    args = parser.parse_args()
    from jboxmon.services import Services

    receiver = Receiver()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        influxd = InfluxServer(tmp / "influxdb").start()
        services = None
        try:
            path, _ = write_files(tmp, influxd.url, receiver.url, args.group_wait)
            config = load_config(path)
            tokens = register(config, args.boxes, args.seed, tmp)
            services = Services(config, config_path=str(path)).start()
            started = time.time()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            subprocess.run([sys.executable, "-m", "jboxmon.cli", "--config", str(path), "simulate", "--live",
                            "--boxes", str(args.boxes), "--seed", str(args.seed), "--tokens", str(tokens),
                            "--duration", f"{int(args.duration)}s", "--speed", "1"],
                           env=env, check=False, stdout=subprocess.DEVNULL)  # fmt: skip
            time.sleep(args.group_wait + 5)
            truth = [json.loads(line) for line in (tmp / "truth.jsonl").read_text().splitlines() if line.strip()]
            arrived = arrivals(services)
        finally:
            if services is not None:
                services.stop()
            influxd.stop()
    end = started + args.duration
    target = FOR_S + INTERVAL_S + args.group_wait + 2
    rows = []
    for event in truth:
        onset = datetime.fromisoformat(event["start"].replace("Z", "+00:00")).timestamp()
        fault_end = datetime.fromisoformat(event["end"].replace("Z", "+00:00")).timestamp()
        if event["kind"] not in KINDS or not event.get("should_alert"):
            continue
        if onset + target + 30 > end or fault_end - onset < FOR_S + 30:
            continue  # too late in the run, or too short, to be measured here
        seen = receiver.first_seen.get(event["jbox_id"])
        rows.append((event["jbox_id"], event["kind"], onset, seen, arrived.get(event["jbox_id"])))
    print(f"{args.boxes} boxes live for {args.duration:g}s; {len(rows)} measurable faults; "
          f"target for + interval + group_wait + 2 s = {target:g} s")  # fmt: skip
    totals, rules_share, alerting_share = [], [], []
    for box, kind, onset, seen, handed in rows:
        if seen is None or handed is None:
            print(f"  {box} {kind}: no webhook")
            continue
        arrival, fired = seen
        totals.append(arrival - onset)
        rules_share.append(handed - onset)
        alerting_share.append(arrival - handed)
        print(f"  {box} {kind:<22} onset->webhook {arrival - onset:6.1f} s  (rules: firing at +{fired - onset:5.1f} s, "
              f"handed over at +{handed - onset:5.1f} s; alerting {arrival - handed:5.1f} s)")  # fmt: skip
    if totals:
        print(f"onset -> webhook: median {statistics.median(totals):.1f} s, max {max(totals):.1f} s; "
              f"target {target:g} s; median/target {statistics.median(totals) / target:.2f}; "
              f"{sum(t <= target for t in totals)}/{len(totals)} within target")  # fmt: skip
        print(f"alerting share (handed over -> webhook): median {statistics.median(alerting_share):.1f} s "
              f"(group_wait {args.group_wait:g} s); rules share (onset -> handed over): median "
              f"{statistics.median(rules_share):.1f} s (for {FOR_S:g} s + interval {INTERVAL_S:g} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
