"""Time arguments of the command line: ISO-8601 (UTC when no offset is given) or ``now``, ``now-2d``."""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime

from config.durations import parse_duration


def time_ns(text: str) -> int:
    match = re.fullmatch(r"now(?:-(.+))?", text.strip())
    try:
        if match:
            return int((time.time() - (parse_duration(match.group(1)) if match.group(1) else 0)) * 1e9)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected ISO-8601 time or now-DURATION, got {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
