"""``jboxmon config check [FILE]``: validate a configuration file and point at every problem."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config import DEFAULT_PATH, ConfigError, load_config
from storage import InfluxSettings

HELP = "check a configuration file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a config file; exit 0 when valid, 2 otherwise")
    check.add_argument("file", nargs="?", default=None, help="file to check (default: --config or the default path)")


def run(args: argparse.Namespace) -> int:
    path = args.file or args.config or DEFAULT_PATH
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 2
    try:
        # resolves secrets: a missing variable or file is a config error too
        InfluxSettings.from_config(config.influxdb)
    except ValueError as exc:
        print(f"{path}: influxdb: {exc}", file=sys.stderr)
        return 2
    problems = _alerting_secrets(config)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(f"{path}: OK")
    print(f"  {_auth_summary(config)}")
    for line in _paths(config):
        print(f"  {line}")
    return 0


def _auth_summary(config) -> str:
    """What protects the control plane, said in one line (mode none is accepted on loopback only)."""
    mode = config.auth.mode
    if mode == "none":
        listens = ", ".join(config.control_plane_listens().values())
        return (f"auth.mode: none — accepted because every control-plane service listens on loopback ({listens}); "
                "anyone on this machine can silence alerts and reload")  # fmt: skip
    if mode == "trusted-proxy":
        proxies = ", ".join(config.auth.trusted_proxy.proxies)
        return f"auth.mode: trusted-proxy — user from {config.auth.trusted_proxy.user_header} sent by {proxies}"
    return "auth.mode: credentials — operator tokens required (jboxmon users add NAME --role ROLE)"


def _alerting_secrets(config) -> list[str]:
    """Receiver secrets (SMTP passwords, webhook HMAC keys) must resolve too, before a 3 a.m. alert needs them."""
    problems = []
    for i, receiver in enumerate(config.alerting.receivers):
        for kind, item in receiver.integrations():
            index = getattr(receiver, f"{kind}_configs").index(item)
            for key in ("auth_password", "hmac_secret"):
                secret = getattr(item, key, None)
                if secret is None:
                    continue
                try:
                    secret.resolve()
                except ValueError as exc:
                    problems.append(f"alerting.receivers[{i}] ({receiver.name}).{kind}_configs[{index}].{key}: {exc}")
    return problems


def _paths(config) -> list[str]:
    """Every path the config names, resolved (relative ones against the file's folder), and whether it exists."""
    from rules.files import resolve_rule_files

    def state(path: Path, missing: str) -> str:
        return f"{path}" if path.exists() else f"{path} (missing: {missing})"

    lines = [
        f"inventory.url: {config.inventory.url} (shared PostgreSQL)"
        if config.inventory.url
        else f"inventory.path: {state(config.inventory.path, 'no box registered yet')}",
        f"collector.spool_dir: {state(config.collector.spool_dir, 'created at start')}",
        f"rules.state_db: {state(config.rules.state_db, 'created at start')}",
    ]
    for pattern in config.rules.files:
        found = [p for p in resolve_rule_files([pattern]) if p.exists()]
        lines.append(
            f"rules.files: {pattern} -> {len(found)} file(s)" if found else f"rules.files: {pattern} (no file)"
        )
    return lines
