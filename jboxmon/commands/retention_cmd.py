"""``jboxmon retention run [--dry-run]`` and ``jboxmon retention restore``.

jboxmon retention run --dry-run      # what would be archived and deleted: rows, bytes, time ranges
jboxmon retention run                # downsample, roll usage up, archive -> verify -> prune
jboxmon retention restore --measurement telemetry --from 2026-11-01 --to 2026-11-02 [--database D]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, datetime

from jboxmon.cli import load_config_or_exit
from jboxmon.commands.timeargs import time_ns

HELP = "downsample, archive, verify and prune old data; restore archived rows"
EXIT_LEASE_HELD = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_p = actions.add_parser("run", help="one retention pass (exit 3 when another runner holds the lease)")
    run_p.add_argument("--dry-run", action="store_true", help="list what would be archived and deleted, change nothing")
    run_p.add_argument("--no-progress", action="store_true", help="no progress bar")
    restore_p = actions.add_parser("restore", help="re-import archived rows into InfluxDB")
    restore_p.add_argument("--measurement", required=True)
    restore_p.add_argument("--from", dest="start", required=True, type=time_ns, help="ISO-8601 or now-DURATION")
    restore_p.add_argument("--to", dest="end", required=True, type=time_ns, help="ISO-8601 or now-DURATION")
    restore_p.add_argument("--database", default=None, help="target database (default: influxdb.database)")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    from retention.store import ArchiveStore, StoreSettings
    from storage import InfluxClient, InfluxSettings

    settings = InfluxSettings.from_config(config.influxdb)
    with ArchiveStore(StoreSettings.from_config(config.retention.archive)) as store:
        if args.action == "restore":
            if args.database:
                settings = dataclasses.replace(settings, database=args.database)
            with InfluxClient(settings) as influx:
                return _restore(args, store, influx)
        with InfluxClient(settings) as influx:
            return _run(args, config, store, influx)


def _restore(args: argparse.Namespace, store, influx) -> int:
    from retention.restore import RestoreOptions, restore

    influx.create_database()  # a backtest database gets jboxmon's retention policies too
    options = RestoreOptions(args.measurement, args.start, args.end, influx.settings.database)
    report = restore(store, influx, options)
    print(f"restored {report.rows:,} rows of {args.measurement} from {report.files} file(s) into {options.database}")
    return 0


def _run(args: argparse.Namespace, config, store, influx) -> int:
    from inventory import Registry
    from jboxmon.retention_component import retention_lock
    from retention.lease import LeaseHeld
    from retention.runner import RetentionRunner, RunOptions

    progress = ProgressBar() if not args.no_progress and sys.stderr.isatty() else _silent
    registry = Registry.from_config(config.inventory)
    runner = RetentionRunner(
        config.retention,
        influx,
        store,
        inventory=lambda: _boxes(registry),
        progress=progress,
        lock=retention_lock(config),
    )
    try:
        report = runner.run(RunOptions(dry_run=args.dry_run))
    except LeaseHeld as exc:
        print(f"jboxmon retention: {exc}; exiting", file=sys.stderr)
        return EXIT_LEASE_HELD
    if args.dry_run:
        print_plan(report.units)
        return 0
    print(
        f"retention pass: {report.points_downsampled:,} downsampled points, {report.usage_points:,} usage points, "
        f"{report.rows_archived:,} rows archived in {report.files} file(s) ({report.bytes_archived:,} bytes), "
        f"{report.rows_deleted:,} rows deleted, {report.recovered} unit(s) recovered, {report.seconds:.1f}s"
    )
    print(f"archive: {store.settings.url}")
    return 0


def _boxes(registry) -> list:
    if not registry.exists():
        return []
    with registry:
        return registry.boxes()


def _silent(done: int, total: int, what: str) -> None:
    pass


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def print_plan(units: list) -> None:
    """The dry run: per rule, rows, estimated archive bytes and the time range that would leave InfluxDB."""
    by_rule: dict = {}
    for unit in units:
        by_rule.setdefault(unit.rule, []).append(unit)
    print(f"{'MEASUREMENT':<16} {'POLICY':<7} {'ROWS':>12} {'~BYTES':>12}  {'FROM':<20} {'TO':<20} FILTER")
    total_rows = 0
    for rule, rule_units in by_rule.items():
        rows = sum(u.rows for u in rule_units)
        total_rows += rows
        estimates = [u.est_bytes for u in rule_units]
        size = f"{sum(estimates):,}" if None not in estimates else "?"
        start, end = min(u.start_ns for u in rule_units), max(u.end_ns for u in rule_units)
        print(
            f"{rule.measurement:<16} {rule.retention_policy:<7} {rows:>12,} {size:>12}  {_when(start):<20} "
            f"{_when(end):<20} {rule.where or '-'}"
        )
    print(f"dry run: {total_rows:,} rows in {len(units)} hour(s) would be archived, verified, then deleted")


class ProgressBar:
    """A one-line progress bar on stderr, redrawn in place; only on a terminal."""

    def __init__(self, width: int = 30) -> None:
        self.width = width

    def __call__(self, done: int, total: int, what: str) -> None:
        if total == 0:
            return
        filled = int(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if done >= total else ""
        print(f"\r[{bar}] {done}/{total} {what:<32}", end=end, file=sys.stderr, flush=True)
