"""The collector's promise, checked against the real thing: a line it acknowledges is a line InfluxDB accepts.

Generated line protocol (numbers in every notation, escapes, Unicode, tag values ending in a
backslash, timestamps near every limit, each measurement) goes to a running collector and, line by
line, to a real influxd whose reference database has the same retention policies and already holds
every measurement with the schema's field types (so a type InfluxDB would call a conflict is one).
The test fails on any line the collector acknowledges and influxd refuses; the collector may be
stricter than InfluxDB (it refuses unknown tags, for instance), never laxer. Afterwards, everything
acknowledged must have reached InfluxDB: the writer dead-lettered nothing.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from config.collector import default_schema
from config.model import RetentionConfig
from storage import InfluxClient, InfluxSettings
from storage.client import retention_policies
from storage.lineparser import parse_line, strip_line

SCHEMA = default_schema()
RETENTION = RetentionConfig()  # the collector fixture and the reference database share these defaults
POLICY_S = {"raw": RETENTION.raw, "logs": RETENTION.logs}
MAX_FUTURE_S = 300
PRECISION_NS = {"ns": 1, "u": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
INT64 = 2**63
DIFF = settings(
    max_examples=int(os.environ.get("JBOXMON_DIFFERENTIAL_EXAMPLES", "250")),  # more for a long hunt
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the generator ---------------------------------------------------------------------------------

# fmt: off
NUMBERS = [
    # accepted by InfluxDB 1.x
    "1", "-1", "0", "-0", "01", "00.5", "1.", "-.5", ".5", "1e5", "1E5", "1e+5", "1e-5", "1.e5", "1e05",
    "1e-400", "1.7976931348623157e308", "4.9e-324", "0.0e0",
    # refused by InfluxDB 1.x, though Python's float() or int() takes some of them
    "+1", "--1", "-+1", "1_0", "1__0", "١٢", "²", "١.٥", "0x10", "0b1", "inf", "Inf", "-inf", "NaN", "nan",
    "infinity", "1e400", "-1e400", "1.5e", "1e", "1e-", "e5", ".e5", "-", ".", "-.", "1.5.5", "1e5.5", "1-1",
    "1i5", " 1", "1 ", "\u00a01", "1\u2009", "1" + "0" * 308, "1" + "0" * 309, "-1" + "0" * 400 + ".5",
]
INTEGERS = [
    "1i", "-1i", "0i", "-0i", "01i", "9223372036854775807i", "-9223372036854775808i", "9223372036854775808i",
    "-9223372036854775809i", "+1i", "--1i", "1u", "1_0i", "١٢i", "1.0i", "1e3i", "i", "-i", "1I",
]
BOOLEANS = ["t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE", "tRue", "yes", "1b", "fa"]
STRINGS = [
    '""', '"x"', '"a b"', '"with \\"quotes\\""', '"back\\\\slash"', '"trailing\\\\"', '"é€ ü"', '"\\n"',
    '"unterminated', '"a"b"', '"' + "x" * 65536 + '"', '"' + "x" * 65537 + '"', '"' + "é" * 32768 + '"',
]
# fmt: on


def _float_spellings(value: float) -> list[str]:
    return [repr(value), f"{value:e}", f"{value:E}", f"{value:.3f}", f"{value:.17g}", value.hex()]


field_values = st.one_of(
    st.sampled_from(NUMBERS + INTEGERS + BOOLEANS + STRINGS),
    st.floats(allow_nan=True, allow_infinity=True).flatmap(lambda v: st.sampled_from(_float_spellings(v))),
    st.integers(min_value=-(2**65), max_value=2**65).map(lambda n: f"{n}i"),
    st.integers(min_value=-(2**65), max_value=2**65).map(str),
    st.text(alphabet='0123456789.-+eEiIu_ tTfF"\\١²', min_size=1, max_size=8),
)
# fmt: off
MEASUREMENTS = [*SCHEMA, "nope", "Telemetry", "tele\\ metry", "telemetry\\", "tele\\,metry", "t\u00e9l\u00e9metry"]
FIELD_NAMES = sorted({name for schema in SCHEMA.values() for name in schema.fields}) + [
    "bogus", "soc\\ pct", "soc_pct\\", "time", "\u00e9",
]
TAGS = [
    "jbox_id=jbox-0001", "jbox_id=jbox-0002", "jbox_id=jbox-0001\\", "site=s1", "site=EVIL", "region=IDF",
    "region=ÎDF", "service=fcr", "service=bogus", "level=debug", "level=info", "level=warning", "level=error",
    "level=critical", "level=EVIL_LEVEL_16159", "level=info\\", "level=info\\\\", "level=in\\ fo", "level=Info",
    "colour=red", "level=", "=x", "level=\u00e9", "site=s1\\", "site=a\\b", "region=a\\,b",
    "site=s1\\\\", "service=fcr\\\\\\", "region\\=x=IDF", "site\\ x=1",
]
# fmt: on


@dataclass(frozen=True)
class Timestamp:
    kind: str
    value: int | str | None  # offset in ns from now for "rel", absolute ns for "abs", raw text for "raw"


timestamps = st.one_of(
    st.just(Timestamp("none", None)),
    st.sampled_from(
        [0, -(10**9), -3600 * 10**9, MAX_FUTURE_S * 10**9 - 10**9, MAX_FUTURE_S * 10**9 + 10**9]
        + [-int(s * 1e9) + d for s in POLICY_S.values() for d in (-60 * 10**9, -(10**9), 10**9, 3600 * 10**9)]
    ).map(lambda offset: Timestamp("rel", offset)),
    st.integers(min_value=-400 * 86400 * 10**9, max_value=10 * 86400 * 10**9).map(lambda o: Timestamp("rel", o)),
    st.sampled_from([INT64 - 1, INT64 - 2, INT64, -(INT64 - 2), -(INT64 - 1), -INT64, 0, 1, -1]).map(
        lambda t: Timestamp("abs", t)
    ),
    st.sampled_from(["+1", "1_0", "١٢", "1.5", "1e9", "-", "0x1", "now"]).map(lambda t: Timestamp("raw", t)),
)


@dataclass(frozen=True)
class Line:
    measurement: str
    tags: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    timestamp: Timestamp
    mutation: tuple[float, str, str] | None = None  # (where, insert|delete|replace, character)

    def render(self, now_ns: int, precision: str) -> str:
        key = ",".join([self.measurement, *self.tags])
        fields = ",".join(f"{name}={value}" for name, value in self.fields)
        stamp = self.timestamp
        if stamp.kind == "none":
            return self._mutated(f"{key} {fields}")
        if stamp.kind == "raw":
            text = stamp.value
        else:
            absolute = now_ns + stamp.value if stamp.kind == "rel" else stamp.value
            text = str(absolute // PRECISION_NS[precision])
        return self._mutated(f"{key} {fields} {text}")

    def _mutated(self, text: str) -> str:
        if self.mutation is None:
            return text
        where, how, char = self.mutation
        at = int(where * len(text))
        if how == "insert":
            return text[:at] + char + text[at:]
        if how == "delete":
            return text[:at] + text[at + 1 :]
        return text[:at] + char + text[at + 1 :]


@st.composite
def lines(draw) -> Line:
    """Half the lines plausible (a known measurement, its fields in any spelling InfluxDB reads,
    declared tags, recent timestamps), so that many are acknowledged and checked; half wild."""
    if draw(st.booleans()):
        return draw(plausible_lines())
    measurement = draw(st.sampled_from(MEASUREMENTS))
    schema = SCHEMA.get(measurement)
    own = schema is not None and draw(st.integers(0, 4)) > 0
    names = st.sampled_from(sorted(schema.fields)) if own else st.sampled_from(FIELD_NAMES)
    fields = draw(st.lists(st.tuples(names, field_values), min_size=1, max_size=3, unique_by=lambda f: f[0]))
    odd_tags = st.tuples(st.sampled_from(["level", "site", "region", "x"]), st.text(TRICKY, min_size=1, max_size=5))
    tags = draw(st.lists(st.sampled_from(TAGS) | odd_tags.map("=".join), max_size=3))
    mutation = draw(
        st.none()
        | st.tuples(st.floats(0, 0.999), st.sampled_from(["insert", "delete", "replace"]), st.sampled_from(TRICKY))
    )
    return Line(measurement, tuple(tags), tuple(fields), draw(timestamps), mutation)


SPELLINGS = {
    "float": NUMBERS[: NUMBERS.index("+1")] + ["1.5", "-2.25", "1e3", "42"],
    "integer": ["1i", "-7i", "0i", "01i", "9223372036854775807i", "-9223372036854775808i"],
    "boolean": BOOLEANS[:10],
    "string": STRINGS[:9] + ['"' + "é" * 32768 + '"'],
}


@st.composite
def plausible_lines(draw) -> Line:
    measurement = draw(st.sampled_from(["telemetry", "heartbeat", "log"]))
    schema = SCHEMA[measurement]
    names = draw(st.lists(st.sampled_from(sorted(schema.fields)), min_size=1, max_size=3, unique=True))
    fields = [(name, draw(st.sampled_from(SPELLINGS[schema.fields[name]]))) for name in names]
    tags = ["level=" + draw(st.sampled_from(["debug", "info", "warning", "error", "critical"]))] if schema.tags else []
    tags += draw(st.lists(st.sampled_from(["jbox_id=jbox-0001", "site=s1", "region=ÎDF", "service=x"]), max_size=2))
    stamp = draw(
        st.just(Timestamp("none", None))
        | st.integers(-20 * 3600 * 10**9, MAX_FUTURE_S * 10**9 - 10**9).map(lambda o: Timestamp("rel", o))
    )
    return Line(measurement, tuple(tags), tuple(fields), stamp)


TRICKY = ' ,="\\\t\r#=i.-e0éa\u00a0\x00\x7f'


def policy_of(text: str) -> str:
    """The retention policy the collector would write ``text`` to (the default one when unknown)."""
    try:
        schema = SCHEMA.get(parse_line(strip_line(text)).measurement)
    except ValueError:
        schema = None
    return schema.retention_policy if schema else "raw"


def _good_value(kind: str, draw) -> str:
    if kind == "float":
        return draw(st.sampled_from(["1.5", "-2", "1e3", "0.25", "42"]))
    if kind == "integer":
        return draw(st.sampled_from(["1i", "-7i", "0i"]))
    if kind == "boolean":
        return draw(st.sampled_from(["t", "false"]))
    return draw(st.sampled_from(['"v1.2"', '"x"']))


# -- the two sides -----------------------------------------------------------------------------------


@pytest.fixture
def reference(influx_server) -> InfluxClient:
    """A database with the collector's retention policies and every measurement's field types."""
    settings_ = InfluxSettings(
        url=influx_server.url,
        database=f"ref_{uuid.uuid4().hex[:12]}",
        retention_policies=retention_policies(RETENTION),
        gzip=False,
    )
    client = InfluxClient(settings_)
    client.create_database()
    now = time.time_ns()
    for measurement, schema in SCHEMA.items():
        seed = {"float": "1.5", "integer": "1i", "string": '"x"', "boolean": "true"}
        fields = ",".join(f"{name}={seed[kind]}" for name, kind in schema.fields.items())
        client.write([f"{measurement},jbox_id=seed {fields} {now}"], retention_policy=schema.retention_policy)
    yield client
    client.execute(f'DROP DATABASE "{settings_.database}"', database="")
    client.close()


def influx_accepts(reference: InfluxClient, line: str, policy: str, precision: str) -> tuple[bool, str]:
    response = requests.post(
        reference.settings.url + "/write",
        params={"db": reference.settings.database, "rp": policy, "precision": precision},
        data=line.encode(),
        timeout=10,
    )
    assert response.status_code < 500, f"influxd answered {response.status_code}: {response.text}"
    return response.status_code == 204, response.text


def collector_acks(collector, body: str, precision: str, count: int) -> set[int]:
    """The (1-based) line numbers the collector acknowledged."""
    response = collector.post(f"/write?precision={precision}", data=body.encode())
    if response.status_code == 204:
        return set(range(1, count + 1))
    assert response.status_code in (400, 403), f"collector answered {response.status_code}: {response.text}"
    if response.status_code == 403:
        return set()
    refused = {int(error.split(":")[0].removeprefix("line ")) for error in response.json()["errors"]}
    assert len(refused) == response.json()["rejected"], "more refusals than listed: shorten the batches"
    return set(range(1, count + 1)) - refused


def dead_letters(collector) -> float:
    value = collector.service.metrics.registry.get_sample_value("jboxmon_collector_dead_letter_lines_total")
    return value or 0.0


@given(batch=st.lists(lines(), min_size=1, max_size=6), precision=st.sampled_from(sorted(PRECISION_NS)))
@DIFF
def test_every_line_the_collector_acknowledges_influxdb_accepts(collector, reference, batch, precision) -> None:
    now_ns = time.time_ns()
    texts = [line.render(now_ns, precision) for line in batch]
    acked = collector_acks(collector, "\n".join(texts), precision, len(texts))
    event(f"{len(acked)} of {len(texts)} lines acknowledged" if acked else "nothing acknowledged")
    for number in sorted(acked):
        ok, why = influx_accepts(reference, texts[number - 1], policy_of(texts[number - 1]), precision)
        assert ok, f"the collector acknowledged a line InfluxDB refuses:\n{texts[number - 1][:300]!r}\n{why}"


@pytest.mark.parametrize(
    "line",
    [
        "telemetry soc_pct=١٢",
        "telemetry soc_pct=²",
        "telemetry soc_pct=--1",
        "telemetry soc_pct=1_0",
        "telemetry soc_pct=+1",
        "telemetry soc_pct=1u",
        "telemetry soc_pct=1i",
        "heartbeat uptime_s=١٢i",
        "heartbeat uptime_s=1.5",
        'log,level=info\\ code="x"',
        'log,level=EVIL_LEVEL_16159 code="x"',
        "scrape up=true",
        "telemetry soc_pct=1 +1",
        "telemetry soc_pct=1 ١٢",
        "telemetry soc_pct=1" + "0" * 309,
        "telemetry,site=a=b soc_pct=1",
        "telemetry,region=a,region=b soc_pct=1",
        "telemetry,site=s1\\\\ soc_pct=1",
        "telemetry soc_pct=1\r",
    ],
)
def test_the_cases_of_the_issue_are_refused(collector, line: str) -> None:
    response = collector.post("/write", data=line.encode())
    assert response.status_code == 400, response.text


def test_a_log_line_older_than_the_logs_policy_is_refused(collector) -> None:
    two_days_ago = time.time_ns() - 2 * 86400 * 10**9
    response = collector.post("/write", data=f'log,level=info code="x" {two_days_ago}'.encode())
    assert response.status_code == 400 and "logs" in response.json()["error"], response.text
    # the same age is fine for telemetry, kept 7 days
    assert collector.post("/write", data=f"telemetry soc_pct=1 {two_days_ago}".encode()).status_code == 204


def test_after_differential_traffic_nothing_acknowledged_was_dead_lettered(collector, reference) -> None:
    now_ns = time.time_ns()
    body = "\n".join(
        [
            f"telemetry soc_pct=1.5 {now_ns}",
            f"telemetry soc_pct=1e-400 {now_ns + 1}",
            f"telemetry soc_pct=1. {now_ns + 2}",
            f'heartbeat fw_version="back\\\\slash",uptime_s=9223372036854775807i {now_ns}',
            f'log,level=critical message="{"é" * 32768}" {now_ns}',
            f"telemetry soc_pct=1 {now_ns - int(POLICY_S['raw'] * 1e9) + 7200 * 10**9}",
        ]
    )
    assert collector.post("/write", data=body.encode()).status_code == 204
    collector.drain()
    assert dead_letters(collector) == 0
    assert collector.influx.count("telemetry", "soc_pct") == 4


# -- JSON payloads: the collector writes the line protocol itself; InfluxDB must take all it acks ------

json_numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, -0.0, 5e-324, 1.7976931348623157e308, 2**53, 2**63 - 1, -(2**63), 2**63, 10**400]),
)
json_strings = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            '"',
            "\\",
            'a\\"b',
            "trailing\\",
            "\n",
            "\r\n",
            "\t",
            "\x00",
            "\ud800",
            "a\udfffb",
            "é€😀",
            "x" * 65536,
            "é" * 32769,
        ]
    ),
)
json_times = st.one_of(
    st.none(),
    st.integers(min_value=-400 * 86400, max_value=600).map(lambda offset: ("rel", offset)),
    st.sampled_from(
        [("rel", -int(s) + d) for s in POLICY_S.values() for d in (-60, 60, 3600 + 60)]
        + [("raw", "1677-09-21T00:12:43Z")]
    ),
)


def _rfc3339(stamp, now_s: float) -> str | None:
    if stamp is None:
        return None
    kind, value = stamp
    if kind == "raw":
        return value
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_s + value)) + ".123Z"


@given(
    samples=st.lists(
        st.tuples(st.dictionaries(st.sampled_from(sorted(SCHEMA["telemetry"].fields)), json_numbers), json_times),
        max_size=4,
    ),
    heartbeat=st.none()
    | st.dictionaries(st.sampled_from(sorted(SCHEMA["heartbeat"].fields)), json_numbers | json_strings),
    entries=st.lists(
        st.tuples(st.sampled_from(["debug", "error"]), json_strings, json_strings, json_times), max_size=3
    ),
)
@settings(DIFF, max_examples=max(1, DIFF.max_examples // 3))  # each example waits for delivery
def test_every_json_point_the_collector_acknowledges_lands(collector, samples, heartbeat, entries) -> None:
    now_s = time.time()
    v2 = {"header": {"jbox_id": "jbox-0001"}, "samples": []}
    for fields, stamp in samples:
        sample = dict(fields)
        if _rfc3339(stamp, now_s):
            sample["time"] = _rfc3339(stamp, now_s)
        v2["samples"].append(sample)
    if heartbeat is not None:
        v2["heartbeat"] = heartbeat
    logs = {"entries": []}
    for level, code, message, stamp in entries:
        entry = {"level": level, "code": code, "message": message}
        if _rfc3339(stamp, now_s):
            entry["time"] = _rfc3339(stamp, now_s)
        logs["entries"].append(entry)
    before = dead_letters(collector)
    for path, document in (("/v2/telemetry", v2), ("/v1/logs", logs)):
        response = collector.post(path, json=document)
        assert response.status_code in (202, 400), response.text
    collector.drain()
    assert dead_letters(collector) == before, "the collector acknowledged a point InfluxDB refused"


def test_a_lone_surrogate_in_a_json_string_is_a_400(collector) -> None:
    body = '{"entries": [{"level": "info", "code": "x", "message": "bad \\ud800 here"}]}'
    response = collector.post("/v1/logs", data=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "surrogate" in response.text, response.text


def test_a_json_number_beyond_the_float_range_is_a_400(collector) -> None:
    response = collector.post("/v2/telemetry", data='{"header": {}, "samples": [{"soc_pct": 1%s}]}' % ("0" * 400))
    assert response.status_code == 400 and "float range" in response.text, response.text
