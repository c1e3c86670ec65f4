"""``jboxmon fleet versions``: boxes by payload and firmware version, from their last heartbeat in a
real InfluxDB, with the payload lifecycle of the config and the registered boxes that sent none."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from inventory import Box, Registry
from jboxmon.cli import main
from storage.lineprotocol import encode_point
from storage.server import free_port


def config_file(tmp_path: Path, influxdb: dict) -> str:
    path = tmp_path / "jboxmon.yaml"
    lifecycle = {"v1": {"deprecated_since": "2024-01-01", "sunset": "2099-12-31"}, "v2": {}}
    document = {
        "influxdb": influxdb,
        "inventory": {"path": "registry.sqlite"},
        "collector": {"payload_versions": lifecycle},
    }
    path.write_text(yaml.safe_dump(document))
    return str(path)


def heartbeat(box: str, payload: int, firmware: str, seconds_ago: float) -> str:
    fields = {"uptime_s": 3600, "payload_version": payload, "fw_version": firmware}
    return encode_point("heartbeat", {"jbox_id": box}, fields, time.time_ns() - int(seconds_ago * 1e9))


def fleet(tmp_path: Path, influx) -> str:
    with Registry(tmp_path / "registry.sqlite") as registry:
        registry.issue_many([Box(f"jbox-000{i}") for i in range(1, 5)])
    influx.write(
        [
            heartbeat("jbox-0001", 2, "1.9.0", 3 * 3600),  # older than the look-back: superseded below
            heartbeat("jbox-0001", 1, "1.4.2", 1800),
            heartbeat("jbox-0002", 2, "2.1.0", 600),
            heartbeat("jbox-0003", 2, "2.1.0", 60),
            heartbeat("jbox-0009", 2, "2.2.0", 60),  # not registered: still listed
            # jbox-0004: registered, no heartbeat
        ]
    )
    return config_file(tmp_path, {"url": influx.settings.url, "database": influx.settings.database})


def test_versions_table_groups_boxes_with_their_lifecycle(tmp_path: Path, influx, capsys) -> None:
    config = fleet(tmp_path, influx)
    assert main(["fleet", "versions", "--boxes", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["PAYLOAD", "FIRMWARE", "BOXES"],
        ["v1", "1.4.2", "1"],
        ["v2", "2.1.0", "2"],
        ["v2", "2.2.0", "1"],
        ["unknown", "unknown", "1"],
    ]
    assert "deprecated since 2024-01-01, sunset 2099-12-31" in lines[1] and lines[1].endswith("jbox-0001")
    assert "current" in lines[2] and lines[2].endswith("jbox-0002,jbox-0003")
    assert "no heartbeat within 2h" in lines[4] and lines[4].endswith("jbox-0004")
    column = lines[0].index("LIFECYCLE")  # columns aligned whatever the values' lengths
    lifecycles = [line[column:].split("  ")[0] for line in lines[1:]]
    assert lifecycles == [
        "deprecated since 2024-01-01, sunset 2099-12-31",
        "current",
        "current",
        "no heartbeat within 2h",
    ]


def test_versions_json_lists_every_box_and_a_shorter_look_back(tmp_path: Path, influx, capsys) -> None:
    config = fleet(tmp_path, influx)
    assert main(["fleet", "versions", "--json", "--since", "20m", "--config", config]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["since_s"] == 1200
    boxes = {row["jbox_id"]: (row["payload"], row["firmware"]) for row in document["boxes"]}
    assert boxes == {
        "jbox-0001": ("unknown", "unknown"),  # its last heartbeat is 30 minutes old
        "jbox-0002": ("v2", "2.1.0"),
        "jbox-0003": ("v2", "2.1.0"),
        "jbox-0004": ("unknown", "unknown"),
        "jbox-0009": ("v2", "2.2.0"),
    }
    unknown = next(v for v in document["versions"] if v["payload"] == "unknown")
    assert unknown == {
        "payload": "unknown",
        "firmware": "unknown",
        "lifecycle": "no heartbeat within 20m",
        "boxes": ["jbox-0001", "jbox-0004"],
    }


def test_influxdb_away_is_one_line(tmp_path: Path, capsys) -> None:
    config = config_file(tmp_path, {"url": f"http://127.0.0.1:{free_port()}", "timeout": "2s"})
    assert main(["fleet", "versions", "--config", config]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("jboxmon fleet versions: ") and "\n" not in err
