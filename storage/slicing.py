"""Big reads in small pieces: time slices x box batches, and a piece InfluxDB is too slow for halved.

A long job (downsampling, archive export, the usage roll-up, a backtest) reads ``[start, end)`` for a
fleet. Asked in one query, a busy InfluxDB may not answer within ``influxdb.timeout`` and the whole
job dies. Here the job is cut into :class:`Piece` s (a time slice of at most ``step`` and a batch of at
most ``batch`` boxes) so that each query stays small; a piece whose query times out while InfluxDB is
up but slow (``InfluxError.slow``) is cut in two (time first, on ``align`` boundaries, then boxes) and
retried, down to one ``align`` window of one box. A refused connection or a bad query is not retried:
only slowness is a reason to ask for less.

Exactness: a piece boundary is always a multiple of ``align`` (the job's window, e.g. the ``GROUP BY
time()`` interval, or an hour), so windowed aggregates computed per piece equal those of one query.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd

from storage.errors import InfluxError
from storage.influxql import quote_ident, regex_any_of

log = logging.getLogger(__name__)
T = TypeVar("T")
BOX_TAG = "jbox_id"

Progress = Callable[[float, str], None]  # (fraction done 0..1, what)


@dataclass(frozen=True)
class Piece:
    """``[start_ns, end_ns)`` for ``boxes``; ``whole`` means every box of the fleet (no filter needed)."""

    start_ns: int
    end_ns: int
    boxes: tuple[str, ...] = ()
    whole: bool = True
    cuts: int = 0  # how many times it was halved: time and boxes take turns

    def box_condition(self, tag: str = BOX_TAG) -> str:
        """``"jbox_id" =~ /^(a|b)$/`` for a batch, "" for the whole fleet."""
        if self.whole:
            return ""
        return f"{quote_ident(tag)} =~ {regex_any_of(list(self.boxes))}"

    def where(self, extra: str = "", tag: str = BOX_TAG) -> str:
        """The piece's time range, box batch and ``extra`` as one InfluxQL condition."""
        parts = [f"time >= {self.start_ns} AND time < {self.end_ns}", self.box_condition(tag), extra]
        return " AND ".join(f"({p})" if " OR " in p else p for p in parts if p)

    @property
    def weight(self) -> int:
        boxes = sum(1 for box in self.boxes if box) if self.boxes else 1  # the '' slot weighs nothing
        return (self.end_ns - self.start_ns) * boxes

    def halves(self, align_ns: int) -> tuple[Piece, Piece] | None:
        """Two pieces covering this one: the time range cut on an ``align_ns`` boundary or the boxes
        cut in two, in turns (a piece slow for its many boxes is not cut down to one window first)."""
        by_time, by_boxes = self._time_halves(align_ns), self._box_halves()
        first, second = (by_boxes, by_time) if self.cuts % 2 else (by_time, by_boxes)
        return first or second

    def _time_halves(self, align_ns: int) -> tuple[Piece, Piece] | None:
        mid = (self.start_ns + self.end_ns) // 2 // align_ns * align_ns
        if not self.start_ns < mid < self.end_ns:
            return None
        cuts = self.cuts + 1
        return (
            Piece(self.start_ns, mid, self.boxes, self.whole, cuts),
            Piece(mid, self.end_ns, self.boxes, self.whole, cuts),
        )

    def _box_halves(self) -> tuple[Piece, Piece] | None:
        if len(self.boxes) <= 1:
            return None
        half, cuts = len(self.boxes) // 2, self.cuts + 1
        untagged = ("",) if self.whole else ()  # the whole fleet included series without the tag
        return (
            Piece(self.start_ns, self.end_ns, untagged + self.boxes[:half], False, cuts),
            Piece(self.start_ns, self.end_ns, self.boxes[half:], False, cuts),
        )

    def describe(self) -> str:
        who = "every box" if self.whole else f"{len(self.boxes)} box(es)"
        return f"[{self.start_ns}, {self.end_ns}) for {who}"


