"""The layers of the house point down only: a test reads every import (ast) and fails on one that
points up or sideways between services. The same list is in the README's architecture section."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"collector", "rules", "alerting", "retention", "dashboards", "status"}
GROUND = {"config", "storage", "inventory"}

# what each room may import besides itself and the standard library / third parties
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "storage": {"config"},
    "inventory": {"config", "storage"},
    **{service: GROUND for service in SERVICES},
    "simulator": {"config", "storage"},
    "jboxmon": GROUND | SERVICES | {"simulator"},
}
# the one sideways arrow between services: rules hand the Alert type over to alerting
EXCEPTIONS = {("rules", "alerting.model")}
ROOMS = set(ALLOWED)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement names, lazy imports inside functions included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def broken_arrows() -> list[str]:
    broken = []
    for room in sorted(ROOMS):
        for path in sorted((ROOT / room).rglob("*.py")):
            for line, module in imports_of(path):
                target = module.split(".")[0]
                if target not in ROOMS or target == room or target in ALLOWED[room]:
                    continue
                if any(room == r and (module == m or module.startswith(m + ".")) for r, m in EXCEPTIONS):
                    continue
                broken.append(f"{path.relative_to(ROOT)}:{line}: {room} imports {module}")
    return broken


def test_every_import_points_down() -> None:
    assert broken_arrows() == []


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_every_room_exists_as_a_package(room: str) -> None:
    assert (ROOT / room / "__init__.py").exists()


def test_the_check_sees_an_upward_arrow(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from jboxmon.cli import main\n")
    assert imports_of(probe) == [(2, "jboxmon.cli")]
