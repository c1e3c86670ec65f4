"""Rows of InfluxDB as Parquet (zstd) and back.

File layout (schema version 1): a ``time`` column (timestamp[ns, UTC]), one string column per tag
key (null where a series lacks the tag), one column per field with its exact InfluxDB type (float ->
double, integer -> int64, string -> string, boolean -> bool; null where a row lacks the field). The
Parquet key-value metadata names the measurement, the tag columns and the field types, so a restore
writes back exactly what was read, int as int and float as float.

Rows come from ``SELECT * ... GROUP BY *`` with ``epoch=ns``: JSON numbers lose the int/float
distinction (1.0 arrives as 1), so the types come from ``SHOW FIELD KEYS``, never from the values.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from storage import InfluxClient, quote_ident
from storage.lineprotocol import encode_tags, escape_key, escape_measurement, format_field
from storage.slicing import Budget, Piece, plan_pieces, run_pieces

SCHEMA_VERSION = 1
ARROW_TYPES = {"float": pa.float64(), "integer": pa.int64(), "string": pa.string(), "boolean": pa.bool_()}
TIME = "time"
NS = 1_000_000_000


@dataclass(frozen=True)
class Layout:
    """The columns of one measurement: tag keys and field types, as InfluxDB reports them."""

    measurement: str
    tags: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]  # (name, influx type)

    @classmethod
    def read(cls, influx: InfluxClient, retention_policy: str, measurement: str) -> Layout:
        source = f"{quote_ident(retention_policy)}.{quote_ident(measurement)}"
        fields = influx.field_types(source)
        tags = [row[0] for row in _rows(influx.query_raw(f"SHOW TAG KEYS FROM {source}"))]
        return cls(measurement, tuple(sorted(tags)), tuple(sorted(fields.items())))

    def schema(self) -> pa.Schema:
        columns = [pa.field(TIME, pa.timestamp("ns", tz="UTC"), nullable=False)]
        columns += [pa.field(tag, pa.string()) for tag in self.tags]
        columns += [pa.field(name, ARROW_TYPES[kind]) for name, kind in self.fields]
        metadata = {
            "jboxmon.schema_version": str(SCHEMA_VERSION),
            "jboxmon.measurement": self.measurement,
            "jboxmon.tags": json.dumps(list(self.tags)),
            "jboxmon.fields": json.dumps(dict(self.fields)),
        }
        return pa.schema(columns, metadata=metadata)

    @classmethod
    def of(cls, table: pa.Table) -> Layout:
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        version = int(meta.get("jboxmon.schema_version", "0"))
        if version != SCHEMA_VERSION:
            raise ValueError(f"archive schema version {version} is not supported (expected {SCHEMA_VERSION})")
        fields = json.loads(meta["jboxmon.fields"])
        return cls(meta["jboxmon.measurement"], tuple(json.loads(meta["jboxmon.tags"])), tuple(fields.items()))


def _rows(results: list[dict]) -> Iterator[list]:
    for series in results[0].get("series", []) if results else []:
        yield from series.get("values") or []


def export(
    influx: InfluxClient, layout: Layout, retention_policy: str, start_ns: int, end_ns: int, where: str = ""
) -> pa.Table:
    """Every row of ``[start_ns, end_ns)`` (and ``where``) as a table in ``layout``, sorted by series then time."""
    source = f"{quote_ident(retention_policy)}.{quote_ident(layout.measurement)}"
    condition = f"time >= {start_ns} AND time < {end_ns}" + (f" AND {where}" if where else "")
    results = influx.query_raw(f"SELECT * FROM {source} WHERE {condition} GROUP BY *")
    series = results[0].get("series", []) if results else []
    return series_to_table(series, layout)


@dataclass(frozen=True)
class Slicing:
    """How an export is cut: time slices of ``slice_s`` x batches of ``boxes`` boxes (storage.slicing)."""

    slice_s: float = 3600
    boxes: int = 500


def export_sliced(
    influx: InfluxClient,
    layout: Layout,
    retention_policy: str,
    start_ns: int,
    end_ns: int,
    where: str = "",
    slicing: Slicing = Slicing(),
    budget: Budget | None = None,
) -> pa.Table:
    """:func:`export` in small queries (a slice InfluxDB is too slow for is halved), the same rows.

    Sorted by tags then time, so the table does not depend on how it was cut.
    """
    source = f"{quote_ident(retention_policy)}.{quote_ident(layout.measurement)}"
    boxes = [
        row[1]
        for series in influx.query_raw(f'SHOW TAG VALUES FROM {source} WITH KEY = "jbox_id"')[0].get("series", [])
        for row in series.get("values") or []
    ]
    pieces = plan_pieces(start_ns, end_ns, max(1, int(slicing.slice_s * NS)), boxes, slicing.boxes)

    def one(piece: Piece) -> pa.Table:
        condition = " AND ".join(c for c in (where, piece.box_condition()) if c)
        return export(influx, layout, retention_policy, piece.start_ns, piece.end_ns, condition)

    tables = run_pieces(pieces, one, align_ns=NS, what=f"export {layout.measurement}", budget=budget)
    table = pa.concat_tables(tables) if tables else layout.schema().empty_table()
    if len(tables) > 1:
        table = table.sort_by([(tag, "ascending") for tag in layout.tags] + [(TIME, "ascending")])
    return table


def series_to_table(series: list[dict], layout: Layout) -> pa.Table:
    """InfluxDB's JSON series as one Arrow table, built column by column (no per-row objects)."""
    schema = layout.schema()
    if not series:
        return schema.empty_table()
    counts = [len(one.get("values") or ()) for one in series]
    columns: dict[str, pa.Array] = {}
    times: list[int] = []
    values: dict[str, list] = {name: [] for name, _ in layout.fields}
    for one in series:
        rows = one.get("values") or ()
        position = {name: i for i, name in enumerate(one["columns"])}
        times += [row[0] for row in rows]
        for name, column in values.items():
            i = position.get(name)
            column += [row[i] for row in rows] if i is not None else [None] * len(rows)
    columns[TIME] = pa.array(times, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    for tag in layout.tags:
        per_series = [(one.get("tags") or {}).get(tag) or None for one in series]
        columns[tag] = pa.array(
            [value for value, n in zip(per_series, counts, strict=True) for _ in range(n)], pa.string()
        )
    for name, kind in layout.fields:
        columns[name] = pa.array(values[name], ARROW_TYPES[kind])
    return pa.table([columns[f.name] for f in schema], schema=schema)


def encode(table: pa.Table, compression_level: int = 3) -> bytes:
    """Parquet bytes, zstd; one row group per 256k rows."""
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=compression_level,
        row_group_size=262_144,
        use_dictionary=True,
        write_statistics=True,
    )
    return sink.getvalue()


def decode(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def to_lines(table: pa.Table) -> Iterator[str]:
    """Line protocol, one line per row, exactly the values that were archived (nulls left out)."""
    layout = Layout.of(table)
    measurement = escape_measurement(layout.measurement)
    times = table.column(TIME).cast(pa.int64()).to_pylist()
    tags = {tag: table.column(tag).to_pylist() for tag in layout.tags}
    fields = [(escape_key(name), table.column(name).to_pylist()) for name, _ in layout.fields]
    for i, ts in enumerate(times):
        encoded = []
        for key, column in fields:
            value = column[i]
            if value is not None:
                text = format_field(value)
                if text is not None:
                    encoded.append(f"{key}={text}")
        if encoded:
            tag_text = encode_tags({tag: column[i] for tag, column in tags.items() if column[i] is not None})
            yield f"{measurement}{tag_text} {','.join(encoded)} {ts}"
