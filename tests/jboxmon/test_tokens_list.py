"""``jboxmon tokens list``: columns stay aligned whatever the length of a value."""

from __future__ import annotations

from pathlib import Path

import yaml

from jboxmon.cli import main


def test_columns_stay_aligned_with_a_long_region(tmp_path: Path, capsys) -> None:
    config = tmp_path / "jboxmon.yaml"
    config.write_text(yaml.safe_dump({"inventory": {"path": "registry.sqlite"}}))
    for box, region in (("jbox-0001", "IDF"), ("jbox-0002", "Provence-Alpes-Cote-d-Azur")):
        assert main(["tokens", "issue", box, "--site", "s1", "--region", region, "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["tokens", "list", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (tmp_path / "registry.sqlite").exists()  # relative to the config file's folder
    starts = [line.index("LAST SEEN") if i == 0 else line.index("never") for i, line in enumerate(lines)]
    assert len(lines) == 3 and len(set(starts)) == 1, lines
