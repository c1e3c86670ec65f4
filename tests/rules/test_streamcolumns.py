"""The column-wise reader holds a batch exactly as the reference parser reads it, line by line.

Batches of one layout (any tags, fields in any order, floats and integers) with lines of other
layouts mixed in (a field missing, fields reordered, another tag, a point written twice, another
measurement, a comment, escapes, a string, a boolean): whatever path each batch takes, what the
stream holds is what :func:`storage.lineparser.parse_line` reads, the last value of a point
written twice winning.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.conditions.reading import Column, Reading
from rules.stream import SampleStream, _Table
from rules.streamcolumns import line_prefix, take_columns
from storage.lineparser import parse_line
from storage.lineprotocol import encode_point

S = 1_000_000_000
T0 = 1_765_000_000 * S
FIELDS = ("a", "b", "c")  # the rules read a and b
READING = Reading("m", None, (Column("a", "a"), Column("b", "b")), None)

layout = st.fixed_dictionaries(
    {
        "fields": st.permutations(FIELDS).flatmap(lambda names: st.integers(1, 3).map(lambda n: names[:n])),
        "site": st.booleans(),
    }
)
odd = st.sampled_from(["missing", "reordered", "tag", "other", "comment", "escaped", "string", "unwanted"])


def _line(box: int, second: int, fields: tuple[str, ...], site: bool, rng: np.random.Generator) -> str:
    values = {name: round(float(rng.normal(0, 100)), 3) for name in fields}
    tags = {"jbox_id": f"jbox-{box}"} | ({"site": "s1"} if site else {})
    return encode_point("m", tags, values, T0 + second * S)


def _odd_line(kind: str, second: int, rng: np.random.Generator) -> str:
    if kind == "missing":
        return _line(1, second, ("a",), False, rng)
    if kind == "reordered":
        return _line(2, second, ("c", "b", "a"), True, rng)
    if kind == "tag":
        return encode_point("m", {"jbox_id": "jbox-3", "region": "r"}, {"a": 1.5, "b": 2.0}, T0 + second * S)
    if kind == "other":
        return encode_point("other", {"jbox_id": "jbox-1"}, {"a": 9.0}, T0 + second * S)
    if kind == "comment":
        return "# m,jbox_id=jbox-1 a=1"
    if kind == "escaped":
        return encode_point("m", {"jbox_id": "jbox 4,x"}, {"a": 3.25}, T0 + second * S)
    if kind == "string":
        return encode_point("m", {"jbox_id": "jbox-5"}, {"a": 4.5, "c": 'say "hi"'}, T0 + second * S)
    return encode_point("m", {"jbox_id": "jbox-6"}, {"c": 1.0}, T0 + second * S)  # nothing the rules read


def _expected(body: list[str]) -> dict[tuple[str, int], dict[str, float]]:
    expected: dict[tuple[str, int], dict[str, float]] = {}
    for line in body:
        if line.startswith("#"):
            continue
        point = parse_line(line)
        held = {k: float(v) for k, v in point.fields.items() if k in ("a", "b")}
        if point.measurement == "m" and held:
            expected.setdefault((point.tags["jbox_id"], point.time_ns), {}).update(held)
    return expected


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(
        st.tuples(layout, st.integers(1, 40), st.lists(st.tuples(odd, st.integers(0, 40)), max_size=3)),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 2**16),
)
def test_what_is_held_is_what_the_reference_parser_reads(batches, seed) -> None:
    rng = np.random.default_rng(seed)
    stream = SampleStream(hold_s=10**6, margin_s=0, clock=lambda: T0 / S - 1)
    stream.want([READING])
    stream.feed("")
    body: list[str] = []
    for shape, size, odd_lines in batches:
        batch = [_line(int(rng.integers(0, 8)), int(rng.integers(0, 40)), shape["fields"], shape["site"], rng)
                 for _ in range(size)]  # fmt: skip
        for kind, at in odd_lines:
            batch.insert(at % (len(batch) + 1), _odd_line(kind, int(rng.integers(0, 40)), rng))
        stream.feed("\n".join(batch))
        body += batch
    expected = _expected(body)
    got = stream.answer(READING, T0, T0 + 60 * S)
    assert got is not None
    assert len(got) == len(expected)
    for row in got.itertuples():
        want = expected[(row.jbox_id, row.t_ns)]
        for name in ("a", "b"):
            value = getattr(row, name)
            assert want.get(name, math.nan) == value or (name not in want and math.isnan(value))


def _table() -> _Table:
    fields = ("a", "b")
    return _Table("m", fields, {name: i for i, name in enumerate(fields)}, [None, None])


def test_one_plain_layout_is_read_column_wise_and_anything_else_is_left_to_the_line_reader() -> None:
    plain = [f"m,jbox_id=b{i},site=s a={i}.5,b=2,c=x1 {T0 + i * S}" for i in range(3)]
    codes: dict[str, int] = {}
    table = _table()
    assert take_columns(plain, table, lambda box: codes.setdefault(box, len(codes))) == 3
    t, boxes, values = table.rows(T0, T0 + 10 * S)
    assert t.tolist() == [T0, T0 + S, T0 + 2 * S] and boxes.tolist() == [0, 1, 2]
    assert values.tolist() == [[0.5, 2.0], [1.5, 2.0], [2.5, 2.0]] and table.kinds == [float, float]
    others = {
        "an integer field": [*plain, f"m,jbox_id=b9,site=s a=1i,b=2,c=x1 {T0}"],
        "another order": [*plain, f"m,jbox_id=b9,site=s b=1,a=2,c=x1 {T0}"],
        "a field fewer": [*plain, f"m,jbox_id=b9,site=s a=1,b=2 {T0}"],
        "a boolean": [*plain, f"m,jbox_id=b9,site=s a=true,b=2,c=x1 {T0}"],
        "no box": [f"m,site=s a=1,b=2,c=x1 {T0}"],
        "an escape": [*plain, f"m,jbox_id=b\\ 9,site=s a=1,b=2,c=x1 {T0}"],
        "no time": [*plain, "m,jbox_id=b9,site=s a=1,b=2,c=x1"],
    }
    for why, lines in others.items():
        table = _table()
        assert take_columns(lines, table, lambda box: 0) is None, why
        assert table.rows(0, 2**62)[0].size == 0 and table.kinds == [None, None], why
    ints = _table()
    ints.kinds[0] = int  # the field held integers so far: the line reader reports the change
    assert take_columns(plain, ints, lambda box: 0) is None
    assert line_prefix("m") == "m," and line_prefix("m m") is None and line_prefix("m,x") is None
