"""What every condition kind shares: comparison operators, time ranges, rolling windows per box."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from config.fields import Strict
from rules.conditions.reading import Reading

Op = Literal[">", ">=", "<", "<=", "==", "!="]
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
RESULT_COLUMNS = ["time", "jbox_id", "value", "active"]


@dataclass
class EvalContext:
    """What a condition may look at besides its own query: the inventory and the alert states."""

    inventory: list[str] = field(default_factory=list)
    firing: dict[str, set[str]] = field(default_factory=dict)  # alert name -> boxes firing now
    alert_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # alert name -> its rule labels
    registered: dict[str, int] = field(default_factory=dict)  # jbox_id -> registration time (ns), when known
    data_start: int | None = None  # ns: no data can exist before this (a backtest's history); None = unknown
    box_energy_kwh: float = 1000.0  # fleet.box_energy_kwh: what energy_balance divides by
    # collector.payload_versions (name -> deprecation and sunset dates): what deprecated_payload reads
    payload_versions: dict = field(default_factory=dict)


class ConditionBase(Strict):
    """A condition kind. ``window`` is how much history one evaluation looks at.

    ``reads_samples``: the statement reads raw samples (see the engine's ``samples``).

    ``reads_alert_states``: the kind looks at other rules' alerts (``EvalContext.firing``) rather
    than at data. Such rules are evaluated after every data rule at the same instant (see
    :mod:`rules.engine`), live, in ``rules test`` and in backtests alike.
    """

    reads_alert_states: ClassVar[bool] = False
    # the statement selects raw samples of numeric fields, the box as a column, no GROUP BY: it may
    # be read through the engine's ``samples`` query (CSV, decoded by pandas' parser)
    reads_samples: ClassVar[bool] = False

    @property
    def lower_is_worse(self) -> bool:
        """Whether an alert's worst value (its peak) is its lowest, as for ``op: "<"``."""
        return getattr(self, "op", ">") in ("<", "<=")

    def reads_alert(self, alert: str, labels: dict[str, str]) -> bool:
        """Whether this condition counts the alert ``alert`` (a rule with ``labels``)."""
        return False

    def window_s(self, step_s: int) -> int:
        """The window rounded up to whole steps (buckets are aligned on steps)."""
        window = getattr(self, "window", step_s) or step_s
        return int(max(step_s, -(-window // step_s) * step_s))

    def lookback_s(self, step_s: int) -> int:
        """How far back one evaluation reads: the window, unless the kind also looks before it."""
        return self.window_s(step_s)

    def reading(self, step_s: int) -> Reading | None:
        """What the condition reads, per step of ``step_s`` (None: no data, e.g. alert states)."""
        raise NotImplementedError

    def query(self, start_ns: int, end_ns: int, step_s: int) -> str | None:
        """One InfluxQL statement for all boxes over [start, end), grouped per step; None if no data needed."""
        reading = self.reading(step_s)
        return reading.influxql(start_ns, end_ns) if reading is not None else None

    def evaluate(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, ctx: EvalContext) -> pd.DataFrame:
        """Rows (time, jbox_id, value, active) for each evaluation time and each box with data."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def pivot(frame: pd.DataFrame, column: str, eval_times: list[int], step_s: int, window_s: int) -> pd.DataFrame:
    """Per-bucket values as a (bucket start x box) table covering every bucket the evaluations need."""
    return Pivot(frame, eval_times, step_s, window_s)[column]


class Pivot:
    """:func:`pivot` for several columns of one frame: the rows and boxes are worked out once.

    ``Pivot(frame, ...)["n"]`` is ``pivot(frame, "n", ...)``; each column's table is built once.
    Every table of one Pivot has the same columns: the boxes with a row in the covered buckets,
    even where a column has no value (NaN). Tables of different columns can then be compared
    cell by cell whatever the data holds (a box with a measured power but no setpoint used to
    leave one table a column short: "Can only compare identically-labeled DataFrame objects").
    Rows off the bucket grid and rows outside the covered buckets are ignored; of duplicate rows
    for one bucket and box, the last one counts.
    """

    def __init__(self, frame: pd.DataFrame, eval_times: list[int], step_s: int, window_s: int) -> None:
        step_ns = step_s * 1_000_000_000
        first = min(eval_times) - window_s * 1_000_000_000
        self.index = pd.Index(np.arange(first, max(eval_times), step_ns), name="time")
        self.frame = frame
        self._tables: dict[str, pd.DataFrame] = {}
        self.columns = pd.Index([], name="jbox_id")
        if not frame.empty:
            self._rows = self.index.get_indexer(frame["t_ns"].to_numpy())
            self._codes, boxes = pd.factorize(frame["jbox_id"], sort=True)
            self._seen = np.zeros(len(boxes), dtype=bool)
            self._seen[self._codes[self._rows >= 0]] = True
            self.columns = pd.Index(np.asarray(boxes, dtype=object)[self._seen], name="jbox_id")
            self._boxes = boxes

    def __getitem__(self, column: str) -> pd.DataFrame:
        if column not in self._tables:
            self._tables[column] = self._table(column)
        return self._tables[column]

    def _table(self, column: str) -> pd.DataFrame:
        frame, index = self.frame, self.index
        if frame.empty or column not in frame:
            return pd.DataFrame(np.nan, index=index, columns=self.columns)
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        keep = (self._rows >= 0) & ~np.isnan(values)
        table = np.full((len(index), len(self._boxes)), np.nan)
        table[self._rows[keep], self._codes[keep]] = values[keep]
        return pd.DataFrame(table[:, self._seen], index=index, columns=self.columns)


def rolling(table: pd.DataFrame, window_s: int, step_s: int, how: str) -> pd.DataFrame:
    """Aggregate ``window_s / step_s`` consecutive buckets; row ``b`` covers buckets (b-k, b].

    Missing buckets are skipped; a window without any bucket is NaN (pandas' ``rolling(k,
    min_periods=1)``). Done in numpy on the whole table at once: pandas rolls column by column,
    which costs ~30 us per box and dominated a live evaluation of 1,000 boxes.
    """
    k = max(1, window_s // step_s)
    values = table.to_numpy(dtype="float64", na_value=np.nan)
    if k > 1 and values.size:
        padded = np.vstack([np.full((k - 1, values.shape[1]), np.nan), values])
        windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=0)  # (rows, boxes, k), no copy
        if how == "sum":
            present = (~np.isnan(windows)).any(axis=-1)
            values = np.where(present, np.nansum(windows, axis=-1), np.nan)
        else:
            values = {"max": np.fmax, "min": np.fmin}[how].reduce(windows, axis=-1)  # fmax/fmin skip NaN
    return pd.DataFrame(values, index=table.index, columns=table.columns)


def at_eval_times(table: pd.DataFrame, eval_times: list[int], step_s: int) -> pd.DataFrame:
    """Rows of a rolled table for each evaluation time ``t`` (its last bucket starts at t - step)."""
    step_ns = step_s * 1_000_000_000
    rows = table.reindex([t - step_ns for t in eval_times])
    rows.index = pd.Index(eval_times, name="time")
    return rows


def to_results(values: pd.DataFrame, active: pd.DataFrame, since: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long format (time, jbox_id, value, active[, since]) keeping only cells with a value.

    ``since`` (ns, optional): when the data shows the condition began, if earlier than the
    evaluation time (a frozen reading is dated from its first repeated sample); the state machine
    starts the ``for`` timer there rather than at the evaluation that first saw it.
    """
    if values.empty or values.columns.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    long = values.stack().dropna().rename("value").to_frame()  # pandas >= 3 keeps NaN cells in stack()
    long["active"] = active.reindex_like(values).stack().reindex(long.index).fillna(False).astype(bool)
    if since is not None:
        long["since"] = since.reindex_like(values).stack().reindex(long.index)
    long = long.reset_index()
    long.columns = RESULT_COLUMNS + (["since"] if since is not None else [])
    return long


def with_ns(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``t_ns`` (int nanoseconds) next to the query's ``time`` column (frames read by the engine have it)."""
    if frame.empty or "t_ns" in frame:
        return frame
    frame = frame.copy()
    frame["t_ns"] = (frame["time"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    return frame
