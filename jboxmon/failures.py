"""Every error that ends a ``jboxmon`` verb as one line an operator can act on.

Error classes carry their own message (what failed, which object or URL, what to try): InfluxDB
(``storage.errors.InfluxError``: down, slow, credentials refused), the archive
(``retention.store.ArchiveError``: missing bucket, unreachable endpoint, refused keys), outbound HTTP
(``storage.http.HttpError``) and files (``OSError``). The entry point prints that message after the
verb (``jboxmon retention: ...``) and exits 1; the traceback only with ``-v``. Anything else is
most likely a bug: its type is named and ``-v`` shows where it happened.
"""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

EXIT_FAILED = 1
MAX_CHARS = 600


def _known() -> tuple[type[BaseException], ...]:
    from retention.store import ArchiveError
    from storage.errors import InfluxError
    from storage.http import HttpError

    return (InfluxError, ArchiveError, HttpError, OSError)


def one_line(exc: BaseException) -> str:
    """The error's message on one line (whitespace folded), shortened to ``MAX_CHARS``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, _known()):
        text = f"unexpected {type(exc).__name__}: {text} (run with -v for the traceback)"
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 3] + "..."


def report(verb: str, exc: BaseException, *, verbose: bool, stream: TextIO | None = None) -> int:
    """Print the failure of ``jboxmon VERB`` (traceback first with ``verbose``); returns the exit code."""
    out = stream or sys.stderr
    if verbose:
        traceback.print_exception(exc, file=out)
    print(f"jboxmon {verb}: {one_line(exc)}", file=out)
    return EXIT_FAILED
