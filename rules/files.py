"""Which rule files a ``rules.files`` list names today (a reload picks up new files)."""

from __future__ import annotations

import glob
from pathlib import Path

import rules


def resolve_rule_files(patterns: list[str]) -> list[Path]:
    """The files the paths and glob patterns name, each pattern's matches sorted.

    Patterns may be absolute (``/etc/jboxmon/rules/*.yaml``: ``Path.glob`` refuses those, the
    ``glob`` module does not) and may use ``**`` for any depth.
    """
    found: list[Path] = []
    for pattern in map(str, patterns):
        matches = (
            sorted(map(Path, glob.glob(pattern, recursive=True)))
            if any(c in pattern for c in "*?[")
            else [Path(pattern)]
        )
        found += [_shipped(path) for path in matches]
    return found


def _shipped(path: Path) -> Path:
    """``.../rules/default/...`` outside a checkout: the copy installed with the package."""
    parts = path.parts
    if path.exists():
        return path
    for i in range(len(parts) - 1):
        if parts[i : i + 2] == ("rules", "default"):
            installed = Path(rules.__file__).parent.joinpath(*parts[i + 1 :])
            return installed if installed.exists() else path
    return path
