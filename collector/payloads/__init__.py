"""Versioned JSON payloads: one module per version, found through the registry ``VERSIONS``.

Every decoder turns a parsed JSON body into :class:`collector.model.Decoded` (points in the
internal model, plus per-sample errors) and raises PayloadError when the body's shape is wrong.

The registry drives everything a version touches: the ``POST /<name>/telemetry`` routes, their
OpenAPI entries, and the names the ``collector.payload_versions`` config accepts (config keeps a
plain tuple of the names, which a test holds equal to this registry, since config must not import
the collector). A new version is one module defining ``VERSION`` and one line below.
"""

from __future__ import annotations

from collector.payloads import logs, v1, v2
from collector.payloads.common import Decoder, PayloadVersion

VERSIONS: dict[str, PayloadVersion] = {version.name: version for version in (v1.VERSION, v2.VERSION)}
LATEST = "v2"  # the successor named in Deprecation/Sunset headers and 410 answers
LOG_DECODER: Decoder = logs.decode

__all__ = ["LATEST", "LOG_DECODER", "VERSIONS", "Decoder", "PayloadVersion"]
