"""A one-line progress bar for long verbs (retention passes, backtests), drawn only on a terminal."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    """A one-line progress bar on stderr, redrawn in place, per stage of the pass; only on a terminal."""

    def __init__(self, width: int = 30, stream: TextIO | None = None) -> None:
        self.width = width
        self.stream = stream or sys.stderr
        self._stage = ""
        self._open = False  # a bar is drawn and its line not ended yet

    def __call__(self, fraction: float, what: str) -> None:
        stage = what.split(" ", 1)[0]
        if self._open and stage != self._stage:
            print(file=self.stream)  # a stage finished: keep its last line
        self._stage = stage
        fraction = min(1.0, max(0.0, fraction))
        filled = int(self.width * fraction)
        bar = "#" * filled + "." * (self.width - filled)
        self._open = not (what == "done" or fraction >= 1.0)
        end = "" if self._open else "\n"
        print(f"\r[{bar}] {fraction:4.0%} {what[:48]:<48}", end=end, file=self.stream, flush=True)


def terminal_progress(enabled: bool = True) -> ProgressBar | None:
    """A bar on stderr when it is a terminal (and ``enabled``), else None: logs and pipes stay clean."""
    return ProgressBar() if enabled and sys.stderr.isatty() else None
