"""Links in notifications lead to the status page: its box view and its prefilled silence form."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from alerting.links import box_url, silence_url
from config import JboxmonConfig
from jboxmon.rules_component import with_links
from status.silenceform import prefill, silence_link
from tests.alerting.conftest import alert


def test_box_and_silence_urls() -> None:
    assert box_url("https://ops.example/status/", "jbox-0042") == "https://ops.example/status/box/jbox-0042"
    assert box_url("http://h", "a/b c") == "http://h/box/a%2Fb%20c"  # one path segment, whatever the id
    url = silence_url("http://h", {"alertname": "SetpointNotFollowed", "jbox_id": 'x"y', "site": "s1"})
    parts = urlsplit(url)
    assert parts.path == "/silences/new"
    assert parse_qs(parts.query)["matcher"] == ['alertname="SetpointNotFollowed"', 'jbox_id="x\\"y"']
    # what the status page's form accepts is what notifications write (the two sides of the shape)
    assert prefill(parse_qs(parts.query)["matcher"]) == (parse_qs(parts.query)["matcher"], [])
    labels = {"alertname": "A", "jbox_id": "b"}
    assert silence_link(labels) == "/silences/new?" + urlsplit(silence_url("http://h", labels)).query


def test_external_url_defaults_to_the_status_page() -> None:
    config = JboxmonConfig.model_validate({"status": {"listen": "10.0.0.5:9000"}})
    assert config.alerting.external_url == "http://10.0.0.5:9000"
    given = JboxmonConfig.model_validate({"alerting": {"external_url": "https://ops.example/jbox"}})
    assert given.alerting.external_url == "https://ops.example/jbox"


def test_rules_alerts_leave_with_the_box_view_as_generator_url() -> None:
    sent = []
    deliver = with_links(sent.extend, "https://ops.example/jbox")
    deliver([alert("SetpointNotFollowed", "jbox-0042"), alert("FleetFaultShareHigh"),
             {**alert("X", "jbox-1"), "generatorURL": "http://grafana/d/1"}])  # fmt: skip
    assert [a.get("generatorURL", "") for a in sent] == [
        "https://ops.example/jbox/box/jbox-0042", "", "http://grafana/d/1"]  # fmt: skip


def test_webhook_external_url_is_the_status_page(service_factory, webhook) -> None:
    service = service_factory({
        "route": {"receiver": "hook", "group_wait": "50ms", "group_interval": "1s"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook.url}]}],
        "external_url": "https://ops.example/jbox",
    })  # fmt: skip
    service.receive([{**alert("SetpointNotFollowed", "jbox-0042"), "generatorURL": "https://ops.example/jbox/box/jbox-0042"}])
    (payload,) = webhook.wait_for(1)
    assert payload["externalURL"] == "https://ops.example/jbox"
    assert payload["alerts"][0]["generatorURL"] == "https://ops.example/jbox/box/jbox-0042"
