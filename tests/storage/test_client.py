"""The InfluxDB client against a real influxd: writes, queries, errors, quoting, schema."""

from __future__ import annotations

import time

import pytest

from storage import InfluxClient, InfluxError, InfluxSettings, quote_ident, quote_literal
from storage.lineprotocol import encode_point
from storage.server import InfluxServer, free_port

NOW = int(time.time()) * 10**9


def test_write_and_query_round_trip(influx: InfluxClient) -> None:
    lines = [
        encode_point("telemetry", {"jbox_id": f"jbox-{i}", "region": "IDF"}, {"soc_pct": 50.0 + i}, NOW + i)
        for i in range(3)
    ]
    influx.write(lines)
    frame = influx.query('SELECT last("soc_pct") AS soc FROM "telemetry" GROUP BY "jbox_id"')
    assert sorted(frame["jbox_id"]) == ["jbox-0", "jbox-1", "jbox-2"]
    assert frame.set_index("jbox_id").loc["jbox-2", "soc"] == 52.0
    assert str(frame["time"].dt.tz) == "UTC"
    assert influx.count("telemetry", "soc_pct") == 3


def test_precision_seconds_and_gzip_off(influx_settings: InfluxSettings) -> None:
    from dataclasses import replace

    client = InfluxClient(replace(influx_settings, gzip=False))
    client.create_database()
    client.write([f"m v=1 {NOW // 10**9}"], precision="s")
    frame = client.query('SELECT v FROM "m"')
    assert frame["time"].iloc[0].value == NOW


def test_partial_write_keeps_good_lines_and_names_the_bad_one(influx: InfluxClient) -> None:
    with pytest.raises(InfluxError) as caught:
        influx.write([f"m v=1 {NOW}", "this is not line protocol", f"m v=2 {NOW + 1}"])
    error = caught.value
    assert error.partial_write and not error.retryable and error.status == 400
    assert error.first_bad_line == "this is not line protocol"
    assert influx.count("m", "v") == 2


def test_field_type_conflict_is_a_permanent_error(influx: InfluxClient) -> None:
    influx.write([f"m v=1 {NOW}"])
    with pytest.raises(InfluxError, match="field type conflict") as caught:
        influx.write([f'm v="text" {NOW + 1}'])
    assert not caught.value.retryable


def test_bad_influxql_is_permanent(influx: InfluxClient) -> None:
    with pytest.raises(InfluxError, match="error parsing query") as caught:
        influx.query("SELEC x FROM m")
    assert not caught.value.retryable


def test_refused_connection_is_retryable() -> None:
    client = InfluxClient(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=1))
    with pytest.raises(InfluxError, match="unreachable") as caught:
        client.write([f"m v=1 {NOW}"])
    assert caught.value.retryable


def test_server_restart_keeps_data(tmp_path) -> None:
    server = InfluxServer(tmp_path / "db").start()
    client = InfluxClient(InfluxSettings(url=server.url, database="restart"))
    client.create_database()
    client.write([f"m v=1 {NOW}"])
    server.kill()
    with pytest.raises(InfluxError) as caught:
        client.write([f"m v=2 {NOW + 1}"])
    assert caught.value.retryable
    server.start()
    client.write([f"m v=2 {NOW + 1}"])
    assert client.count("m", "v") == 2
    server.stop()
    server.stop()  # idempotent


def test_retention_policies_created_and_altered(influx: InfluxClient) -> None:
    policies = {row["name"]: row for row in influx._retention_policies()}
    assert policies["raw"]["default"] is True
    assert policies["raw"]["duration"] == "168h0m0s"
    # 35 days: longer than the 30 days after which retention archives error lines (a safety net)
    assert policies["logs"]["duration"] == "840h0m0s"
    assert policies["logs"]["shardGroupDuration"] == "24h0m0s"
    influx.create_database()  # idempotent: ALTER when they exist
    influx.write([f'log,level=error code="E1" {NOW}'], retention_policy="logs")
    assert influx.count("log", "code") == 0  # default policy is raw
    frame = influx.query('SELECT count("code") FROM "logs"."log"')
    assert int(frame["count"].iloc[0]) == 1


@pytest.mark.parametrize(
    "hostile",
    ["x' OR 1=1 --", 'box"; DROP DATABASE x', "back\\slash'", "semi;colon) OR (1=1", "/regex/"],
)
def test_quoted_tag_values_cannot_inject_influxql(influx: InfluxClient, hostile: str) -> None:
    influx.write([encode_point("telemetry", {"jbox_id": hostile}, {"v": 1.0}, NOW)])
    influx.write([encode_point("telemetry", {"jbox_id": "other"}, {"v": 2.0}, NOW)])
    query = f"SELECT v FROM {quote_ident('telemetry')} WHERE {quote_ident('jbox_id')} = {quote_literal(hostile)}"
    frame = influx.query(query)
    assert list(frame["v"]) == [1.0]


def test_line_protocol_escapes_round_trip(influx: InfluxClient) -> None:
    tags = {"jbox_id": "a b,c=d", "site": "é"}
    fields = {"message": 'said "hi" \\ bye', "n": 3, "ok": True, "nan": float("nan")}
    influx.write([encode_point("my log", tags, fields, NOW)])
    frame = influx.query('SELECT * FROM "my log"')
    row = frame.iloc[0]
    assert row["jbox_id"] == "a b,c=d" and row["site"] == "é"
    assert row["message"] == 'said "hi" \\ bye' and row["n"] == 3 and bool(row["ok"]) is True
    assert "nan" not in frame.columns


def test_encode_point_without_storable_fields_is_none() -> None:
    assert encode_point("m", {}, {"a": float("inf"), "b": None}) is None


def test_influxdb_1x_username_and_password(tmp_path) -> None:
    server = InfluxServer(tmp_path / "auth", auth=True).start()
    try:
        # with authentication on and no user yet, InfluxDB 1.x lets the first admin be created
        bootstrap = InfluxClient(InfluxSettings(url=server.url, database="secure"))
        bootstrap.execute("CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES", database="")
        client = InfluxClient(InfluxSettings(url=server.url, database="secure", username="admin", password="s3cret"))
        client.create_database()
        client.write([f"m v=1 {NOW}"])
        assert client.count("m", "v") == 1
        wrong = InfluxClient(InfluxSettings(url=server.url, database="secure", username="admin", password="nope"))
        with pytest.raises(InfluxError, match="refused the credentials") as caught:
            wrong.write([f"m v=2 {NOW}"])
        assert not caught.value.retryable
        with pytest.raises(InfluxError, match="401"):
            bootstrap.query('SELECT * FROM "m"')
    finally:
        server.stop()
