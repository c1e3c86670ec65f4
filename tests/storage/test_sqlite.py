from __future__ import annotations

import stat
from pathlib import Path

import pytest

from storage.sqlite import NewerSchemaError, open_store, set_version


def test_a_new_store_is_private_from_its_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "state" / "x.sqlite"
    db, found = open_store(path, what="test", schema_version=2)
    db.execute("CREATE TABLE t (a)")
    db.execute("INSERT INTO t VALUES (1)")
    assert found == 0
    for file in [path, *path.parent.glob("x.sqlite-*")]:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    db.close()


def test_the_version_is_reported_and_a_newer_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    db, _ = open_store(path, what="test", schema_version=2)
    set_version(db, 2)
    db.close()
    db, found = open_store(path, what="test", schema_version=3)
    assert found == 2
    set_version(db, 3)
    db.close()
    with pytest.raises(NewerSchemaError, match=r"x.sqlite: test schema version 3 is newer than this jboxmon's \(2\)"):
        open_store(path, what="test", schema_version=2)
