"""Copy an embedded SQLite inventory into a shared PostgreSQL one (``jboxmon inventory migrate``).

Everything is copied in one PostgreSQL transaction (all or nothing): boxes, tokens (hashes,
expiries and revocations as they are), gateways and their bindings, registration and last-seen
times. The target must be empty of boxes and gateways: merging two fleets is an operator's
decision, not a side effect. The target's ``changes`` counter is bumped, so collectors already
pointed at it load the copied tokens within ``token_refresh``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inventory.database import SqliteDatabase
from inventory.postgres import PostgresDatabase
from inventory.registry import RegistryError
from inventory.schema import TABLES


@dataclass(frozen=True)
class MigrationReport:
    source: str
    target: str
    rows: dict[str, int]


def migrate_to_postgres(source: Path, url: str, *, password: str | None = None) -> MigrationReport:
    """Copy the SQLite inventory at ``source`` into the PostgreSQL at ``url``; RegistryError when
    the source is missing or the target already holds an inventory."""
    if not Path(source).exists():
        raise RegistryError(f"no inventory at {source} to migrate (inventory.path)")
    sqlite = SqliteDatabase(Path(source)).open()  # migrated to the current schema first
    target = PostgresDatabase(url, password=password, role="inventory migrate").open()
    try:
        rows: dict[str, int] = {}
        with sqlite.read(), target.write():
            held = [t for t in ("boxes", "gateways") if target.execute(f"SELECT count(*) FROM {t}").fetchone()[0]]
            if held:
                count = target.execute(f"SELECT count(*) FROM {held[0]}").fetchone()[0]
                raise RegistryError(
                    f"{target.where} already holds {count} {held[0]}: migrate copies into an empty inventory only"
                )
            for table, columns in TABLES:
                names = ", ".join(columns)
                order = " ORDER BY id" if table == "audit" else ""  # the log keeps its order
                data = sqlite.execute(f"SELECT {names} FROM {table}{order}").fetchall()
                placeholders = ", ".join("?" for _ in columns)
                target.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", data)
                rows[table] = len(data)
            target.execute("UPDATE meta SET value = value + 1 WHERE key = 'changes'")
        return MigrationReport(str(source), target.where, rows)
    finally:
        sqlite.close()
        target.close()
