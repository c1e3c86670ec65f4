"""Versioned JSON payloads, one module per version, found through ``DECODERS``.

Every decoder turns a parsed JSON body into :class:`collector.model.Decoded` (points in the
internal model, plus per-sample errors) and raises PayloadError when the body's shape is wrong.
"""

from __future__ import annotations

from collections.abc import Callable

from collector.model import Decoded
from collector.payloads import logs, v1, v2

Decoder = Callable[[object], Decoded]

DECODERS: dict[str, Decoder] = {"v1": v1.decode, "v2": v2.decode}
LOG_DECODER: Decoder = logs.decode
LATEST = "v2"
