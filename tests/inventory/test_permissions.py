"""The registry holds token hashes: its files are private from the moment they exist."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from inventory import Registry


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_registry_database_wal_and_directory_are_private_even_with_a_lax_umask(tmp_path: Path) -> None:
    path = tmp_path / "var" / "registry.sqlite"
    old = os.umask(0o022)  # the common default: files 0644, directories 0755
    try:
        with Registry(path) as registry:
            registry.issue("jbox-0001", site="s1", region="IDF", service="fcr")
            files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
            assert all(f.exists() for f in files), "WAL mode keeps -wal and -shm while open"
            assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        os.umask(old)
    assert _mode(path.parent) == 0o700


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    # the operator's choice for a directory that already exists (e.g. shared var/) is not ours to change
    tmp_path.chmod(0o755)
    with Registry(tmp_path / "registry.sqlite"):
        pass
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / "registry.sqlite") == 0o600