def plan_pieces(start_ns: int, end_ns: int, step_ns: int, boxes: Sequence[str], batch: int) -> list[Piece]:
    """Time slices of ``step_ns`` (on multiples of it) x batches of ``batch`` boxes.

    A fleet of at most ``batch`` boxes (or no box list) is one batch without a filter. Batches hold
    the empty value too, so series without the tag (InfluxQL compares a missing tag as '') are read.
    """
    ordered = tuple(sorted(set(boxes) - {""}))
    if len(ordered) <= batch:
        batches = [(ordered, True)]
    else:
        batches = [(ordered[i : i + batch], False) for i in range(0, len(ordered), batch)]
        batches[0] = (("", *batches[0][0]), False)
    pieces = []
    t = start_ns
    while t < end_ns:
        t_end = min(end_ns, (t // step_ns + 1) * step_ns)
        pieces += [Piece(t, t_end, group, whole) for group, whole in batches]
        t = t_end
    return pieces


@dataclass
class Budget:
    """What InfluxDB answers in time now, learnt by a job: after a slow piece, later pieces start at
    half its size (time x boxes) instead of waiting out the timeout again; after ``GROW_AFTER``
    answers in a row the budget doubles, so a machine that calmed down gets bigger queries again."""

    max_weight: int | None = None
    _streak: int = 0

    GROW_AFTER = 8

    def allows(self, piece: Piece) -> bool:
        return self.max_weight is None or piece.weight <= self.max_weight

    def too_slow(self, piece: Piece) -> None:
        half = max(1, piece.weight // 2)
        self.max_weight = half if self.max_weight is None else min(self.max_weight, half)
        self._streak = 0

    def answered(self) -> None:
        self._streak += 1
        if self.max_weight is not None and self._streak >= self.GROW_AFTER:
            self.max_weight *= 2
            self._streak = 0


def run_pieces(
    pieces: Iterable[Piece],
    run: Callable[[Piece], T],
    *,
    align_ns: int,
    progress: Progress | None = None,
    what: str = "",
    budget: Budget | None = None,
) -> list[T]:
    """``run`` every piece in order (results in order); a piece InfluxDB is too slow for is halved.

    With a ``budget`` (shared by the calls of one job), pieces larger than what InfluxDB last
    answered in time are halved before they are asked.
    """
    todo = list(pieces)
    total = sum(p.weight for p in todo) or 1
    budget = budget or Budget()
    done = 0
    results: list[T] = []
    stack = list(reversed(todo))
    while stack:
        piece = stack.pop()
        halves = None if budget.allows(piece) else piece.halves(align_ns)
        if halves is not None:
            stack += [halves[1], halves[0]]
            continue
        try:
            results.append(run(piece))
        except InfluxError as exc:
            halves = piece.halves(align_ns) if exc.slow else None
            if halves is None:
                raise
            budget.too_slow(piece)
            log.warning("%s: InfluxDB too slow for %s; asking for half at a time", what or "query", piece.describe())
            stack += [halves[1], halves[0]]
            continue
        budget.answered()
        done += piece.weight
        if progress is not None:
            progress(done / total, what)
    return results


# -- splitting a finished InfluxQL statement (the backtest's rule queries) ----------------------------

_RANGE = re.compile(r"time >= (\d+) AND time < (\d+)")
_GROUP_TIME = re.compile(r"GROUP BY time\((\d+)(s|m|h)\)")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Statement:
    """A per-box InfluxQL statement whose time ranges are all the same ``[start, end)``, so that it can
    be asked for fewer boxes (a tag condition after each ``WHERE``) or a shorter range (on multiples
    of its ``GROUP BY time()`` interval) with the same rows as the whole."""

    text: str
    start_ns: int
    end_ns: int
    align_ns: int

    @classmethod
    def parse(cls, text: str) -> Statement | None:
        """None when the statement is not one that splits exactly (not per box, several ranges...)."""
        if ";" in text or f'"{BOX_TAG}"' not in text.split("GROUP BY", 1)[-1]:
            return None
        ranges = set(_RANGE.findall(text))
        groups = set(_GROUP_TIME.findall(text))
        if len(ranges) != 1 or len(groups) > 1 or text.count("WHERE ") != text.count("time >= "):
            return None
        if not groups:
            return None
        start, end = (int(v) for v in ranges.pop())
        number, unit = groups.pop()
        return cls(text, start, end, int(number) * _UNIT_S[unit] * 10**9)

    def for_piece(self, piece: Piece) -> str:
        text = self.text.replace(
            f"time >= {self.start_ns} AND time < {self.end_ns}", f"time >= {piece.start_ns} AND time < {piece.end_ns}"
        )
        condition = piece.box_condition()
        return text.replace("WHERE ", f"WHERE {condition} AND ") if condition else text


class SlicedQuery:
    """``query(statement) -> DataFrame`` that asks per-box statements in box batches, and halves one
    that InfluxDB is too slow for; any other statement is asked as it is.

    ``progress(fraction, what)`` follows the latest end time asked within ``[start_ns, end_ns]``.
    """

    def __init__(
        self,
        query: Callable[[str], pd.DataFrame],
        boxes: Sequence[str],
        *,
        batch: int = 250,
        span: tuple[int, int] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.query = query
        self.boxes = tuple(sorted(set(boxes)))
        self.batch = batch
        self.span = span
        self.progress = progress
        self.statements = 0
        self.budget = Budget()

    def __call__(self, text: str) -> pd.DataFrame:
        statement = Statement.parse(text)
        if statement is None:
            self.statements += 1
            return self.query(text)
        pieces = plan_pieces(statement.start_ns, statement.end_ns, statement.end_ns, self.boxes, self.batch)
        if not pieces:
            pieces = [Piece(statement.start_ns, statement.end_ns)]

        def ask(piece: Piece) -> pd.DataFrame:
            self.statements += 1
            return self.query(statement.for_piece(piece))

        answers = run_pieces(pieces, ask, align_ns=statement.align_ns, what="backtest", budget=self.budget)
        frames = [f for f in answers if not f.empty]
        self._advance(statement.end_ns)
        if not frames:
            return pd.DataFrame()
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def _advance(self, reached_ns: int) -> None:
        if self.progress is None or self.span is None:
            return
        start, end = self.span
        self.progress(min(1.0, max(0.0, (reached_ns - start) / max(1, end - start))), "backtest")
