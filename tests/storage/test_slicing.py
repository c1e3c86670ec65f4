"""Big reads in pieces: time slices x box batches, a piece InfluxDB is too slow for halved until it
answers, with the same rows as one query (checked on a real InfluxDB)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from storage import InfluxClient, InfluxError
from storage.lineprotocol import encode_point
from storage.slicing import Budget, Piece, SlicedQuery, Statement, plan_pieces, run_pieces

NS = 10**9
HOUR = 3600 * NS


def slow() -> InfluxError:
    return InfluxError("InfluxDB at http://x is slow", retryable=True, slow=True)


def test_plan_covers_the_range_in_aligned_slices_and_batches() -> None:
    pieces = plan_pieces(HOUR + 5, 4 * HOUR, HOUR, [f"b{i}" for i in range(5)], batch=2)
    assert [(p.start_ns, p.end_ns) for p in pieces[::3]] == [
        (HOUR + 5, 2 * HOUR),
        (2 * HOUR, 3 * HOUR),
        (3 * HOUR, 4 * HOUR),
    ]
    assert [p.boxes for p in pieces[:3]] == [("", "b0", "b1"), ("b2", "b3"), ("b4",)]  # '' = series without the tag
    assert plan_pieces(0, HOUR, HOUR, ["a", "b"], batch=2) == [Piece(0, HOUR, ("a", "b"), True)]
    assert Piece(0, HOUR, ("a", "b"), True).box_condition() == ""
    assert Piece(0, HOUR, ("a", "b"), False).where() == 'time >= 0 AND time < 3600000000000 AND "jbox_id" =~ /^(a|b)$/'


def test_a_slow_piece_is_halved_until_it_answers_and_nothing_is_read_twice() -> None:
    asked = []

    def run(piece: Piece) -> Piece:
        if (piece.end_ns - piece.start_ns) > 15 * 60 * NS or len(piece.boxes) > 1:
            raise slow()
        asked.append(piece)
        return piece

    fractions = []
    pieces = plan_pieces(0, 2 * HOUR, HOUR, ["a", "b", "c"], batch=3)
    done = run_pieces(pieces, run, align_ns=60 * NS, progress=lambda f, what: fractions.append(f))
    assert done == asked
    cells = [(t, box) for p in done for t in range(p.start_ns, p.end_ns, 60 * NS) for box in p.boxes]
    # every minute of every box once, and of the series without a box tag ('') once too
    assert len(cells) == len(set(cells)) == 120 * 4
    assert all(p.end_ns - p.start_ns <= 15 * 60 * NS and len(p.boxes) == 1 for p in done)
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_only_slowness_is_a_reason_to_split() -> None:
    def refused(piece: Piece) -> None:
        raise InfluxError("InfluxDB at http://x is unreachable", retryable=True)

    with pytest.raises(InfluxError, match="unreachable"):
        run_pieces(plan_pieces(0, HOUR, HOUR, ["a", "b"], 2), refused, align_ns=NS)

    def always_slow(piece: Piece) -> None:
        raise slow()

    with pytest.raises(InfluxError, match="slow"):  # one window of one box still too slow: said, not looped
        run_pieces([Piece(0, 2 * 60 * NS, ("a", "b"), False)], always_slow, align_ns=60 * NS)


def test_statement_splits_only_when_it_is_exact() -> None:
    text = (
        'SELECT sum(x) AS s FROM (SELECT abs("a" - "b") AS x FROM "telemetry" WHERE time >= 100 AND time < 900 '
        'GROUP BY "jbox_id") WHERE time >= 100 AND time < 900 GROUP BY time(10s), "jbox_id" fill(none)'
    )
    statement = Statement.parse(text)
    assert statement is not None and statement.align_ns == 10 * NS
    piece = Piece(100, 500, ("a",), False)
    assert statement.for_piece(piece).count('WHERE "jbox_id" =~ /^(a)$/ AND time >= 100 AND time < 500') == 2
    assert Statement.parse('SELECT count(x) FROM "t" WHERE time >= 1 AND time < 2 GROUP BY time(1m)') is None
    assert Statement.parse('SELECT x FROM "t" WHERE time >= 1 AND time < 2 GROUP BY "jbox_id"') is None
    two_ranges = text.replace("time >= 100 AND time < 900 GROUP BY time", "time >= 200 AND time < 900 GROUP BY time")
    assert Statement.parse(two_ranges) is None


def test_sliced_rule_query_equals_one_query_on_influxdb(influx: InfluxClient) -> None:
    start = (int(time.time()) // 3600 - 4) * 3600 * NS
    lines = [
        encode_point(
            "telemetry", {"jbox_id": f"jbox-{b}"}, {"p": float(b * 1000 + t % 97), "s": float(t % 13)}, start + t * NS
        )
        for b in range(7)
        for t in range(0, 7200, 5)
    ]
    influx.write_batches(lines)
    text = (
        'SELECT sum(x) AS s, count(x) AS n, max("p") AS m FROM (SELECT abs("p" - "s") AS x, "p" FROM "telemetry" '
        f'WHERE time >= {start + 7 * NS} AND time < {start + 7000 * NS} GROUP BY "jbox_id") '
        f'WHERE time >= {start + 7 * NS} AND time < {start + 7000 * NS} GROUP BY time(10s), "jbox_id" fill(none)'
    )
    asked = []

    def busy(statement: str) -> pd.DataFrame:  # InfluxDB too slow for more than 2 boxes or 20 minutes
        window = Statement.parse(statement)
        if statement.count("|") > 1 or "=~" not in statement or window.end_ns - window.start_ns > 1200 * NS:
            raise slow()
        asked.append(statement)
        return influx.query(statement)

    boxes = [f"jbox-{b}" for b in range(7)]
    sliced = SlicedQuery(busy, boxes, batch=3)(text)
    whole = influx.query(text)
    assert len(asked) > 10
    key = ["time", "jbox_id"]
    pd.testing.assert_frame_equal(
        sliced.sort_values(key).reset_index(drop=True), whole.sort_values(key).reset_index(drop=True)
    )


def test_a_budget_learns_what_influxdb_answers_in_time_and_grows_back() -> None:
    limit = [30 * 60 * NS]
    slow_calls = []

    def run(piece: Piece) -> int:
        if piece.end_ns - piece.start_ns > limit[0]:
            slow_calls.append(piece)
            raise slow()
        return 1

    budget = Budget()
    run_pieces(plan_pieces(0, 4 * HOUR, HOUR, [], 1), run, align_ns=60 * NS, budget=budget)
    assert len(slow_calls) == 1  # once learnt, later hours are asked in halves at once
    assert budget.max_weight is not None and budget.max_weight <= HOUR
    limit[0] = 10 * HOUR  # InfluxDB calmed down: after enough answers the budget doubles again
    run_pieces(plan_pieces(0, 16 * HOUR, HOUR, [], 1), run, align_ns=60 * NS, budget=budget)
    assert budget.max_weight >= 4 * HOUR and len(slow_calls) == 1
