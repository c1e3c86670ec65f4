"""``jboxmon report usage --by region|site|service --from T1 --to T2 --format csv|parquet``.

Reads the hourly usage roll-up (``ds_1h.usage``, written by each retention pass): energy delivered and
absorbed (kWh), box-hours, availability and faulty share per group over the range. CSV goes to stdout
unless ``--output`` is given; Parquet needs ``--output``.
"""

from __future__ import annotations

import argparse
import os
import sys

from jboxmon.cli import load_config_or_exit
from jboxmon.commands.timeargs import time_ns

HELP = "reports for analysts (usage by region, site or service)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", metavar="REPORT", required=True)
    usage = kinds.add_parser("usage", help="energy, availability and faulty share per region, site or service")
    usage.add_argument("--by", choices=("region", "site", "service"), default="region")
    usage.add_argument("--from", dest="start", required=True, type=time_ns, help="ISO-8601 or now-DURATION")
    usage.add_argument("--to", dest="end", required=True, type=time_ns, help="ISO-8601 or now-DURATION")
    usage.add_argument("--format", choices=("csv", "parquet"), default="csv")
    usage.add_argument("--output", "-o", default=None, help="file to write (default: stdout, CSV only)")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    from retention.usage import usage_report
    from storage import InfluxClient, InfluxSettings

    with InfluxClient(InfluxSettings.from_config(config.influxdb)) as influx:
        frame = usage_report(influx, config.retention.usage, args.by, args.start, args.end)
    if args.format == "parquet":
        if not args.output:
            print("jboxmon report usage: --format parquet needs --output FILE", file=sys.stderr)
            return 2
        frame.to_parquet(args.output, compression="zstd", index=False)
    elif args.output:
        frame.to_csv(args.output, index=False)
    else:
        frame.to_csv(sys.stdout, index=False)
    if args.output:
        os.chmod(args.output, 0o600)
        print(f"{len(frame)} row(s) written to {args.output}", file=sys.stderr)
    return 0
