"""The payload-v2 fast path gives exactly what the general path gives, or steps aside."""

from __future__ import annotations

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.fastjson import V2FastPath
from collector.payloads import VERSIONS
from collector.scope import ForbiddenError
from collector.validate import Validator
from config.collector import MeasurementSchema, default_schema
from inventory import Box
from storage.lineparser import parse_line

NOW = int(time.time())
NOW_NS = NOW * 10**9
VALIDATOR = Validator(default_schema(), max_future_s=300, max_age_s=7 * 86400)
FAST = V2FastPath(VALIDATOR)
BOX = Box("jbox-0001", "site-1", "IDF", "fcr")


def stamp(offset_s: float, fraction: str = ".000") -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(NOW + offset_s)) + fraction + "Z"


times = st.sampled_from(
    [
        stamp(-5),
        stamp(-61, ".123456"),
        stamp(-3600, ""),
        stamp(-20, ".5"),
        stamp(10**6),
        stamp(-30 * 86400),
        stamp(-5).replace("Z", "+00:00"),
        stamp(-5).lower(),
        "2026-02-30T10:00:00Z",
        "2026-11-29T10:00:60Z",
        "2026-11-29T10:00:00",
        "not a time",
        None,
        12,
        stamp(-5, ".١٢٣"),  # digits, but not ASCII ones
        stamp(-5, ".12"),
        stamp(-5, ".1234567"),
        stamp(-5) + ",bogus=1",  # a valid second followed by more: never taken as fields
        stamp(-5) + '"}',
        stamp(-5)[:-1] + "z",
    ]
)
names = st.sampled_from(["p_meas_kw", "soc_pct", "temp_min_c", "grid_freq_hz", "uptime_s", "bogus"])
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([None, True, False, "12.5", 0, -0.0, 1e308, 5e-324]),
)
samples = st.lists(
    st.builds(
        lambda fields, time_value, with_time: {**({"time": time_value} if with_time else {}), **fields},
        st.dictionaries(names, values, max_size=4),
        times,
        st.booleans(),
    )
    | st.sampled_from([[], "x", None]),
    max_size=5,
)
headers = st.sampled_from([{}, {"jbox_id": "jbox-0001"}, {"jbox_id": "jbox-0002"}, {"jbox_id": 7}, {"seq": 3}])
bodies = st.builds(
    lambda header, sample_list, extra: {"header": header, "samples": sample_list, **extra},
    headers,
    samples,
    st.sampled_from([{}, {"heartbeat": None}, {"heartbeat": {"uptime_s": 5}}, {"bogus": 1}]),
)


# mostly plain bodies, so the fast path's own answers are compared often, not only its refusals
plain_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(min_value=-(2**62), max_value=2**62)
)
plain_samples = st.lists(
    st.builds(
        lambda fields, time_value: {"time": time_value, **fields} if time_value else fields,
        st.dictionaries(
            st.sampled_from(["p_meas_kw", "soc_pct", "temp_min_c", "grid_freq_hz"]), plain_values, min_size=1
        ),
        st.sampled_from([stamp(-5), stamp(-61, ".123456"), stamp(-3600, ""), stamp(-86400, ".999"), stamp(200), ""]),
    ),
    max_size=6,
)
plain_bodies = st.builds(
    lambda header, sample_list: {"header": header, "samples": sample_list},
    st.sampled_from([{}, {"jbox_id": "jbox-0001", "fw_version": "2.1", "sent_at": "x", "seq": 9}]),
    plain_samples,
)


def general(body: bytes):
    return VALIDATOR.check(BOX, VERSIONS["v2"].decode(json.loads(body)), NOW_NS)


def points(lines_by_policy) -> dict:
    return {
        policy: [(p.measurement, p.tags, p.fields, p.time_ns) for p in map(parse_line, lines)]
        for policy, lines in lines_by_policy.items()
        if lines
    }


@settings(max_examples=600, deadline=None)
@given(bodies | plain_bodies)
def test_fast_path_equals_general_path_or_steps_aside(document) -> None:
    body = json.dumps(document).encode()
    fast = FAST.accept(BOX, body, NOW_NS)
    if fast is None:
        return  # the general path answers alone
    try:
        expected = general(body)
    except ForbiddenError:
        raise AssertionError("the fast path accepted a body the general path refuses with 403") from None
    assert not expected.errors, f"fast path accepted what the general path refuses: {expected.errors}"
    assert fast.count == expected.count
    assert points(fast.lines_by_policy) == points(expected.lines_by_policy)


