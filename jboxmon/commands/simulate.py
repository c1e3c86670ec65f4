"""``jboxmon simulate``: a JBOX fleet with injected faults, into InfluxDB (backfill) or the collector (live).

Backfill::

    jboxmon simulate --boxes 1000 --backfill 1h --seed 7

Live, at ten times real speed for five minutes::

    jboxmon simulate --live --collector-url http://127.0.0.1:8181 --speed 10 --duration 5m \
        --tokens tokens.json
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from config.durations import format_duration, parse_duration

HELP = "simulate a JBOX fleet with injected faults (backfill InfluxDB or push live to the collector)"

EPILOG = """\
Backfill window: without --start, the window ENDS at the current time floored to the hour, so running
the same seed twice within the same hour gives identical data and ground truth. With --start, the
window starts there. Same seed + same window => byte-identical ground truth and identical data.

Live mode: --duration is wall-clock run time; the simulated span is duration x speed, ending when the run
ends (with --speed above 1 it starts in the past and catches up, so no timestamp is in the future).

Ground truth: one file per run. Without --truth it is simulator.ground_truth with the mode and the
window's start in its name (ground_truth.backfill-20261207T040000Z.jsonl, ground_truth.live-...), so a
live run never replaces the history's truth. A run whose window holds no fault writes no file and
never replaces a file that has faults.
"""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--backfill",
        type=_duration,
        metavar="SPAN",
        help="write SPAN of history (e.g. 1h) straight into InfluxDB",
    )
    mode.add_argument("--live", action="store_true", help="push JSON to the collector in scaled real time")
    parser.add_argument("--boxes", type=int, help="fleet size (default: simulator.boxes)")
    parser.add_argument("--seed", type=int, help="random seed (default: simulator.seed)")
    parser.add_argument("--interval", type=_duration, help="sample step, e.g. 10s or 1s (default: simulator.interval)")
    parser.add_argument(
        "--fault-rate", type=float, help="share of boxes with a real fault (default: simulator.fault_rate)"
    )
    parser.add_argument(
        "--transient-rate",
        type=float,
        help="share of healthy boxes with a short deviation (default: simulator.transient_rate)",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        help="ground-truth JSON-lines file (default: simulator.ground_truth "
        "with the mode and the window's start in its name, one file per run)",
    )
    backfill = parser.add_argument_group("backfill")
    backfill.add_argument("--start", help="window start, ISO-8601 (default: the window ends at this hour)")
    backfill.add_argument(
        "--database",
        default=None,
        help="write into this database, created for backtests with every retention policy infinite "
        "(history of any age; replay it with 'rules backtest --database NAME')",
    )
    backfill.add_argument("--writers", type=int, default=2, help="concurrent InfluxDB writers (default: 2)")
    backfill.add_argument("--batch-size", type=int, default=5000, help="lines per write (default: 5000)")
    live = parser.add_argument_group("live")
    live.add_argument("--collector-url", help="collector base URL (default: simulator.collector_url)")
    live.add_argument("--speed", type=float, default=1.0, help="sim seconds per wall second (default: 1)")
    live.add_argument("--duration", type=_duration, default=300.0, help="wall-clock run time (default: 5m)")
    live.add_argument("--batch", type=_duration, default=10.0, help="v2 batch period in sim time (default: 10s)")
    live.add_argument("--tokens", type=Path, help="JSON file mapping jbox_id -> token (no auth header without it)")
    live.add_argument("--workers", type=int, default=8, help="concurrent HTTP senders (default: 8)")


def run(args: argparse.Namespace) -> int:
    from jboxmon.cli import load_config_or_exit
    from simulator.scenario import build_scenario

    config = load_config_or_exit(args)
    sim = config.simulator
    now = datetime.now(UTC)  # the only clock read: it places the window, the model never sees it
    try:
        window = _window(args, sim.interval, now)
        if not args.live and args.database in (None, config.influxdb.database):
            _check_retention(window, config.influxdb.retention, now)
        for name in ("fault_rate", "transient_rate"):
            value = getattr(args, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"--{name.replace('_', '-')}: expected a share between 0 and 1, got {value}")
        scenario = build_scenario(
            boxes=sim.boxes if args.boxes is None else args.boxes,
            seed=sim.seed if args.seed is None else args.seed,
            window=window,
            simulator=sim,
            fleet_config=config.fleet,
            fault_rate=args.fault_rate,
            transient_rate=args.transient_rate,
        )
    except ValueError as exc:
        print(f"jboxmon simulate: {exc}", file=sys.stderr)
        return 2
    mode = "live" if args.live else "backfill"
    truth_path = args.truth or per_run(sim.ground_truth, mode, window.start_ms)
    if args.live:
        return _live(args, scenario, sim.collector_url, write_truth(scenario.plan, truth_path))
    return _backfill(args, scenario, config, truth_path)


def per_run(path: Path, mode: str, start_ms: int) -> Path:
    """``var/ground_truth.jsonl`` -> ``var/ground_truth.live-20261207T051500Z.jsonl``."""
    stamp = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")
    return path.with_name(f"{path.stem}.{mode}-{stamp}{path.suffix}")


def write_truth(plan, path: Path) -> Path | None:
    """The plan's events to ``path``, unless there are none: a window without a fault leaves any
    existing file alone (an empty file would turn every episode of a backtest into a false alarm)."""
    if not plan.events:
        kept = f"; {path} kept as it was" if path.exists() else ""
        print(f"jboxmon simulate: no fault in this window, no ground truth written{kept}", file=sys.stderr)
        return None
    return plan.write_ground_truth(path)


def _window(args: argparse.Namespace, default_interval: float, now: datetime):
    from simulator.window import SimWindow, parse_time, to_ms

    interval = args.interval or default_interval
    if args.live:
        # faster than real time catches up from the past: the simulated clock reaches "now" when
        # the run ends, so no timestamp is ever in the future (the collector refuses those)
        span = args.duration * args.speed
        return SimWindow(to_ms(now) - int((span - args.duration) * 1000), span, interval)
    if args.start:
        return SimWindow(parse_time(args.start), args.backfill, interval)
    return SimWindow.ending_at_hour(now, args.backfill, interval)


def _check_retention(window, retention, now: datetime) -> None:
    """Refuse a window InfluxDB would partly drop: the report would then overstate what is stored."""
    from simulator.window import rfc3339, to_ms

    for name, seconds in (("raw", retention.raw), ("logs", retention.logs)):
        if seconds and window.start_ms < to_ms(now) - seconds * 1000:
            raise ValueError(
                f"the window starts at {rfc3339(window.start_ms)}, older than the {name!r} retention policy "
                f"keeps (influxdb.retention.{name}: {format_duration(seconds)}); use a later --start or a shorter "
                "--backfill, or write into a database meant for backtests: --database NAME"
            )


def _backfill(args: argparse.Namespace, scenario, config, truth_path: Path) -> int:
    from jboxmon.commands.db import settings_for
    from simulator.backfill import run_backfill
    from simulator.window import rfc3339
    from storage import InfluxClient, InfluxError

    settings = settings_for(config, args.database)
    window = scenario.window
    print(
        f"backfilling {len(scenario.fleet)} boxes, {rfc3339(window.start_ms)} .. {rfc3339(window.end_ms)} "
        f"every {window.interval_s:g}s into {settings.url} db={settings.database}"
    )
    try:
        with InfluxClient(settings) as client:
            client.create_database()
    except InfluxError as exc:  # one line, and no ground truth for data that was never written
        print(f"jboxmon simulate: {exc}", file=sys.stderr)
        return 1
    truth = write_truth(scenario.plan, truth_path)
    try:
        report = run_backfill(
            scenario, lambda: InfluxClient(settings), batch_size=args.batch_size, writers=args.writers
        )
    except InfluxError as exc:
        print(f"jboxmon simulate: {exc}", file=sys.stderr)
        return 1
    report.ground_truth = truth
    print(report.render())
    return 0


def _live(args: argparse.Namespace, scenario, default_url: str, truth: Path | None) -> int:
    from simulator.live import LiveOptions, run_live

    tokens: dict[str, str] = {}
    if args.tokens:
        try:
            tokens = json.loads(args.tokens.read_text())
        except (OSError, ValueError) as exc:
            print(f"jboxmon simulate: --tokens {args.tokens}: {exc}", file=sys.stderr)
            return 2
        if not isinstance(tokens, dict):
            print(
                f"jboxmon simulate: --tokens {args.tokens}: expected an object jbox_id -> token",
                file=sys.stderr,
            )
            return 2
    options = LiveOptions(
        collector_url=args.collector_url or default_url,
        speed=args.speed,
        batch_s=args.batch,
        tokens=tokens,
        workers=args.workers,
    )
    print(
        f"pushing {len(scenario.fleet)} boxes to {options.collector_url} at x{options.speed:g} "
        f"for {args.duration:g}s; ground truth: {truth}"
    )
    report = run_live(scenario, options)
    print(report.render())
    if truth is not None:
        print(f"  ground truth: {truth} ({len(scenario.plan.faulty_ids())} of {len(scenario.fleet)} boxes faulty)")
    return 0 if not report.failed else 1
