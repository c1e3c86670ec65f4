"""The in-memory token cache follows the registry, including changes made by another process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from inventory import Box, Gateway, Registry, TokenCache


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


def eventually(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "registry.sqlite"


def test_the_cache_authenticates_boxes_and_gateways_without_the_database(path: Path) -> None:
    with Registry(path) as operator:
        box_token = operator.issue("jbox-1", site="s1", region="IDF", service="fcr")
        gateway_token = operator.issue_gateway("gw-1", site="s1")
    registry = Registry(path).open()
    cache = TokenCache(registry).start()
    try:
        registry.close()  # nothing on the request path reads SQLite
        assert cache.authenticate(box_token) == Box("jbox-1", "s1", "IDF", "fcr")
        assert cache.authenticate(gateway_token) == Gateway("gw-1", site="s1")
        assert cache.box("jbox-1") == Box("jbox-1", "s1", "IDF", "fcr")
        for bad in (None, "", "jbx_unknown", "no-prefix", "jbx_" + "x" * 300, box_token + "x"):
            assert cache.authenticate(bad) is None
    finally:
        cache.stop()


def test_revocation_and_issue_in_another_process_show_within_the_refresh_bound(path: Path) -> None:
    with Registry(path) as operator:
        token = operator.issue("jbox-1", site="s1")
    registry = Registry(path).open()
    cache = TokenCache(registry, refresh_s=0.05).start()
    try:
        assert cache.authenticate(token) is not None
        with Registry(path) as operator:  # another connection, as `jboxmon tokens` from a shell
            operator.revoke("jbox-1")
            gateway = operator.issue_gateway("gw-1", site="s1")
            new_box = operator.issue("jbox-2", site="s1")
        revoked_at = time.monotonic()
        assert eventually(lambda: cache.authenticate(token) is None)
        assert time.monotonic() - revoked_at < 5  # generous on a loaded machine; the bound is refresh_s + a reload
        assert cache.authenticate(gateway) == Gateway("gw-1", site="s1")
        assert cache.authenticate(new_box).jbox_id == "jbox-2"
        assert cache.box("jbox-2").site == "s1"
    finally:
        cache.stop()
        cache.stop()  # idempotent
        registry.close()


def test_an_overlap_ends_on_the_clock_without_a_reload(path: Path) -> None:
    clock = Clock()
    registry = Registry(path, clock=clock).open()
    try:
        old = registry.issue("jbox-1")
        new = registry.rotate("jbox-1", overlap_s=30)
        cache = TokenCache(registry, refresh_s=3600)
        cache.reload()
        reloads = cache.reloads
        assert cache.authenticate(old) is not None
        clock.now += 31
        assert cache.authenticate(old) is None
        assert cache.authenticate(new) is not None
        assert cache.reloads == reloads
    finally:
        registry.close()


def test_last_seen_updates_cause_no_reload(path: Path) -> None:
    registry = Registry(path).open()
    try:
        registry.issue("jbox-1")
        cache = TokenCache(registry)
        cache.reload()
        registry.mark_seen([("jbox-1", 1.0)])
        assert cache.refresh() is False
        registry.issue("jbox-2")
        assert cache.refresh() is True
    finally:
        registry.close()


def test_a_token_issued_elsewhere_works_at_once_and_bad_tokens_cost_bounded_reads(path: Path) -> None:
    registry = Registry(path).open()
    try:
        cache = TokenCache(registry, refresh_s=3600, miss_check_s=3600)
        cache.reload()
        with Registry(path) as operator:
            token = operator.issue("jbox-new")
        assert cache.authenticate(token).jbox_id == "jbox-new"  # the miss checked the counter
        reloads = cache.reloads
        for i in range(100):  # unknown tokens: no more checks within miss_check_s
            assert cache.authenticate(f"jbx_nope{i}") is None
        assert cache.reloads == reloads
    finally:
        registry.close()
