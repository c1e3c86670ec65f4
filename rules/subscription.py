"""The InfluxDB 1.x subscription that forwards writes to the rules engine's stream, and its watch.

``CREATE SUBSCRIPTION ... DESTINATIONS ALL 'http://jboxmon:<token>@host:port'`` on the database's
default retention policy (where telemetry and heartbeats are written): InfluxDB then posts every
write it accepts there to the stream's receiver (:mod:`rules.streamreceiver`), as it does for
Kapacitor. The token is drawn at each start and only lets InfluxDB feed this process.

Forwarding is best-effort on InfluxDB's side, so the watch (every 10 s) tells the stream when
something may be missing: a failed post counted in InfluxDB's ``subscriber`` statistics, a write it
could not queue for its subscribers (``subWriteDrop``), counters that went back (InfluxDB
restarted), or the subscription gone (re-made). The stream then answers
again only its ``margin`` (5 s of sample time) later, and the engine queries InfluxDB meanwhile. Without the right to
create subscriptions (a non-admin user, InfluxDB 2.x/3.x), the engine queries as before.

Once, at start, :meth:`StreamSubscription.fill` reads back what InfluxDB held before the
subscription when that is little (a fresh system), so the first reads are answered from memory too.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time

from rules.conditions.reading import Column, Reading, source
from rules.stream import NS, PROBE, SampleStream
from storage import InfluxClient, InfluxError
from storage.influxql import quote_ident, quote_literal

log = logging.getLogger(__name__)
FILL_LOOKBACK_S = 6 * 3600  # longer than any shipped rule's window (2 h): a read reaching further queries InfluxDB
FILL_ROWS = 500_000  # rows read back at most (one raw query: about 4 s, 10,000 boxes of 1-s data for 50 s)
FILL_MARGIN_S = 60.0  # filled rows stay held this long at least, for the first evaluations
_KINDS = {"float": float, "integer": int, "unsigned": int, "boolean": bool, "string": str}


class StreamSubscription:
    def __init__(self, client: InfluxClient, stream: SampleStream, destination: str, owner: str) -> None:
        """``destination``: the receiver's URL with its credential; ``owner`` names this engine (one
        subscription per engine, re-made at each start rather than piling up after kills)."""
        self.client = client
        self.stream = stream
        self.destination = destination
        self.name = "jboxmon_rules_" + hashlib.sha256(owner.encode()).hexdigest()[:12]
        self.policy: str | None = None
        self.active = False
        self._losses_seen: int | None = None

    def open(self) -> bool:
        """Make the subscription; False (said once in the log) when InfluxDB does not allow it."""
        try:
            self.policy = self._default_policy()
            self._drop()
            self.client.execute(
                f"CREATE SUBSCRIPTION {quote_ident(self.name)} ON {self._on()} "
                f"DESTINATIONS ALL {quote_literal(self.destination)}"
            )
        except InfluxError as exc:
            log.warning("rules stream off, every read queries InfluxDB: cannot subscribe to its writes: %s", exc)
            self.active = False
            return False
        self.stream.retention_policy = self.policy
        self.stream.started()
        self._probe()
        self._losses_seen = None
        self.active = True
        log.info("rules stream: InfluxDB forwards the writes of %s to this engine", self._on())
        return True

    def _probe(self) -> None:
        """Write the point whose return shows the subscription works (rules/stream.py's PROBE)."""
        marker = f"n={secrets.randbits(62)}i"
        written_at = time.time()
        self.stream.expect(marker, written_at)
        try:
            self.client.write([f"{PROBE},engine={self.name} {marker} {int(written_at * 1e9)}"])
        except InfluxError as exc:  # complete from the first forwarded batch instead
            log.warning("rules stream: could not write its probe point: %s", exc)

    def fill(self, wait_s: float = 10.0) -> None:
        """Extend the stream back over what InfluxDB held before the subscription, when that is little.

        Right after a start the stream is complete only from its probe (plus ``margin``), so every
        statement's first read, a whole window, would query InfluxDB: at 10,000 boxes, seconds per
        statement however little data there is (InfluxDB's cost per series). When InfluxDB holds
        nothing of a measurement from ``FILL_LOOKBACK_S`` before the probe up to the stream's hold
        (less a minute), and at most ``FILL_ROWS`` rows since, those rows (one raw query) complete
        the stream back to the look-back and the first reads are answered from memory too. With
        more history (a restart of a running system) the first reads query InfluxDB as before."""
        deadline = time.monotonic() + wait_s
        while not (wanted := self.stream.to_fill()) and time.monotonic() < deadline:
            time.sleep(0.1)  # until the probe comes back
        hold_ns = int(max(0.0, self.stream.hold_s - FILL_MARGIN_S) * NS)
        for measurement, fields, complete_from in wanted:
            floor, recent = complete_from - FILL_LOOKBACK_S * NS, complete_from - hold_ns
            raw = Reading(measurement, self.policy, tuple(Column(name, name) for name in fields), None)
            try:
                kinds = self._field_kinds(measurement)
                if any(kinds.get(name, float) not in (float, int) for name in fields):
                    continue  # a boolean or string field: nothing the stream holds (it steps aside for them)
                if not self.client.query_samples(f"{raw.influxql(floor, recent)} LIMIT 1").empty:
                    continue  # history: the first reads query it
                rows = self.client.query_samples(f"{raw.influxql(recent, complete_from)} LIMIT {FILL_ROWS + 1}")
            except InfluxError as exc:
                log.warning("rules stream: could not read what InfluxDB held of %s before: %s", measurement, exc)
                continue
            if len(rows) <= FILL_ROWS and self.stream.fill(measurement, complete_from, floor, rows, kinds):
                log.info("rules stream: %s complete from %d s before the subscription", measurement, FILL_LOOKBACK_S)

    def check(self) -> None:
        """The watch: a lost post, a restarted InfluxDB or a vanished subscription is a gap."""
        if not self.active:
            return
        if not self._exists():
            self.stream.broken("the subscription was gone; made again")
            self.open()
            return
        losses = self._losses()
        if self._losses_seen is not None and losses != self._losses_seen:
            what = "InfluxDB restarted" if losses < self._losses_seen else "InfluxDB failed to forward a write"
            self.stream.broken(what)
        self._losses_seen = losses

    def close(self) -> None:
        if self.active:
            try:
                self._drop()
            except InfluxError as exc:
                log.warning("rules stream: could not drop subscription %s: %s", self.name, exc)
            self.active = False

    # -- InfluxDB -------------------------------------------------------------------------------

    def _on(self) -> str:
        return f"{quote_ident(self.client.settings.database)}.{quote_ident(self.policy or 'autogen')}"

    def _rows(self, statement: str) -> list[tuple[str, dict, dict]]:
        """(series name, series tags, row) of a SHOW statement."""
        results = self.client.query_raw(statement)
        out = []
        for series in results[0].get("series", []) if results else []:
            name, tags = series.get("name", ""), series.get("tags", {})
            out += [(name, tags, dict(zip(series["columns"], row, strict=True))) for row in series.get("values", [])]
        return out

    def _default_policy(self) -> str:
        rows = self._rows(f"SHOW RETENTION POLICIES ON {quote_ident(self.client.settings.database)}")
        return next((row["name"] for _, _, row in rows if row.get("default")), "autogen")

    def _field_kinds(self, measurement: str) -> dict[str, type]:
        """Each field's type as InfluxDB keeps it: float, int, bool or str."""
        types = self.client.field_types(source(measurement, self.policy))
        return {name: _KINDS.get(kind, str) for name, kind in types.items()}

    def _exists(self) -> bool:
        rows = self._rows("SHOW SUBSCRIPTIONS")
        return any(series == self.client.settings.database and row.get("name") == self.name for series, _, row in rows)

    def _losses(self) -> int:
        """Posts to this engine that failed, plus writes InfluxDB could not queue for any subscriber
        (``subWriteDrop``: its forwarding queue was full)."""
        failed = sum(
            int(row.get("writeFailures") or 0)
            for series, tags, row in self._rows("SHOW STATS FOR 'subscriber'")
            if series == "subscriber" and tags.get("destination") == self.destination
        )
        dropped = sum(int(row.get("subWriteDrop") or 0) for _, _, row in self._rows("SHOW STATS FOR 'write'"))
        return failed + dropped

    def _drop(self) -> None:
        try:
            self.client.execute(f"DROP SUBSCRIPTION {quote_ident(self.name)} ON {self._on()}")
        except InfluxError as exc:
            if "not found" not in str(exc):
                raise