def test_the_usual_body_takes_the_fast_path_with_registry_tags() -> None:
    document = {
        "header": {"jbox_id": "jbox-0001", "seq": 1},
        "samples": [{"time": stamp(-10 + i), "p_meas_kw": 100 + i, "soc_pct": 50.5} for i in range(10)],
    }
    fast = FAST.accept(BOX, json.dumps(document).encode(), NOW_NS)
    assert fast is not None and fast.count == 10
    first = fast.lines_by_policy["raw"][0]
    series = "telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-1"
    assert first == f"{series} p_meas_kw=100.0,soc_pct=50.5 {(NOW - 10) * 10**9}"


def test_a_box_whose_registry_entry_changed_gets_its_new_tags_and_its_series_budget() -> None:
    fast = V2FastPath(Validator(default_schema(), max_future_s=300, max_age_s=0, max_series_per_box=1))
    body = json.dumps({"header": {}, "samples": [{"time": stamp(-1), "soc_pct": 1.0}]}).encode()
    assert ",site=site-1 " in fast.accept(BOX, body, NOW_NS).lines_by_policy["raw"][0]
    assert ",site=site-1 " in fast.accept(BOX, body, NOW_NS).lines_by_policy["raw"][0]  # the same series: no budget
    moved = Box("jbox-0001", "site-2", "IDF", "fcr")  # the registry reloaded: another object, another site
    # a second series for a box allowed one: the general path decides (it refuses the point)
    assert fast.accept(moved, body, NOW_NS) is None
    roomy = V2FastPath(Validator(default_schema(), max_future_s=300, max_age_s=0))
    assert ",site=site-1 " in roomy.accept(BOX, body, NOW_NS).lines_by_policy["raw"][0]
    assert ",site=site-2 " in roomy.accept(moved, body, NOW_NS).lines_by_policy["raw"][0]


def test_bodies_that_are_not_plain_step_aside() -> None:
    plain = {"header": {}, "samples": [{"time": stamp(-1), "soc_pct": 1.0}]}
    assert FAST.accept(BOX, json.dumps(plain).encode(), NOW_NS) is not None
    for changed in (
        {"header": {"jbox_id": "jbox-0002"}},  # another box: the general path answers 403
        {"samples": [{"time": stamp(-1), "soc_pct": None}]},
        {"samples": [{"time": stamp(-1), "soc_pct": True}]},
        {"samples": [{"time": stamp(-1)}]},
        {"samples": [{"time": stamp(3600), "soc_pct": 1.0}]},
        {"heartbeat": {"uptime_s": 1}},
    ):
        assert FAST.accept(BOX, json.dumps({**plain, **changed}).encode(), NOW_NS) is None, changed
    assert FAST.accept(BOX, b'{"header": {}, "samples": [{"soc_pct": NaN}]}', NOW_NS) is None
    assert FAST.accept(BOX, b"\xff\xfe", NOW_NS) is None


def test_a_schema_with_string_telemetry_fields_uses_the_general_path_only() -> None:
    schema = default_schema()
    schema["telemetry"] = MeasurementSchema(fields={"soc_pct": "float", "note": "string"})
    fast = V2FastPath(Validator(schema, max_future_s=300, max_age_s=0))
    assert fast.accept(BOX, b'{"header": {}, "samples": [{"soc_pct": 1.0}]}', NOW_NS) is None


def test_integer_and_boolean_fields_and_escaped_names_are_formatted_value_by_value() -> None:
    schema = default_schema()
    schema["telemetry"] = MeasurementSchema(fields={"soc_pct": "float", "cycles": "integer", "on grid": "boolean"})
    fast = V2FastPath(Validator(schema, max_future_s=300, max_age_s=0))
    body = {"header": {}, "samples": [{"time": stamp(-1), "cycles": 12, "on grid": True, "soc_pct": 1}]}
    accepted = fast.accept(BOX, json.dumps(body).encode(), NOW_NS)
    series = "telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-1"
    assert accepted.lines_by_policy["raw"] == [f"{series} soc_pct=1.0,cycles=12i,on\\ grid=true {(NOW - 1) * 10**9}"]


def test_float_fields_come_out_as_the_shortest_text_influxdb_reads_back() -> None:
    samples = [{"time": stamp(-2, ".250"), "soc_pct": 1e300, "p_meas_kw": -0.0}, {"grid_freq_hz": 5e-324}]
    accepted = FAST.accept(BOX, json.dumps({"header": {}, "samples": samples}).encode(), NOW_NS)
    series = "telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-1"
    assert accepted.lines_by_policy["raw"] == [
        f"{series} p_meas_kw=-0.0,soc_pct=1e300 {(NOW - 2) * 10**9 + 250_000_000}",
        f"{series} grid_freq_hz=5e-324 {NOW_NS}",
    ]
