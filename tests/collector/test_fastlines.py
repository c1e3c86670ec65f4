"""The line-protocol fast path gives exactly what the general path gives, on any input."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.fastlines import validate_body
from collector.lineparser import parse_line, parse_lines
from collector.validate import ForbiddenError, Validator
from config.collector import default_schema
from inventory import Box

NOW_NS = int(time.time()) * 10**9
VALIDATOR = Validator(default_schema(), max_future_s=300, max_age_s=7 * 86400)
BOX = Box("jbox-0001", "site-1", "IDF", "fcr")

keys = st.sampled_from(
    [
        "telemetry",
        "telemetry,jbox_id=jbox-0001",
        "telemetry,site=x,region=IDF",
        "heartbeat",
        "log,level=error",
        "nope",
        "telemetry,colour=red",
        "telemetry,jbox_id=jbox-0001,service=afrr",
        "scrape",
    ]
)
names = st.sampled_from(["p_meas_kw", "soc_pct", "uptime_s", "fw_version", "code", "up", "bogus", ""])
values = st.sampled_from(
    [
        "1",
        "1.5",
        "-2.25",
        "5i",
        "-7i",
        "1e3",
        "nan",
        "inf",
        "t",
        "false",
        '"text"',
        "1.",
        ".5",
        "-.5",
        "abc",
        "99999999999999999999i",
        "3u",
        "0.0",
        "+1",
        "1_0",
        "",
    ]
)
stamps = st.sampled_from(
    ["", str(NOW_NS), str(NOW_NS - 10**9), str(NOW_NS + 10**12), str(NOW_NS - 30 * 86400 * 10**9), "x", "1.5"]
)


@st.composite
def lines(draw) -> str:
    fields = ",".join(f"{draw(names)}={draw(values)}" for _ in range(draw(st.integers(1, 3))))
    stamp = draw(stamps)
    return f"{draw(keys)} {fields}" + (f" {stamp}" if stamp else "")


def decoded(result) -> dict:
    """The stored meaning of the output lines: ``1`` and ``1.0`` are the same float."""
    return {policy: [parse_line(line) for line in lines] for policy, lines in result.lines_by_policy.items()}


def general(body: str):
    return VALIDATOR.check(BOX, parse_lines(body), NOW_NS)


@given(st.lists(lines(), min_size=1, max_size=8))
@settings(max_examples=400, deadline=None)
def test_fast_path_equals_general_path(batch: list[str]) -> None:
    body = "\n".join(batch)
    try:
        fast = validate_body(VALIDATOR, BOX, body, "ns", NOW_NS)
    except ForbiddenError:
        fast = "forbidden"
    try:
        slow = general(body)
    except ForbiddenError:
        slow = "forbidden"
    if fast == "forbidden" or slow == "forbidden":
        assert fast == slow
        return
    assert fast.count == slow.count
    assert decoded(fast) == decoded(slow)
    assert [(e.line, e.category) for e in fast.errors] == [(e.line, e.category) for e in slow.errors]


def test_fast_path_fills_box_tags_and_keeps_plain_decimals() -> None:
    result = validate_body(VALIDATOR, BOX, f"telemetry soc_pct=51.25,p_meas_kw=3 {NOW_NS}", "ns", NOW_NS)
    assert result.lines_by_policy["raw"] == [
        f"telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-1 soc_pct=51.25,p_meas_kw=3 {NOW_NS}"
    ]


def test_line_protocol_types_are_not_converted() -> None:
    # InfluxDB calls an integer written to a float field a type conflict, so the collector does too
    result = validate_body(
        VALIDATOR, BOX, f"telemetry p_meas_kw=3i {NOW_NS}\nheartbeat uptime_s=3 {NOW_NS}", "ns", NOW_NS
    )
    assert result.count == 0
    assert [e.reason for e in result.errors] == [
        "field 'p_meas_kw' must be float, got 3i",
        "field 'uptime_s' must be integer, got 3.0",
    ]
