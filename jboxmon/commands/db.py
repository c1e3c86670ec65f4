"""``jboxmon db init``: create the database and its retention policies from the config.

::

    jboxmon db init                       # influxdb.database with the policies of influxdb.retention
    jboxmon db init --backtest history    # a database for backtests: every policy keeps data forever

History older than a retention policy cannot be written into the live database (InfluxDB drops it:
"points beyond retention policy"); backfill or restore it into a backtest database instead
(``jboxmon simulate --backfill ... --database history``) and replay it there
(``jboxmon rules backtest --database history ...``).
"""

from __future__ import annotations

import argparse
import sys

from config import JboxmonConfig
from config.model import RetentionConfig
from storage import InfluxSettings

HELP = "create the InfluxDB database and retention policies (db init)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create the database and its retention policies (idempotent)")
    init.add_argument(
        "--backtest",
        metavar="NAME",
        default=None,
        help="create database NAME for backtests instead: every retention policy keeps data forever",
    )


def settings_for(config: JboxmonConfig, database: str | None) -> InfluxSettings:
    """The configured InfluxDB; with ``database``, that database with every retention policy infinite."""
    influx = config.influxdb
    if database is not None and database != influx.database:
        forever = RetentionConfig(**dict.fromkeys(RetentionConfig.model_fields, 0))
        influx = influx.model_copy(update={"database": database, "retention": forever})
    return InfluxSettings.from_config(influx)


def run(args: argparse.Namespace) -> int:
    from jboxmon.cli import load_config_or_exit
    from storage import InfluxClient, InfluxError

    settings = settings_for(load_config_or_exit(args), args.backtest)
    try:
        with InfluxClient(settings) as client:
            client.create_database()
    except InfluxError as exc:
        print(f"jboxmon db init: {exc}", file=sys.stderr)
        return 1
    print(f"database {settings.database!r} on {settings.url}: ready")
    for policy in settings.retention_policies:
        print(f"  retention policy {policy.name}: {policy.duration}{' (default)' if policy.default else ''}")
    return 0
