"""Read an archive file back and prove it holds what was exported, before anything is deleted."""

from __future__ import annotations

import hashlib

import pyarrow as pa

from retention.archive import decode
from retention.store import ArchiveError, ArchiveStore


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(store: ArchiveStore, path: str, expected: pa.Table, checksum: str) -> None:
    """Raise ArchiveError unless ``path`` reads back with ``checksum`` and exactly ``expected``'s rows.

    Retryable: a short read or an object store that lied about a write is worth another attempt
    (the next pass rewrites the file); nothing is deleted meanwhile.
    """
    data = store.read_bytes(path)
    if data is None:
        raise ArchiveError(f"verify {store.url_of(path)}: the file is missing after writing it", retryable=True)
    if sha256(data) != checksum:
        raise ArchiveError(f"verify {store.url_of(path)}: sha256 differs from what was written", retryable=True)
    table = decode(data)
    if table.num_rows != expected.num_rows:
        raise ArchiveError(
            f"verify {store.url_of(path)}: {table.num_rows} rows read back, {expected.num_rows} written", retryable=True
        )
    if not table.equals(expected.replace_schema_metadata(table.schema.metadata)):
        raise ArchiveError(
            f"verify {store.url_of(path)}: the rows read back differ from the rows written", retryable=True
        )
