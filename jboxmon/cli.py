"""The ``jboxmon`` console script: one verb per service plus the operator tools.

Each verb is a module of ``jboxmon.commands`` listed in ``COMMANDS``; it declares its arguments and
a ``run(args)`` returning the exit code. Config is loaded lazily by the verbs that need it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from config import DEFAULT_PATH, ConfigError, JboxmonConfig, load_config
from config.model import LoggingConfig
from jboxmon.logsetup import configure_logging

log = logging.getLogger("jboxmon")

# verb -> module under jboxmon.commands; modules are imported only when their verb runs or for --help
COMMANDS = {
    "run": "run",
    "collector": "collector_cmd",
    "config": "config_cmd",
    "db": "db",
    "tokens": "tokens",
    "fleet": "fleet",
    "inventory": "inventory_cmd",
    "users": "users",
    "audit": "audit",
    "rules": "rules_cmd",
    "alerting": "alerting_cmd",
    "silences": "silences",
    "alerts": "alerts",
    "deadletter": "deadletter",
    "simulate": "simulate",
    "dashboards": "dashboards_cmd",
    "retention": "retention_cmd",
    "report": "report",
    "status": "status_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jboxmon", description="Monitoring and alerting for a JBOX fleet.")
    parser.add_argument(
        "--config", default=None, help=f"configuration file (default: {DEFAULT_PATH}, built-in defaults if absent)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, module_name in COMMANDS.items():
        module = importlib.import_module(f"jboxmon.commands.{module_name}")
        sub = verbs.add_parser(verb, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
        _accept_config(sub)
    return parser


def _accept_config(parser: argparse.ArgumentParser) -> None:
    """``--config`` after the verb too (``jboxmon rules backtest ... --config FILE``), on every sub-command.

    SUPPRESS: a sub-command that is not given it leaves the top-level value alone.
    """
    if "--config" not in parser._option_string_actions:
        parser.add_argument("--config", default=argparse.SUPPRESS, help="configuration file (as before the verb)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _accept_config(child)


def load_config_or_exit(args: argparse.Namespace) -> JboxmonConfig:
    """The config named by ``--config``; prints pointed errors and exits 2 when it is invalid.

    Logging switches to the file's ``logging:`` section here, the one place verbs load their config.
    """
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"jboxmon: invalid configuration:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    configure_logging(config.logging, verbose=getattr(args, "verbose", False))
    log.debug("configuration from %s", args.config or (DEFAULT_PATH if DEFAULT_PATH.exists() else "built-in defaults"))
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # the built-in defaults until a verb loads the config file (config check and --help never do)
    configure_logging(LoggingConfig(), verbose=args.verbose)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every verb, also those added later: one line, the traceback with -v
        from jboxmon.failures import report

        return report(args.verb, exc, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
