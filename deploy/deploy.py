#!/usr/bin/env python3
"""A reference multi-node deployment of jboxmon, run on one machine: ``deploy.py up|down|status``.

    nginx (hash on Authorization, edge limits) -> collector x 3 --> InfluxDB
                                                       '--> inventory: PostgreSQL (shared)
    rules x 2 (same rule files; each also schedules retention: one runner at a time, advisory lock)
      --> nginx --> jboxmon alerting x 2 --> Alertmanager x 2 (gossip: one notification per group)

Every process listens on loopback, on ports chosen at the first ``up`` and kept in
``<dir>/state.json`` (``--dir``, default ``deploy/var``). ``up`` starts whatever is not running
(so after a crash or a drill's SIGKILL, ``up`` again brings that one component back, on its own
disk); ``down`` stops everything; ``status`` shows each component, its pid and its health, and
exits 1 when one is down. ``tokens N`` registers N boxes through the shared inventory and writes
``<dir>/tokens.json`` for ``jboxmon simulate --live --tokens``.
Each node has its own config folder (``<dir>/nodes/<name>/jboxmon.yaml``): what a real node's
``/etc/jboxmon`` would hold. The PostgreSQL password is generated once, kept 0600 in
``<dir>/secrets/``, and read by the nodes through ``{file: ...}``; the first ``up`` also adds one
admin operator for the control plane (token in ``<dir>/secrets/admin_token``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.pgserver import PostgresServer  # noqa: E402  (after the path: runnable from a checkout)
from storage.server import InfluxServer, free_port  # noqa: E402

COLLECTORS, EVALUATORS, ALERTING, ALERTMANAGERS = 3, 2, 2, 2
ORDER = (  # start order; stopped in reverse
    "postgres", "influxdb",
    *(f"alertmanager-{i}" for i in range(1, ALERTMANAGERS + 1)),
    *(f"alerting-{i}" for i in range(1, ALERTING + 1)),
    *(f"collector-{i}" for i in range(1, COLLECTORS + 1)),
    "nginx",
    *(f"rules-{i}" for i in range(1, EVALUATORS + 1)),
)  # fmt: skip
AM_BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "prometheus-alertmanager"
NGINX_BINARY = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Options:
    """What ``up`` was asked for; kept in state.json, so a later ``up`` (a restart) builds the same."""

    webhook: str | None = None  # where the Alertmanager cluster notifies (none: notifications are only logged)
    retention_interval: str = "1h"
    rule_files: tuple[str, ...] = (str(ROOT / "rules/default/jbox.yaml"),)  # the same files on every evaluator
    group_wait: str = "10s"
    requests_per_s: int = 5000  # nginx, per client address
    connections_per_address: int = 1000


class Deployment:
    def __init__(self, directory: Path, **given: object) -> None:
        """``given``: options of this invocation (None: as before, else the default)."""
        self.dir = Path(directory).resolve()
        self.state_path = self.dir / "state.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        kept = self.state.get("options", {})
        chosen = {**kept, **{key: value for key, value in given.items() if value is not None}}
        if "rule_files" in chosen:
            chosen["rule_files"] = tuple(str(Path(f).resolve()) for f in chosen["rule_files"])
        self.options = Options(**chosen)

    # -- plan --------------------------------------------------------------------------------------

    def plan(self) -> None:
        """Ports and secrets, chosen once and kept (a restarted component comes back where it was)."""
        if self.state.get("ports"):
            return
        # 0711: the postgres system user must pass through to its data folder when we are root
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o711)
        names = [*ORDER, *(f"am-cluster-{i}" for i in range(1, ALERTMANAGERS + 1))]
        names += [f"retention-{i}" for i in range(1, EVALUATORS + 1)] + ["alerting-lb"]
        self.state = {"ports": {name: free_port() for name in names}, "pids": {}}
        secret_dir = self.dir / "secrets"
        secret_dir.mkdir(mode=0o700, exist_ok=True)
        password = secret_dir / "postgres_password"
        fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, secrets.token_urlsafe(24).encode())
        os.close(fd)
        self._save()

    def _save(self) -> None:
        self.state["options"] = {**self.options.__dict__, "rule_files": list(self.options.rule_files)}
        self.state_path.write_text(json.dumps(self.state, indent=2))

    def port(self, name: str) -> int:
        return self.state["ports"][name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    @property
    def password(self) -> str:
        return (self.dir / "secrets" / "postgres_password").read_text().strip()

    @property
    def postgres(self) -> PostgresServer:
        return PostgresServer(self.dir / "postgres", self.port("postgres"), password=self.password)

    # -- configs -----------------------------------------------------------------------------------

    def node_config(self, name: str) -> Path:
        """The config folder of one node (written at every ``up``: ports and peers stay current)."""
        kind, index = name.rsplit("-", 1)
        folder = self.dir / "nodes" / name
        folder.mkdir(parents=True, exist_ok=True)
        document = {
            "influxdb": {"url": self.url("influxdb"), "database": "jboxmon"},
            "inventory": {
                "url": self.postgres.url,
                "password": {"file": str(self.dir / "secrets" / "postgres_password")},
            },
            "logging": {"level": "INFO"},
        }
        if kind == "collector":
            document["collector"] = {"listen": f"127.0.0.1:{self.port(name)}", "spool_dir": str(folder / "spool")}
        elif kind == "rules":
            document["rules"] = {
                "files": list(self.options.rule_files),
                "state_db": str(folder / "rules-state.sqlite"),
                "listen": f"127.0.0.1:{self.port(name)}",
                # through nginx to whichever alerting instance is alive
                "alerting_url": self.url("alerting-lb") + "/api/v2/alerts",
            }
            document["retention"] = {
                "interval": self.options.retention_interval,
                "listen": f"127.0.0.1:{self.port(f'retention-{index}')}",
                "archive": {"url": f"file://{self.dir / 'archive'}"},
                "state_dir": str(folder / "retention"),
            }
        elif kind == "alerting":
            document["alerting"] = {
                "listen": f"127.0.0.1:{self.port(name)}",
                "external_url": self.url(name),
                "outbox": str(folder / "outbox.sqlite"),
                "silences": str(folder / "silences.sqlite"),
                "history": str(folder / "history.sqlite"),
                "route": {
                    "receiver": "cluster",
                    "group_by": ["alertname", "region"],
                    "group_wait": "1s",  # the Alertmanager cluster groups and waits; forward at once
                    "group_interval": "30s",
                    "repeat_interval": "4h",
                },
                "receivers": [{"name": "cluster", "alertmanager_configs": [{"urls": self._am_urls()}]}],
            }
        path = folder / "jboxmon.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def _am_urls(self) -> list[str]:
        return [self.url(f"alertmanager-{i}") for i in range(1, ALERTMANAGERS + 1)]

    def _alertmanager_config(self) -> Path:
        receiver = {"name": "notify"}
        webhook = self.options.webhook
        if webhook:
            receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
        document = {
            "route": {
                "receiver": "notify",
                "group_by": ["alertname", "region"],
                "group_wait": self.options.group_wait,
                "group_interval": "5m",
                "repeat_interval": "4h",
            },
            "receivers": [receiver],
        }
        path = self.dir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def _nginx_config(self) -> Path:
        folder = self.dir / "nginx"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        user = ""
        if os.geteuid() == 0:  # workers drop to nobody; their temporary folders are theirs
            user = "user nobody nogroup;"
            for path in [folder / "tmp", *(folder / "tmp").iterdir()]:
                shutil.chown(path, "nobody", "nogroup")
        servers = "\n".join(
            f"        server 127.0.0.1:{self.port(f'collector-{i}')} max_fails=1 fail_timeout=5s;"
            for i in range(1, COLLECTORS + 1)
        )
        alerting_servers = "\n".join(
            f"        server 127.0.0.1:{self.port(f'alerting-{i}')} max_fails=1 fail_timeout=5s;"
            for i in range(1, ALERTING + 1)
        )
        text = (
            (Path(__file__).parent / "nginx.conf.template")
            .read_text()
            .format(
                dir=folder,
                alerting_servers=alerting_servers,
                alerting_listen=f"127.0.0.1:{self.port('alerting-lb')}",
                user=user,
                servers=servers,
                listen=f"127.0.0.1:{self.port('nginx')}",
                max_body="10m",
                requests_per_s=self.options.requests_per_s,
                request_burst=self.options.requests_per_s * 2,
                connections_per_address=self.options.connections_per_address,
            )
        )
        path = folder / "nginx.conf"
        path.write_text(text)
        return path

    # -- processes ---------------------------------------------------------------------------------

    def command(self, name: str) -> list[str]:
        kind, index = (name.rsplit("-", 1) + [""])[:2] if "-" in name else (name, "")
        jboxmon = [sys.executable, "-m", "jboxmon.cli", "--config"]
        if kind == "collector":
            return [*jboxmon, str(self.node_config(name)), "collector"]
        if kind == "rules":
            return [*jboxmon, str(self.node_config(name)), "run", "--only", "rules,retention"]
        if kind == "alerting":
            return [*jboxmon, str(self.node_config(name)), "alerting"]
        if kind == "alertmanager":
            i = int(index)
            other = 1 + (i % ALERTMANAGERS)
            data = self.dir / name
            data.mkdir(exist_ok=True)
            cluster, peer = self.port(f"am-cluster-{i}"), self.port(f"am-cluster-{other}")
            return [
                AM_BINARY, f"--config.file={self._alertmanager_config()}", f"--storage.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port(name)}",
                f"--cluster.listen-address=127.0.0.1:{cluster}", f"--cluster.advertise-address=127.0.0.1:{cluster}",
                f"--cluster.peer=127.0.0.1:{peer}", "--cluster.peer-timeout=15s", "--cluster.settle-timeout=5s",
                "--cluster.gossip-interval=200ms", "--cluster.pushpull-interval=5s", "--log.level=warn",
            ]  # fmt: skip
        if kind == "nginx":
            return [NGINX_BINARY, "-p", str(self.dir / "nginx"), "-c", str(self._nginx_config())]
        raise ValueError(f"unknown component {name!r}")

    def running(self, name: str) -> bool:
        pid = self.state.get("pids", {}).get(name)
        if not pid:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # a zombie child of a long-lived parent (tests) counts as dead
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    def start(self, name: str) -> None:
        if name == "postgres":
            server = self.postgres.start()
            pid = server._process.pid
        elif name == "influxdb":
            server = InfluxServer(self.dir / "influxdb", self.port("influxdb")).start()
            pid = server._process.pid
        else:
            logs = self.dir / "logs"
            logs.mkdir(exist_ok=True)
            with open(logs / f"{name}.log", "ab") as log:
                process = subprocess.Popen(
                    self.command(name), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
                )
            pid = process.pid
        self.state["pids"][name] = pid
        self._save()
        if name == "influxdb":
            self._init_database()
        if name == "postgres":
            self._ensure_admin()

    def _init_database(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "jboxmon.cli", "--config", str(self.node_config("collector-1")), "db", "init"],
            check=True, cwd=ROOT, capture_output=True,
        )  # fmt: skip

    def _ensure_admin(self) -> None:
        """The control plane needs an operator: one admin, its token kept 0600 in secrets/admin_token."""
        token = self.dir / "secrets" / "admin_token"
        if token.exists():
            return
        subprocess.run(
            [sys.executable, "-m", "jboxmon.cli", "--config", str(self.node_config("collector-1")),
             "users", "add", "deploy-admin", "--role", "admin", "--save", str(token)],
            check=True, cwd=ROOT, capture_output=True,
        )  # fmt: skip

    def healthy(self, name: str) -> tuple[bool, str]:
        """Is it answering? (a live pid is not enough: a process can be up and deaf)."""
        if not self.running(name):
            return False, "not running"
        kind = name.rsplit("-", 1)[0]
        try:
            if name == "postgres":
                self.postgres._connect().close()
                return True, "accepting connections"
            path = {"influxdb": "/ping", "alertmanager": "/-/ready", "nginx": "/ping"}.get(kind, "/health")
            with urllib.request.urlopen(self.url(name) + path, timeout=2) as response:
                return True, f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return exc.code < 500, f"HTTP {exc.code}"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"

    def wait_healthy(self, name: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ok, why = self.healthy(name)
            if ok:
                return
            if not self.running(name):
                raise RuntimeError(f"{name} exited; see {self.dir / 'logs' / (name + '.log')}")
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not become healthy within {timeout_s:.0f}s ({why})")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        pid = self.state.get("pids", {}).get(name)
        if pid and self.running(name):
            os.kill(pid, signal.SIGINT if name == "postgres" else sig)  # SIGINT: PostgreSQL's fast shutdown
            deadline = time.monotonic() + timeout_s
            while self.running(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.running(name):
                os.kill(pid, signal.SIGKILL)
        self.state.get("pids", {}).pop(name, None)
        self._save()

    # -- verbs -------------------------------------------------------------------------------------

    def up(self, only: list[str] | None = None) -> list[str]:
        """Start every component (or ``only`` these) that is not running; returns those started."""
        self.plan()
        started = []
        for name in ORDER:
            if (only and name not in only) or self.running(name):
                continue
            self.start(name)
            started.append(name)
            if name == "postgres" or name == "influxdb":
                continue  # their launchers waited already
            self.wait_healthy(name)
        return started

    def down(self) -> None:
        for name in reversed(ORDER):
            self.stop(name)

    def status(self) -> list[tuple[str, int | None, bool, str]]:
        rows = []
        for name in ORDER:
            ok, why = self.healthy(name) if self.state.get("ports") else (False, "not deployed")
            rows.append((name, self.state.get("pids", {}).get(name), ok, why))
        return rows

    def register(self, count: int) -> Path:
        """Register ``count`` boxes (jbox-00001...) through the shared inventory; tokens to tokens.json."""
        from inventory import Box, Registry

        regions = ("IDF", "PACA", "ARA", "NAQ")
        boxes = [
            Box(f"jbox-{i:05d}", site=f"site-{i // 10:04d}", region=regions[i % len(regions)], service="fcr")
            for i in range(count)
        ]
        with Registry(self.postgres.url, password=self.password) as registry:
            tokens = registry.issue_many(boxes)
        path = self.dir / "tokens.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, json.dumps(tokens, indent=1).encode())
        os.close(fd)
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("verb", choices=["up", "down", "status", "tokens"])
    parser.add_argument("count", nargs="?", type=int, default=100, help="tokens: how many boxes")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "var")
    parser.add_argument("--webhook", default=None, help="up: the URL the Alertmanager cluster notifies")
    parser.add_argument("--only", default=None, help="up: only these components (comma-separated)")
    parser.add_argument("--retention-interval", default=None, help="up: time between retention passes (1h)")
    parser.add_argument("--rules", action="append", default=None, metavar="FILE", help="up: rule files (repeatable)")
    parser.add_argument("--group-wait", default=None, help="up: the Alertmanager cluster's group_wait (10s)")
    args = parser.parse_args(argv)
    deployment = Deployment(
        args.dir,
        webhook=args.webhook,
        retention_interval=args.retention_interval,
        rule_files=args.rules,
        group_wait=args.group_wait,
    )
    try:
        if args.verb == "up":
            started = deployment.up(args.only.split(",") if args.only else None)
            print(f"started: {', '.join(started) or 'nothing (all running)'}")
            print(f"collectors behind nginx: {deployment.url('nginx')}  (POST /write, /v2/telemetry ...)")
            return 0
        if args.verb == "down":
            deployment.down()
            print("stopped")
            return 0
        if args.verb == "tokens":
            print(f"{args.count} boxes registered; tokens in {deployment.register(args.count)}")
            return 0
        rows = deployment.status()
        for name, pid, ok, why in rows:
            print(f"{name:15} {'up' if ok else 'DOWN':5} pid {pid or '-':>7}  {why}")
        return 0 if all(ok for _, _, ok, _ in rows) else 1
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"deploy {args.verb}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
