"""The line-protocol fast path gives exactly what the general path gives, on any input."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.fastlines import validate_body
from collector.lineparser import parse_lines
from collector.validate import ForbiddenError, GatewayScope, Validator
from config.collector import default_schema
from inventory import Box, Gateway
from storage.lineparser import parse_line

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


def assert_paths_agree(fast_path, slow_path):
    """Both paths refuse the body with 403, or accept the same points and name the same bad lines;
    returns (fast, slow) results when they accepted, None when both refused."""
    outcomes = []
    for path in (fast_path, slow_path):
        try:
            outcomes.append(path())
        except ForbiddenError:
            outcomes.append("forbidden")
    fast, slow = outcomes
    if fast == "forbidden" or slow == "forbidden":
        assert fast == slow
        return None
    assert fast.count == slow.count
    assert decoded(fast) == decoded(slow)
    assert [(e.line, e.category) for e in fast.errors] == [(e.line, e.category) for e in slow.errors]
    return fast, slow


@given(st.lists(lines(), min_size=1, max_size=8))
@settings(max_examples=400, deadline=None)
def test_fast_path_equals_general_path(batch: list[str]) -> None:
    body = "\n".join(batch)
    assert_paths_agree(lambda: validate_body(VALIDATOR, BOX, body, "ns", NOW_NS), lambda: general(body))


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


# -- runs of uniform lines (pass 1) --------------------------------------------------------------

OTHER = Box("jbox-0002", "site-1", "IDF", "afrr")
FAR = Box("jbox-0003", "site-2", "IDF", "fcr")
GATEWAY = Gateway("gw-1", site="site-1")
BOXES = {box.jbox_id: box for box in (BOX, OTHER, FAR)}
RUN_KEYS = [
    "telemetry",
    "telemetry,jbox_id=jbox-0001",
    "telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-1",  # already as stored
    "telemetry,jbox_id=jbox-0002",
    "telemetry,site=x,jbox_id=jbox-0002",
    "telemetry,jbox_id=jbox-0003",  # outside the gateway's site
    "telemetry,jbox_id=jbox-0009",  # not registered
    "telemetry,colour=red,jbox_id=jbox-0001",
    "heartbeat,jbox_id=jbox-0001",
    "heartbeat,jbox_id=jbox-0002",
    "heartbeat",
    "log,jbox_id=jbox-0001,level=error",
    "#telemetry",
    "\ttelemetry",
]
run_values = {
    "float": st.sampled_from(["1", "1.5", "-2.25", "0.0", "007.50", "1e3", "1.", ".5", "5i", "t", "1" * 301]),
    "integer": st.sampled_from(["5i", "-7i", "123456789012345678i", "9223372036854775808i", "5", "1.0"]),
}
run_stamps = st.sampled_from(
    [
        str(NOW_NS),
        str(NOW_NS - 10**9),
        str(NOW_NS - 3600 * 10**9),
        str(NOW_NS + 10**12),  # too far in the future
        str(NOW_NS - 30 * 86400 * 10**9),  # beyond the age limit
        str(NOW_NS)[:10],  # seconds: not 19 digits
        "0" + str(NOW_NS),
        str(NOW_NS) + "0",
        "",
    ]
)


@st.composite
def runs(draw) -> str:
    """Bodies that are mostly runs of plain lines sharing a field order, with now and then an odd line."""
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        measurement = draw(st.sampled_from(["telemetry", "heartbeat"]))
        pool = ["p_meas_kw", "soc_pct", "grid_freq_hz"] if measurement == "telemetry" else ["uptime_s", "disk_used_pct"]
        names = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))  # repeats too
        keys = [key for key in RUN_KEYS if key.lstrip("#\t").startswith(measurement)]
        usual = f"{measurement},jbox_id=jbox-0001"
        for _ in range(draw(st.integers(1, 20))):
            if draw(st.integers(0, 9)) == 0:
                odd = ["", "# note", "telemetry  soc_pct=1", "telemetry soc_pct=1 1 ", "telemetry\tsoc_pct=1"]
                lines.append(draw(st.sampled_from(odd)))
                continue
            values = []
            for name in names:
                kind = "integer" if name == "uptime_s" else "float"
                odd_value = draw(st.integers(0, 5)) == 0
                values.append(draw(run_values[kind]) if odd_value else "5i" if kind == "integer" else "1.5")
            fields = ",".join(f"{name}={value}" for name, value in zip(names, values, strict=True))
            stamp = draw(run_stamps) if draw(st.integers(0, 4)) == 0 else str(NOW_NS - draw(st.integers(0, 10**12)))
            key = draw(st.sampled_from(keys)) if draw(st.integers(0, 3)) == 0 else usual
            lines.append(f"{key} {fields}" + (f" {stamp}" if stamp else ""))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


def compare(scope, body: str) -> None:
    validator = Validator(default_schema(), max_future_s=300, max_age_s=7 * 86400, max_series_per_box=3)
    twin = Validator(default_schema(), max_future_s=300, max_age_s=7 * 86400, max_series_per_box=3)
    results = assert_paths_agree(
        lambda: validate_body(validator, scope, body, "ns", NOW_NS),
        lambda: twin.check(scope, parse_lines(body), NOW_NS),
    )
    if results is not None:
        fast, slow = results
        assert fast.boxes == slow.boxes


@given(runs())
@settings(max_examples=400, deadline=None)
def test_runs_of_uniform_lines_equal_the_general_path_for_a_box(body: str) -> None:
    compare(BOX, body)


@given(runs())
@settings(max_examples=400, deadline=None)
def test_runs_of_uniform_lines_equal_the_general_path_for_a_gateway(body: str) -> None:
    compare(GatewayScope(GATEWAY, BOXES.get), body)


def test_a_uniform_body_is_kept_as_it_came_with_the_stored_key() -> None:
    stored = "telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-1"
    lines = [f"telemetry p_meas_kw={i}.5,soc_pct=50 {NOW_NS - i * 10**9}" for i in range(40)]
    lines += [f"heartbeat uptime_s={i}i {NOW_NS - i}" for i in range(20)]
    lines += ["# the end", f"telemetry soc_pct=1 {NOW_NS}"]
    result = validate_body(VALIDATOR, BOX, "\n".join(lines), "ns", NOW_NS)
    assert result.count == 61 and not result.errors
    assert result.lines_by_policy["raw"][0] == f"{stored} p_meas_kw=0.5,soc_pct=50 {NOW_NS}"
    assert (
        result.lines_by_policy["raw"][40]
        == f"heartbeat,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-1 uptime_s=0i {NOW_NS}"
    )
    assert result.lines_by_policy["raw"][-1] == f"{stored} soc_pct=1 {NOW_NS}"


def test_a_gateway_run_naming_a_box_of_another_site_is_forbidden() -> None:
    lines = [f"telemetry,jbox_id=jbox-000{1 + i % 2} soc_pct=1 {NOW_NS - i}" for i in range(30)]
    scope = GatewayScope(GATEWAY, BOXES.get)
    assert validate_body(VALIDATOR, scope, "\n".join(lines), "ns", NOW_NS).boxes == {"jbox-0001", "jbox-0002"}
    lines[17] = f"telemetry,jbox_id=jbox-0003 soc_pct=1 {NOW_NS}"
    with pytest.raises(ForbiddenError, match="jbox-0003"):
        validate_body(VALIDATOR, scope, "\n".join(lines), "ns", NOW_NS)


def test_a_timestamp_of_thousands_of_digits_is_refused_not_raised() -> None:
    result = validate_body(
        VALIDATOR, BOX, f"telemetry soc_pct=1 {'1' * 5000}\ntelemetry soc_pct=1 {NOW_NS}", "ns", NOW_NS
    )
    assert result.count == 1 and [e.line for e in result.errors] == [1]
    result = validate_body(VALIDATOR, BOX, f"heartbeat uptime_s={'1' * 5000}i {NOW_NS}", "ns", NOW_NS)
    assert result.count == 0 and [e.category for e in result.errors] == ["parse"]
