"""The token registry, which is also the fleet inventory.

One row per JBOX (id, site, region, service, last seen) and its tokens; one row per site gateway
(bound to a site or to a list of boxes) and its tokens. Tokens are 256-bit random strings shown
once; only their SHA-256 is stored. A slow password hash is not needed: with that much entropy a
stolen hash cannot be brute-forced, and a fast hash keeps authentication cheap on every request.
Rotation gives the old token an expiry (the overlap) instead of deleting it.

Box and gateway ids share one namespace, so ``rotate`` and ``revoke`` need no flag to say which.
Every operator verb runs in one transaction that also bumps the ``changes`` counter, which is how
a :class:`inventory.cache.TokenCache` notices that credentials changed. State is versioned
(``PRAGMA user_version``, see ``inventory.schema``) and older registries are migrated on open.

The rows live in the embedded SQLite file (``inventory.path``, one node) or in a shared PostgreSQL
(``inventory.url``, several nodes): the SQL here is written once for both, and
``inventory.database`` runs it on the engine the location names.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inventory.database import Database, is_postgres, open_database
from inventory.model import Box, Gateway, Principal
from inventory.schema import SCHEMA_VERSION
from storage.postgres import redact

if TYPE_CHECKING:
    from config.model import InventoryConfig

TOKEN_PREFIX = "jbx_"
SERVICES = ("fcr", "afrr", "idle")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

__all__ = ["SCHEMA_VERSION", "SERVICES", "TOKEN_PREFIX", "Box", "Credentials", "Gateway", "Registry", "hash_token"]


class RegistryError(ValueError):
    """An operator request the registry refuses (unknown box, box already has a token...)."""


@dataclass(frozen=True)
class Credentials:
    """Everything authentication needs, read in one transaction: a snapshot for the token cache.

    ``tokens`` maps a token hash to (principal, expires_at or None); revoked tokens are left out.
    """

    changes: int
    tokens: dict[str, tuple[Principal, float | None]]
    boxes: dict[str, Box]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Registry:
    """Boxes, gateways and their hashed tokens in SQLite or PostgreSQL; thread-safe; time comes
    from ``clock``. ``location`` is a file path or a ``postgresql://`` URL (password apart)."""

    def __init__(
        self,
        location: Path | str,
        clock: Callable[[], float] = time.time,
        *,
        password: str | None = None,
        role: str = "inventory",
    ) -> None:
        self.shared = is_postgres(location)
        self.location = location
        # the file (SQLite) or the redacted URL: what messages name
        self.path: Path | str = redact(str(location)) if self.shared else Path(location)
        self.clock = clock
        self._password = password
        self._role = role
        self._lock = threading.RLock()
        self._db: Database | None = None
        # last-seen updates go through their own connection: in WAL mode they then never block
        # the authentication reads of the request path
        self._seen_lock = threading.Lock()
        self._seen_db: Database | None = None

    @classmethod
    def from_config(
        cls, inventory: InventoryConfig, clock: Callable[[], float] = time.time, *, role: str = "inventory"
    ) -> Registry:
        """The registry the ``inventory:`` section names (not opened yet)."""
        password = inventory.password.resolve() if inventory.password is not None else None
        return cls(inventory.location, clock, password=password, role=role)

    def exists(self) -> bool:
        """False only for an embedded file that was never created (no box registered yet)."""
        return self.shared or Path(self.path).exists()

    def open(self) -> Registry:
        db = open_database(self.location, password=self._password, role=self._role)
        self._db = db
        self._seen_db = db.second()
        return self

    def close(self) -> None:
        for db in (self._db, self._seen_db):
            if db is not None:
                db.close()
        self._db = self._seen_db = None

    def __enter__(self) -> Registry:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operator verbs: boxes -------------------------------------------------------------------

    def issue(self, jbox_id: str, *, site: str = "", region: str = "", service: str = "") -> str:
        """Register the box (or update its metadata) and return its first token, shown only now."""
        _check_id(jbox_id, "box")
        if service and service not in SERVICES:
            raise RegistryError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
        now = self.clock()
        with self._transaction():
            if self._gateway_exists(jbox_id):
                raise RegistryError(f"{jbox_id!r} is a gateway id: a box needs an id of its own")
            if self._active_count("tokens", "jbox_id", jbox_id, now):
                raise RegistryError(f"{jbox_id} already has an active token: use 'tokens rotate' to replace it")
            self._db.execute(
                "INSERT INTO boxes(jbox_id, site, region, service, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(jbox_id) DO UPDATE SET site=coalesce(nullif(excluded.site,''), boxes.site), "
                "region=coalesce(nullif(excluded.region,''), boxes.region), "
                "service=coalesce(nullif(excluded.service,''), boxes.service)",
                (jbox_id, site, region, service, now),
            )
            return self._new_token("tokens", "jbox_id", jbox_id, now)

    def issue_many(self, boxes: list[Box]) -> dict[str, str]:
        """``issue`` for many boxes in one transaction (a whole fleet at commissioning)."""
        with self._transaction():
            return {
                box.jbox_id: self.issue(box.jbox_id, site=box.site, region=box.region, service=box.service)
                for box in boxes
            }

    # -- operator verbs: gateways ----------------------------------------------------------------

    def issue_gateway(self, gateway_id: str, *, site: str = "", boxes: Iterable[str] = ()) -> str:
        """Register a site gateway bound to ``site`` or to ``boxes`` (exactly one of them) and
        return its first token. Re-issuing a gateway without an active token rebinds it."""
        _check_id(gateway_id, "gateway")
        boxes = sorted(set(boxes))
        if bool(site) == bool(boxes):
            raise RegistryError("a gateway is bound either to a site or to a list of boxes: give exactly one")
        now = self.clock()
        with self._transaction():
            if self._box_exists(gateway_id):
                raise RegistryError(f"{gateway_id!r} is a box id: a gateway needs an id of its own")
            if self._active_count("gateway_tokens", "gateway_id", gateway_id, now):
                raise RegistryError(f"{gateway_id} already has an active token: use 'tokens rotate' to replace it")
            unknown = [box for box in boxes if not self._box_exists(box)]
            if unknown:
                raise RegistryError(f"unknown box {unknown[0]!r}: register the boxes before their gateway")
            self._db.execute(
                "INSERT INTO gateways(gateway_id, site, created_at) VALUES (?,?,?) "
                "ON CONFLICT(gateway_id) DO UPDATE SET site=excluded.site",
                (gateway_id, site, now),
            )
            self._db.execute("DELETE FROM gateway_boxes WHERE gateway_id = ?", (gateway_id,))
            self._db.executemany(
                "INSERT INTO gateway_boxes(gateway_id, jbox_id) VALUES (?,?)", [(gateway_id, box) for box in boxes]
            )
            return self._new_token("gateway_tokens", "gateway_id", gateway_id, now)

    # -- operator verbs: either ------------------------------------------------------------------

    def rotate(self, principal_id: str, overlap_s: float) -> str:
        """A new token for a box or gateway; the current ones keep working for ``overlap_s``
        seconds, then expire."""
        now = self.clock()
        with self._transaction():
            table, column = self._require(principal_id)
            self._db.execute(
                f"UPDATE {table} SET expires_at = ? WHERE {column} = ? AND revoked_at IS NULL "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (now + overlap_s, principal_id, now + overlap_s),
            )
            return self._new_token(table, column, principal_id, now)

    def revoke(self, principal_id: str) -> int:
        """Revoke every token of a box or gateway at once; returns how many were active."""
        now = self.clock()
        with self._transaction():
            table, column = self._require(principal_id)
            active = self._active_count(table, column, principal_id, now)
            self._db.execute(
                f"UPDATE {table} SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL", (now, principal_id)
            )
            return active

    # -- reading ---------------------------------------------------------------------------------

    def boxes(self) -> list[Box]:
        """The inventory: every registered box, with its active token count, last contact and registration time."""
        now = self.clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT b.jbox_id, b.site, b.region, b.service, b.last_seen, "
                "(SELECT count(*) FROM tokens t WHERE t.jbox_id = b.jbox_id AND t.revoked_at IS NULL "
                " AND (t.expires_at IS NULL OR t.expires_at > ?)), b.created_at FROM boxes b ORDER BY b.jbox_id",
                (now,),
            ).fetchall()
        return [Box(*row) for row in rows]

    def gateways(self) -> list[Gateway]:
        """Every registered gateway with its binding, active token count and last contact."""
        now = self.clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT g.gateway_id, g.site, g.last_seen, "
                "(SELECT count(*) FROM gateway_tokens t WHERE t.gateway_id = g.gateway_id AND t.revoked_at IS NULL"
                " AND (t.expires_at IS NULL OR t.expires_at > ?)) FROM gateways g ORDER BY g.gateway_id",
                (now,),
            ).fetchall()
            bound = self._gateway_boxes()
        return [Gateway(gid, site, bound.get(gid, frozenset()), seen, count) for gid, site, seen, count in rows]

    def changes(self) -> int:
        """A counter bumped by every operator verb: when it moved, credentials may have changed."""
        with self._lock:
            return self._db.execute("SELECT value FROM meta WHERE key = 'changes'").fetchone()[0]

    def credentials(self) -> Credentials:
        """Every unrevoked token with who it speaks for, and every box, read consistently."""
        with self._lock, self._read_transaction():
            changes = self._db.execute("SELECT value FROM meta WHERE key = 'changes'").fetchone()[0]
            boxes = {row[0]: Box(*row) for row in self._db.execute("SELECT jbox_id, site, region, service FROM boxes")}
            bound = self._gateway_boxes()
            gateways = {
                gid: Gateway(gid, site, bound.get(gid, frozenset()))
                for gid, site in self._db.execute("SELECT gateway_id, site FROM gateways")
            }
            tokens: dict[str, tuple[Principal, float | None]] = {}
            for digest, jbox_id, expires in self._db.execute(
                "SELECT token_hash, jbox_id, expires_at FROM tokens WHERE revoked_at IS NULL"
            ):
                tokens[digest] = (boxes[jbox_id], expires)
            for digest, gid, expires in self._db.execute(
                "SELECT token_hash, gateway_id, expires_at FROM gateway_tokens WHERE revoked_at IS NULL"
            ):
                tokens[digest] = (gateways[gid], expires)
        return Credentials(changes, tokens, boxes)

    # -- request path ----------------------------------------------------------------------------

    def authenticate(self, token: str) -> Principal | None:
        """The box or gateway a token belongs to, or None when unknown, revoked or expired.

        One SQLite read per call: the collector uses a :class:`inventory.cache.TokenCache` instead.
        """
        if not plausible_token(token):
            return None
        digest = hash_token(token)
        now = self.clock()
        with self._lock:
            row = self._db.execute(
                "SELECT t.token_hash, b.jbox_id, b.site, b.region, b.service, b.last_seen FROM tokens t "
                "JOIN boxes b USING (jbox_id) WHERE t.token_hash = ? AND t.revoked_at IS NULL "
                "AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (digest, now),
            ).fetchone()
            gateway = None
            if row is None:
                gateway = self._db.execute(
                    "SELECT t.token_hash, g.gateway_id, g.site FROM gateway_tokens t JOIN gateways g "
                    "USING (gateway_id) WHERE t.token_hash = ? AND t.revoked_at IS NULL "
                    "AND (t.expires_at IS NULL OR t.expires_at > ?)",
                    (digest, now),
                ).fetchone()
                bound = self._gateway_boxes(gateway[1]) if gateway else {}
        # the row was found by its hash; compare in constant time anyway so no timing reveals how
        # much of a guessed hash matched an index entry
        if row is not None and hmac.compare_digest(row[0], digest):
            return Box(*row[1:])
        if gateway is not None and hmac.compare_digest(gateway[0], digest):
            return Gateway(gateway[1], gateway[2], bound.get(gateway[1], frozenset()))
        return None

    def mark_seen(self, boxes: Iterable[tuple[str, float]], gateways: Iterable[tuple[str, float]] = ()) -> None:
        """Record last contact times of boxes and of gateways (in batches, not per request)."""
        with self._seen_lock, self._seen_db.write(exclusive=False):  # one transaction, no `changes` bump
            for table, column, seen in (("boxes", "jbox_id", list(boxes)), ("gateways", "gateway_id", list(gateways))):
                if not seen:
                    continue
                if self.shared:  # one statement per table: 10,000 round trips cost seconds, one costs ms
                    self._seen_db.execute(
                        f"UPDATE {table} AS t SET last_seen = v.seen "
                        "FROM unnest(?::text[], ?::float8[]) AS v(id, seen) "
                        f"WHERE t.{column} = v.id AND (t.last_seen IS NULL OR t.last_seen < v.seen)",
                        ([principal for principal, _ in seen], [when for _, when in seen]),
                    )
                    continue
                self._seen_db.executemany(
                    f"UPDATE {table} SET last_seen = ? WHERE {column} = ? AND (last_seen IS NULL OR last_seen < ?)",
                    [(when, principal, when) for principal, when in seen],
                )

    # -- helpers ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction bumping ``changes``; nested calls join the outer one."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            with self._db.write():
                yield
                self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'changes'")

    def _read_transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._db.read()  # one consistent snapshot of every table

    def _new_token(self, table: str, column: str, owner: str, now: float) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._db.execute(
            f"INSERT INTO {table}(token_hash, {column}, created_at) VALUES (?,?,?)", (hash_token(token), owner, now)
        )
        return token

    def _active_count(self, table: str, column: str, owner: str, now: float) -> int:
        return self._db.execute(
            f"SELECT count(*) FROM {table} WHERE {column} = ? AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (owner, now),
        ).fetchone()[0]

    def _gateway_boxes(self, gateway_id: str | None = None) -> dict[str, frozenset[str]]:
        query = "SELECT gateway_id, jbox_id FROM gateway_boxes"
        if gateway_id:
            rows = self._db.execute(query + " WHERE gateway_id = ?", (gateway_id,))
        else:
            rows = self._db.execute(query)
        bound: dict[str, set[str]] = {}
        for gid, box in rows:
            bound.setdefault(gid, set()).add(box)
        return {gid: frozenset(boxes) for gid, boxes in bound.items()}

    def _box_exists(self, jbox_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM boxes WHERE jbox_id = ?", (jbox_id,)).fetchone() is not None

    def _gateway_exists(self, gateway_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM gateways WHERE gateway_id = ?", (gateway_id,)).fetchone() is not None

    def _require(self, principal_id: str) -> tuple[str, str]:
        """The token table and owner column of a box or gateway id; RegistryError when neither."""
        if self._box_exists(principal_id):
            return "tokens", "jbox_id"
        if self._gateway_exists(principal_id):
            return "gateway_tokens", "gateway_id"
        raise RegistryError(f"unknown box or gateway {principal_id!r}: issue a token for it first")


def plausible_token(token: str) -> bool:
    """Cheap shape check before hashing: our tokens carry a prefix and are short."""
    return token.startswith(TOKEN_PREFIX) and len(token) <= 200


def _check_id(value: str, what: str) -> None:
    if not _ID.fullmatch(value):
        raise RegistryError(
            f"a {what} id is 1-64 letters, digits, '_', '.' or '-' starting with a letter or digit, got {value!r}"
        )
