"""Property-based and fuzz tests: whatever arrives, the answer is 2xx/4xx and valid data stays."""

from __future__ import annotations

import json
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ENDPOINTS = ["/v1/telemetry", "/v2/telemetry", "/v1/logs", "/write", "/api/v2/write"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=25,
)
field_names = st.sampled_from(
    [
        "p_meas_kw",
        "soc_pct",
        "jbox_id",
        "time",
        "ts",
        "kind",
        "header",
        "samples",
        "heartbeat",
        "entries",
        "level",
        "code",
        "message",
        "p_kw",
        "soc",
        "fw",
    ]
)
shaped_json = st.recursive(
    json_values,
    lambda children: st.dictionaries(field_names, children, max_size=6) | st.lists(children, max_size=4),
    max_leaves=30,
)
line_protocol_text = st.text(
    alphabet=st.sampled_from(list('telmyrsoc_pk ,=\\"\n\t0123456789.-+eEiTFtf#é€\u2028\x00')), max_size=200
)


@pytest.fixture
def fuzz_target(collector):
    """The collector with a valid point written before the fuzzing starts."""
    now = int(time.time())
    assert collector.post("/write?precision=s", data=f"telemetry soc_pct=42.5 {now - 10}").status_code == 204
    return collector


def assert_alive_and_untouched(collector) -> None:
    assert requests.get(collector.url + "/health", timeout=5).status_code == 200
    collector.drain()
    frame = collector.influx.query("SELECT soc_pct FROM telemetry WHERE soc_pct = 42.5")
    assert len(frame) == 1


def post(collector, endpoint: str, **kwargs) -> int:
    status = collector.post(endpoint, **kwargs).status_code
    assert status < 500, f"{endpoint} answered {status} for {kwargs}"
    return status


@given(body=st.binary(max_size=300), endpoint=st.sampled_from(ENDPOINTS))
@FUZZ
def test_random_bytes_never_give_5xx(fuzz_target, body: bytes, endpoint: str) -> None:
    post(fuzz_target, endpoint, data=body)


@given(document=shaped_json, endpoint=st.sampled_from(ENDPOINTS[:3]))
@FUZZ
def test_random_json_never_gives_5xx(fuzz_target, document, endpoint: str) -> None:
    post(fuzz_target, endpoint, data=json.dumps(document, allow_nan=True), headers={"Content-Type": "application/json"})


@given(text=line_protocol_text, precision=st.sampled_from(["ns", "s", "ms", "h", ""]))
@FUZZ
def test_random_line_protocol_never_gives_5xx(fuzz_target, text: str, precision: str) -> None:
    post(fuzz_target, f"/write?precision={precision}", data=text.encode("utf-8", "surrogatepass"))


@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**100), max_value=2**100),
        st.text(max_size=20),
        st.booleans(),
        st.none(),
    ),
    time_value=st.one_of(st.text(max_size=30), st.integers(min_value=-(2**70), max_value=2**70), st.floats()),
)
@FUZZ
def test_odd_values_in_valid_shapes(fuzz_target, value, time_value) -> None:
    v2 = {"header": {"jbox_id": "jbox-0001"}, "samples": [{"time": time_value, "soc_pct": value}]}
    post(fuzz_target, "/v2/telemetry", data=json.dumps(v2), headers={"Content-Type": "application/json"})
    v1 = {"ts": time_value, "soc": value}
    post(fuzz_target, "/v1/telemetry", data=json.dumps(v1), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", None),
        (b"", "application/json"),
        (b"{}", "text/csv"),
        (b"null", "application/json"),
        (b"[" * 100_000, "application/json"),
        ('{"header": {"jbox_id": "\ud800"}, "samples": [{"soc_pct": 1}]}'.encode("utf-8", "surrogatepass"), None),
        (b"telemetry soc_pct=1e400", "text/plain"),
        (b"telemetry soc_pct=99999999999999999999999i", "text/plain"),
        (b"\xff\xfe\x00", "application/octet-stream"),
        (b"telemetry,jbox_id=jbox-0001 soc_pct=NaN", None),
    ],
)
def test_hand_picked_nasties(fuzz_target, endpoint: str, body: bytes, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status = post(fuzz_target, endpoint, data=body, headers=headers)
    assert 400 <= status < 500 or (status == 204 and body == b"")


def test_after_fuzzing_the_server_is_alive_and_valid_data_is_untouched(fuzz_target) -> None:
    for endpoint in ENDPOINTS:
        post(fuzz_target, endpoint, data=b"\x00" * 1000)
    assert_alive_and_untouched(fuzz_target)
