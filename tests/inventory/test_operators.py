"""Operators in the inventory: hashed tokens, roles, rotation and revocation, the service credentials,
and the wall between operator tokens and box tokens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inventory import Registry
from inventory.audit import AuditLog
from inventory.operators import OperatorError, OperatorStore, hash_operator_token


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_add_authenticate_and_store_only_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    with OperatorStore(path) as store:
        token = store.add("alice", "operator")
        assert token.startswith("jbo_") and len(token) > 40
        found = store.authenticate(token)
        assert (found.name, found.role) == ("alice", "operator")
        assert store.authenticate(token, name="alice") == found
        assert store.authenticate(token, name="bob") is None  # Basic auth: the name must match
        assert store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert store.authenticate("") is None and store.authenticate(None) is None
    wal = path.with_name(path.name + "-wal")
    raw = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert token.encode() not in raw
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT token_hash FROM operator_tokens").fetchall() == [(hash_operator_token(token),)]
    assert path.stat().st_mode & 0o777 == 0o600


def test_rotate_with_overlap_then_revoke(tmp_path: Path) -> None:
    clock = Clock()
    with OperatorStore(tmp_path / "r.sqlite", clock=clock) as store:
        old = store.add("bob", "admin")
        with pytest.raises(OperatorError, match="already has an active token: use 'users rotate'"):
            store.add("bob", "admin")
        new = store.rotate("bob", overlap_s=60)
        assert store.authenticate(old) and store.authenticate(new)
        clock.now += 61
        assert store.authenticate(old) is None and store.authenticate(new).role == "admin"
        assert store.revoke("bob") == 1
        assert store.authenticate(new) is None
        assert [(o.name, o.role, o.active_tokens) for o in store.list()] == [("bob", "admin", 0)]
        with pytest.raises(OperatorError, match="unknown operator 'carol'"):
            store.rotate("carol")


def test_refused_names_and_roles(tmp_path: Path) -> None:
    with OperatorStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(OperatorError, match="role must be one of viewer, operator, admin, producer, got 'root'"):
            store.add("alice", "root")
        with pytest.raises(OperatorError, match="operator name is 1-64"):
            store.add("../alice", "viewer")
        with pytest.raises(OperatorError, match="the services' own credentials"):
            store.add("jboxmon-rules", "admin")


def test_service_credentials_are_one_per_process(tmp_path: Path) -> None:
    """Two rules evaluators sharing an inventory each hold their own token; one stopping revokes only its own."""
    with OperatorStore(tmp_path / "r.sqlite") as store:
        first = store.issue_service("jboxmon-rules", "producer")
        second = store.issue_service("jboxmon-rules", "producer")
        assert store.authenticate(first).role == store.authenticate(second).role == "producer"
        assert store.revoke_token(first) is True and store.revoke_token(first) is False
        assert store.authenticate(first) is None and store.authenticate(second).name == "jboxmon-rules"


def test_operator_and_box_tokens_never_cross(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with Registry(path) as registry, OperatorStore(path) as store:
        box = registry.issue("jbox-0001")
        operator = store.add("alice", "admin")
        assert store.authenticate(box) is None
        assert registry.authenticate(operator) is None
        assert registry.authenticate(box).jbox_id == "jbox-0001"


def test_audit_query_filters_newest_first(tmp_path: Path) -> None:
    clock = Clock()
    audit = AuditLog(tmp_path / "r.sqlite", clock=clock)
    audit.record("alice", "10.0.0.1", "silence.create", "s1", matchers=["a"])
    clock.now += 10
    audit.record("bob", "local", "token.issue", "jbox-0001")
    clock.now += 10
    audit.record("alice", "10.0.0.1", "silence.expire", "s1")
    assert [e.action for e in audit.query()] == ["silence.expire", "token.issue", "silence.create"]
    assert [e.target for e in audit.query(actor="bob")] == ["jbox-0001"]
    assert [e.action for e in audit.query(action="silence")] == ["silence.expire", "silence.create"]
    assert [e.action for e in audit.query(since=clock.now - 5)] == ["silence.expire"]
    assert audit.query(action="silence.create")[0].details == {"matchers": ["a"]}
    audit.close()
