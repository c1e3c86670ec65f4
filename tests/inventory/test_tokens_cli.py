"""``jboxmon tokens``: gateways are issued, listed, rotated and revoked like boxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from inventory import Gateway, Registry
from jboxmon.cli import main


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "jboxmon.yaml"
    path.write_text(yaml.safe_dump({"inventory": {"path": str(tmp_path / "registry.sqlite")}}))
    return path


def tokens(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), "tokens", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_issue_gateway_list_rotate_revoke(config: Path, tmp_path: Path, capsys) -> None:
    assert tokens(config, capsys, "issue", "jbox-1", "jbox-2", "--site", "paris-1")[0] == 0
    assert tokens(config, capsys, "issue", "jbox-9", "--site", "lyon-1")[0] == 0
    code, out, _ = tokens(config, capsys, "issue-gateway", "gw-paris", "--site", "paris-1", "--json")
    assert code == 0
    token = json.loads(out)["gw-paris"]
    code, out, _ = tokens(config, capsys, "issue-gateway", "gw-pick", "--boxes", "jbox-1,jbox-9")
    assert code == 0 and out.startswith("gw-pick\tjbx_")
    with Registry(tmp_path / "registry.sqlite") as registry:
        assert registry.authenticate(token) == Gateway("gw-paris", site="paris-1")

    code, out, _ = tokens(config, capsys, "list")
    assert "gw-paris         site 'paris-1'" in out
    assert "gw-pick          boxes jbox-1, jbox-9" in out
    code, out, _ = tokens(config, capsys, "list", "--json")
    rows = {row.get("jbox_id") or row["gateway_id"]: row for row in json.loads(out)}
    assert rows["gw-pick"]["boxes"] == ["jbox-1", "jbox-9"] and rows["gw-paris"]["active_tokens"] == 1

    code, out, err = tokens(config, capsys, "rotate", "gw-paris", "--overlap", "1h")
    assert code == 0 and out.startswith("jbx_") and "keeps working for 3600s" in err
    code, out, _ = tokens(config, capsys, "revoke", "gw-paris")
    assert code == 0 and out.strip() == "revoked 2 active token(s) of gw-paris"
    with Registry(tmp_path / "registry.sqlite") as registry:
        assert registry.authenticate(token) is None


def test_issue_gateway_needs_exactly_one_binding(config: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        tokens(config, capsys, "issue-gateway", "gw-x")
    code, _, err = tokens(config, capsys, "issue-gateway", "gw-x", "--boxes", "nope")
    assert code == 2 and "unknown box 'nope'" in err
