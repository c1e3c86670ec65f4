"""``jboxmon retention run [--dry-run]`` and ``jboxmon retention restore``.

jboxmon retention run --dry-run      # what would be archived and deleted: rows, bytes, time ranges
jboxmon retention run                # downsample, roll usage up, archive -> verify -> prune
jboxmon retention restore --measurement telemetry --from 2026-11-01 --to 2026-11-02 --database D
jboxmon retention restore --measurement telemetry --from ... --to ... --live   # into influxdb.database
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from config.durations import format_duration, parse_duration
from jboxmon.cli import load_config_or_exit
from jboxmon.commands.db import settings_for
from jboxmon.commands.timeargs import time_ns
from jboxmon.progress import terminal_progress

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
    target = restore_p.add_mutually_exclusive_group()
    target.add_argument(
        "--database", default=None, help="another database (created with policies keeping data forever)"
    )
    target.add_argument(
        "--live",
        action="store_true",
        help="into the live database (influxdb.database): the rows are held for their age, then deleted "
        "without being archived again",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    from retention.store import ArchiveStore, StoreSettings
    from storage import InfluxClient, InfluxSettings

    settings = InfluxSettings.from_config(config.influxdb)
    if args.action == "restore":
        if not args.live and args.database in (None, settings.database):
            print(
                f"jboxmon retention restore: {_live_warning(config, args.measurement, needs_flag=True)}",
                file=sys.stderr,
            )
            return 2
        settings = settings_for(config, args.database)
    with ArchiveStore(StoreSettings.from_config(config.retention.archive)) as store:
        if args.action == "restore":
            with InfluxClient(settings) as influx:
                return _restore(args, config, store, influx)
        with InfluxClient(settings) as influx:
            return _run(args, config, store, influx)


def _live_warning(config, measurement: str, *, needs_flag: bool) -> str:
    """What restoring into the live database does, in one line."""
    from retention.policy import archive_rules

    ages = sorted({format_duration(r.age_s) for r in archive_rules(config.retention) if r.measurement == measurement})
    held = f"held for {' / '.join(ages)} (retention.policies age) from now" if ages else "kept (no archive rule)"
    text = (
        f"restoring into the live database {config.influxdb.database!r}: the rows are {held}, then deleted again "
        "without a second archive file; rows older than their InfluxDB retention policy (influxdb.retention) "
        "are left out, InfluxDB would refuse them"
    )
    if needs_flag:
        return f"{text}. Say --live to do that, or --database NAME to restore into another database"
    return text


def _restore(args: argparse.Namespace, config, store, influx) -> int:
    from retention.restore import RestoreOptions, restore

    live = args.live or args.database in (None, config.influxdb.database)
    if not live:  # the live database keeps its policies; another one gets policies keeping data forever
        influx.create_database()
    oldest = {}
    if live:
        print(
            f"jboxmon retention restore: {_live_warning(config, args.measurement, needs_flag=False)}", file=sys.stderr
        )
        now = time.time()
        for policy in influx.settings.retention_policies:
            seconds = parse_duration(policy.duration) if policy.duration != "INF" else 0
            if seconds:
                oldest[policy.name] = int((now - seconds) * 1e9) + 60 * 10**9  # a minute of margin
    options = RestoreOptions(args.measurement, args.start, args.end, influx.settings.database, live, oldest)
    report = restore(store, influx, options)
    skipped = f"; {report.skipped:,} older than their retention policy left out" if report.skipped else ""
    print(
        f"restored {report.rows:,} rows of {args.measurement} from {report.files} file(s) into "
        f"{options.database}{skipped}"
    )
    return 0


def _run(args: argparse.Namespace, config, store, influx) -> int:
    from inventory import Registry
    from jboxmon.retention_component import retention_lock
    from retention.lease import LeaseHeld
    from retention.runner import RetentionRunner, RunOptions

    progress = terminal_progress(enabled=not args.no_progress) or _silent
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


def _silent(fraction: float, what: str) -> None:
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
