"""InfluxDB access over the v1 HTTP API (``/write`` and InfluxQL ``/query``).

The same calls work on InfluxDB 1.x, on 2.x's v1 compatibility API and on 3.x, which is why every
jboxmon service talks to storage through :class:`InfluxClient` and never through Flux.
"""

from storage.client import InfluxClient, InfluxSettings
from storage.errors import InfluxError
from storage.influxql import quote_ident, quote_literal, quote_regex

__all__ = ["InfluxClient", "InfluxSettings", "InfluxError", "quote_ident", "quote_literal", "quote_regex"]
