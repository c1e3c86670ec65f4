"""How the page writes times: short human durations ("3m 12s", "2h 5m", "4d 1h")."""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """``seconds`` as its two largest units; an em dash when unknown."""
    if seconds is None:
        return "—"
    whole = int(max(0.0, seconds))
    if whole < 60:
        return f"{whole}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count or parts:
            parts.append(f"{count}{unit}")
    return " ".join(p for p in parts[:2] if not p.startswith("0")) or "0s"


def ago(seconds: float | None) -> str:
    return "never" if seconds is None else f"{duration(seconds)} ago"
