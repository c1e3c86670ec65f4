"""What an evaluation reads: one query per distinct statement, and only the buckets it has not read.

Every condition reads per-step buckets (``GROUP BY time(step)``) and an evaluation at ``t`` needs the
buckets of ``[t - window, t)``. Buckets are aligned on the step, so a bucket read once is what the
next evaluation would read again, unless a point arrived after it was read. So :class:`BucketReader`
keeps, per statement, the bucket rows already read (the per-box state a window needs: the last
readings of a ``frozen`` or ``rate`` check, the buckets of a ``for`` window), and the next evaluation
queries only from the end of what it holds, less ``late_data`` (rounded up to whole steps: the
buckets that late points may still change). Those buckets are replaced, the new ones appended, and
the ones no window needs any more dropped.

The whole window is read again (a bounded look-back) when there is nothing to build on: after a
restart, for a statement not seen before (a changed rule), when the times go backwards, or when
the last read is older than the window. Conditions that share a statement (a rule and its ``clear``,
two rules on the same aggregates) share one read, over the longest window they need.

Where the rows come from: ``answer`` (the write stream, :mod:`rules.stream`) when it holds all of
``[read_from, end)``, else a query; the buckets held and re-read are the same either way.

Late data: a point arriving more than ``late_data`` after its bucket was read is not seen by live
evaluation (a backtest, reading history, sees it). ``late_data=None`` reads every window whole: the
reference the incremental reads are tested against.

Final buckets: given a ``clock`` (live evaluation), a bucket that had ended ``late_data`` before it
was read is final and never read again. A group evaluated some time after its step (its
``query_offset``) thus reads each bucket once: the energy group, a minute of 1-s data per
evaluation instead of two. Without a clock a read counts as made at the evaluation time itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

NS = 1_000_000_000
LATE_DATA_S = 15.0  # rules.late_data's default (config/rules.py, which cannot import this)
Query = Callable[[str], pd.DataFrame]
# another source of the same rows for [start, end), or None when it cannot say (rules/stream.py)
Answer = Callable[[int, int], "pd.DataFrame | None"]


@dataclass
class _Held:
    start: int  # ns: the rows held cover buckets in [start, end)
    end: int
    final: int  # ns: the buckets ending at or before it can no longer change (late data)
    frame: pd.DataFrame  # the query's rows plus t_ns (int ns), sorted by time


class BucketReader:
    """Reads statements through ``query``, re-reading only what may have changed since the last read."""

    def __init__(
        self, query: Query, late_data_s: float | None = LATE_DATA_S, clock: Callable[[], float] | None = None
    ) -> None:
        self.query = query
        self.late_data_s = late_data_s
        self.clock = clock
        self._held: dict[str, _Held] = {}
        self.rows_read = 0  # rows returned by InfluxDB: what the incremental reads save
        self.rows_answered = 0  # rows the other source (the write stream) gave instead

    def read(
        self,
        statement: Callable[[int, int], str],
        start: int,
        end: int,
        step_s: int,
        query: Query | None = None,
        answer: Answer | None = None,
    ) -> pd.DataFrame:
        """The rows of ``statement(start, end)`` (ns, multiples of the step), reading only what is new:
        from ``answer`` when it can say, else through ``query`` if given, else the reader's."""
        key = statement(0, 0)  # the statement without its time range names it
        step = step_s * NS
        held = self._held.get(key) if self.late_data_s is not None else None
        read_from = start
        if held is not None and held.start <= start <= held.end <= end:
            read_from = max(start, min(held.end, held.final))
        read_at = max(end, int(self.clock() * NS)) if self.clock is not None else end
        ask = query or self.query
        new = answer(read_from, end) if answer is not None and read_from < end else None
        if new is not None:
            self.rows_answered += len(new)
        else:
            new = _with_ns(ask(statement(read_from, end)) if read_from < end else pd.DataFrame())
            self.rows_read += len(new)
        if read_from > start and not held.frame.empty:
            kept = held.frame[(held.frame["t_ns"] >= start) & (held.frame["t_ns"] < read_from)]
            frame = pd.concat([kept, new], ignore_index=True) if not new.empty else kept
        else:
            frame = new
        if self.late_data_s is not None:
            final = (read_at - int(self.late_data_s * NS)) // step * step  # whole buckets
            self._held[key] = _Held(start, end, final, frame)
        return frame

    def forget(self, keep: set[str] | None = None) -> None:
        """Drop what is held, except for the statements of ``keep`` (the ones rules still use)."""
        self._held = {key: held for key, held in self._held.items() if keep is not None and key in keep}


def _with_ns(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame()
    frame = frame.copy()
    frame["t_ns"] = (frame["time"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    return frame
