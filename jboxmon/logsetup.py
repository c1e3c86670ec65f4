"""Process logging from the ``logging:`` config section: a level, and text or JSON lines.

JSON lines (one object per record, keys sorted) are for log shippers (journald, Vector, Loki);
text is for a person at a console. ``-v`` on the command line forces DEBUG whatever the file says.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from config.model import LoggingConfig

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose INFO is one line per job or request: too chatty for an operator's console.
QUIET_LOGGERS = ("apscheduler",)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (RFC 3339, UTC), level, logger, message, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, sort_keys=True, default=str)


class _Handler(logging.StreamHandler):
    """Ours, so a second call replaces it and leaves handlers others installed (pytest's) alone.

    It writes to whatever ``sys.stderr`` is at each record, not the stream of the day it was made,
    so a redirected or captured stderr never leaves it writing to a closed file.
    """

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(settings: LoggingConfig, *, verbose: bool = False) -> None:
    """Log to stderr, formatted and levelled as configured; calling again replaces the previous set-up."""
    level = logging.DEBUG if verbose else getattr(logging, settings.level)
    handler = _Handler()
    handler.setFormatter(JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else max(level, logging.WARNING))
