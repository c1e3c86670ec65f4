"""The operator credential of the command line's HTTP verbs (``jboxmon silences``, ``jboxmon alerts``).

``JBOXMON_TOKEN`` (the token itself) or ``JBOXMON_TOKEN_FILE`` (a file holding it, as ``make demo``
writes ``var/operator.token``); sent as ``Authorization: Bearer``. Neither set: no header, which a
service with ``auth.mode: credentials`` answers with 401 (the verb then says how to get one).
"""

from __future__ import annotations

import os
from pathlib import Path

HINT = "set JBOXMON_TOKEN or JBOXMON_TOKEN_FILE to an operator token (jboxmon users add NAME --role operator)"


def control_headers() -> dict[str, str]:
    token = os.environ.get("JBOXMON_TOKEN", "").strip()
    path = os.environ.get("JBOXMON_TOKEN_FILE", "").strip()
    if not token and path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(f"jboxmon: cannot read JBOXMON_TOKEN_FILE '{path}': {exc.strerror}") from exc
    return {"Authorization": f"Bearer {token}"} if token else {}


def explain(exc: Exception) -> str:
    """The error text, with how to get a credential when the service asked for one."""
    status = getattr(exc, "status", None)
    return f"{exc} ({HINT})" if status == 401 else str(exc)
