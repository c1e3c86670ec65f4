"""Site gateways through the running collector: bulk line protocol for the boxes of one site only."""

from __future__ import annotations

import time

import pytest
import requests

from inventory import Registry
from tests.collector.conftest import registry_path

NOW = int(time.time())


@pytest.fixture
def sites(collector_factory, tmp_path):
    """A collector, boxes at two sites, a site gateway for site A and one bound to a list of boxes."""
    collector = collector_factory(token_refresh=0.05)
    with Registry(registry_path(tmp_path)) as registry:
        for box, site in [("a-1", "site-a"), ("a-2", "site-a"), ("b-1", "site-b")]:
            registry.issue(box, site=site, region="IDF", service="fcr")
        tokens = {
            "gw-a": registry.issue_gateway("gw-a", site="site-a"),
            "gw-list": registry.issue_gateway("gw-list", boxes=["b-1"]),
        }
    deadline = time.monotonic() + 10
    # the collector's token cache follows the registry within token_refresh: wait for the last change
    while collector.service.authenticate(tokens["gw-list"]) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return collector, tokens


def write(collector, token: str, body: str) -> requests.Response:
    return requests.post(
        f"{collector.url}/api/v2/write?precision=s&org=o&bucket=b",
        data=body,
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )


def test_a_site_gateway_writes_for_every_box_of_its_site_with_registry_tags(sites) -> None:
    collector, tokens = sites
    body = "\n".join(
        f"telemetry,jbox_id={box},site=spoofed soc_pct={i}.5 {NOW - 100 + i}"
        for i, box in enumerate(["a-1", "a-2"] * 50)
    )
    assert write(collector, tokens["gw-a"], body).status_code == 204
    collector.drain()
    frame = collector.influx.query('SELECT count("soc_pct") FROM "telemetry" GROUP BY "jbox_id", "site"')
    counts = {(row["jbox_id"], row["site"]): row["count"] for _, row in frame.iterrows()}
    assert counts == {("a-1", "site-a"): 50, ("a-2", "site-a"): 50}


def test_a_gateway_for_site_a_writing_a_box_of_site_b_gets_403_naming_the_box(sites) -> None:
    collector, tokens = sites
    body = f"telemetry,jbox_id=a-1 soc_pct=1.5 {NOW - 10}\ntelemetry,jbox_id=b-1 soc_pct=2.5 {NOW - 10}"
    response = write(collector, tokens["gw-a"], body)
    assert response.status_code == 403
    assert "gateway 'gw-a' writes for site 'site-a' and cannot write data of 'b-1'" in response.json()["message"]
    # an unknown box is refused the same way, and on the general path (escaped line) too
    assert write(collector, tokens["gw-a"], f"telemetry,jbox_id=zz soc_pct=1 {NOW}").status_code == 403
    escaped = f'log,jbox_id=b-1,level=info message="a \\"quoted\\" word" {NOW - 5}'
    assert write(collector, tokens["gw-a"], escaped).status_code == 403
    collector.drain()
    assert collector.influx.count("telemetry", "soc_pct") == 0  # nothing of the refused requests stored


def test_a_gateway_bound_to_boxes_writes_exactly_those(sites) -> None:
    collector, tokens = sites
    assert write(collector, tokens["gw-list"], f"telemetry,jbox_id=b-1 soc_pct=3.5 {NOW - 5}").status_code == 204
    response = write(collector, tokens["gw-list"], f"telemetry,jbox_id=a-1 soc_pct=3.5 {NOW - 5}")
    assert response.status_code == 403 and "'a-1'" in response.json()["message"]


def test_a_gateway_line_without_a_box_is_refused_alone(sites) -> None:
    collector, tokens = sites
    body = f"telemetry soc_pct=1.5 {NOW - 3}\ntelemetry,jbox_id=a-2 soc_pct=2.5 {NOW - 3}"
    response = write(collector, tokens["gw-a"], body)
    assert response.status_code == 400
    assert "line 1: a gateway token must name the box" in response.json()["message"]
    assert response.json()["accepted"] == 1


def test_a_gateway_cannot_post_json_payloads(sites) -> None:
    collector, tokens = sites
    v2 = {"header": {"jbox_id": "a-1"}, "samples": [{"soc_pct": 1.0}]}
    response = requests.post(
        f"{collector.url}/v2/telemetry", json=v2, headers={"Authorization": f"Token {tokens['gw-a']}"}, timeout=10
    )
    assert response.status_code == 403 and "line protocol" in response.json()["message"]


def test_revoking_a_gateway_takes_effect_within_the_refresh_bound(sites, tmp_path) -> None:
    collector, tokens = sites
    with Registry(registry_path(tmp_path)) as registry:
        registry.revoke("gw-a")
    deadline = time.monotonic() + 10
    status = 204
    while status != 401 and time.monotonic() < deadline:
        status = write(collector, tokens["gw-a"], f"telemetry,jbox_id=a-1 soc_pct=1 {NOW - 1}").status_code
        time.sleep(0.02)
    assert status == 401


def test_last_contact_is_recorded_for_the_gateway_and_the_boxes_it_wrote_for(sites, tmp_path) -> None:
    collector, tokens = sites
    before = time.time()
    assert write(collector, tokens["gw-a"], f"telemetry,jbox_id=a-1 soc_pct=1.5 {NOW - 10}").status_code == 204
    collector.service.flush_seen()
    with Registry(registry_path(tmp_path)) as registry:
        boxes = {box.jbox_id: box.last_seen for box in registry.boxes()}
        gateways = {gateway.gateway_id: gateway.last_seen for gateway in registry.gateways()}
    assert boxes["a-1"] is not None and boxes["a-1"] >= before
    assert boxes["a-2"] is None and boxes["b-1"] is None
    assert gateways["gw-a"] is not None and gateways["gw-a"] >= before
    assert gateways["gw-list"] is None
