"""Checkpoints of the downsampling tiers and the usage roll-up, kept in ``<state_dir>/checkpoints.json``.

Format version 1: ``{"version": 1, "done": {"<tier>/<measurement>": <ns>}}``: every window ending at
or before ``<ns>`` has been aggregated. Written whole (temporary file, fsync, rename), so a crash
leaves the previous checkpoint, and the next pass redoes at most one chunk: writing aggregates is
idempotent (same series, same timestamps).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

VERSION = 1


class Checkpoints:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "checkpoints.json"
        self._done: dict[str, int] = {}

    def load(self) -> Checkpoints:
        if self.path.exists():
            document = json.loads(self.path.read_text())
            if document.get("version") != VERSION:
                raise ValueError(f"{self.path}: checkpoint version {document.get('version')} unknown")
            self._done = {key: int(value) for key, value in document["done"].items()}
        return self

    def in_memory(self) -> Checkpoints:
        """A copy whose ``set`` changes memory only (a dry run's view of what a pass would move)."""
        copy = _MemoryCheckpoints(self.path.parent)
        copy._done = dict(self._done)
        return copy

    def get(self, key: str) -> int | None:
        return self._done.get(key)

    def set(self, key: str, ns: int) -> None:
        self._done[key] = ns
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"version": VERSION, "done": self._done}, out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


class _MemoryCheckpoints(Checkpoints):
    def set(self, key: str, ns: int) -> None:
        self._done[key] = ns
