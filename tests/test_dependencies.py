"""Declared dependencies are all used, and the runtime needs none of the test extras, so `make demo`
can install only ``dependencies`` while `make test` adds the ``[test]`` extra."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.test_layers import ROOMS, imports_of

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Declared for work that lands beside this check (its package is built in parallel); each entry
# names who uses it. Remove an entry once an import of it exists.
NOT_YET_IMPORTED: dict[str, str] = {}
TOOLS = {"ruff": "make lint"}  # run as a command, never imported


def _name(requirement: str) -> str:
    return _normal(re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0])


def _normal(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()  # PEP 503


def _modules_of(distribution: str) -> set[str]:
    return {m for m, dists in packages_distributions().items() if distribution in {_normal(d) for d in dists}}


def _imported(folders: list[str]) -> set[str]:
    return {
        module.split(".")[0]
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        for _, module in imports_of(path)
    }


RUNTIME = [_name(r) for r in PROJECT["dependencies"]]
TEST = [_name(r) for r in PROJECT["optional-dependencies"]["test"]]
CODE = sorted(ROOMS | {"bench"})


def test_every_runtime_dependency_is_imported_by_the_code() -> None:
    imported = _imported(CODE)
    unused = [d for d in RUNTIME if d not in NOT_YET_IMPORTED and not _modules_of(d) & imported]
    assert unused == []


def test_every_test_dependency_is_used_by_the_tests() -> None:
    imported = _imported(["tests"])
    unused = [d for d in TEST if d not in NOT_YET_IMPORTED | TOOLS and not _modules_of(d) & imported]
    assert unused == []


def test_the_runtime_imports_no_test_extra() -> None:
    """`make demo` installs the runtime only: a test extra imported by the code would break it."""
    test_only = {m for d in TEST for m in _modules_of(d)} - {m for d in RUNTIME for m in _modules_of(d)}
    assert sorted(_imported(CODE) & test_only) == []


def test_the_mapping_from_distribution_to_module_works() -> None:
    assert _modules_of("pyyaml") >= {"yaml"}
    assert _modules_of("influxdb-client") == {"influxdb_client"}
