"""Config loading: the sample file, strict validation, and the exact text of pointed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, JboxmonConfig, load_config
from config.durations import format_duration, parse_duration
from config.fields import Secret
from config.loader import resolve_paths
from jboxmon.cli import main
from storage import InfluxSettings

ROOT = Path(__file__).resolve().parents[2]
BROKEN = sorted((ROOT / "tests/config/broken").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_sample_file_shows_exactly_the_defaults() -> None:
    # its relative paths are relative to its folder (config/), the defaults' to the current directory
    assert load_config("config/jboxmon.yaml") == resolve_paths(JboxmonConfig(), ROOT)


def test_missing_default_file_means_built_in_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config == resolve_paths(JboxmonConfig(), tmp_path)
    assert config.inventory.path == tmp_path / "var" / "registry.sqlite"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read: No such file or directory"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_config_gives_the_exact_pointed_error(path: Path) -> None:
    relative = path.relative_to(ROOT)
    expected = path.with_suffix(".err").read_text().rstrip("\n")
    with pytest.raises(ConfigError) as caught:
        load_config(relative)
    assert str(caught.value) == expected


def test_config_check_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "config/jboxmon.yaml"]) == 0
    assert "config/jboxmon.yaml: OK" in capsys.readouterr().out
    assert main(["config", "check", "tests/config/broken/bad_duration.yaml"]) == 2
    err = capsys.readouterr().err
    assert "influxdb.timeout: expected a duration like '3m', got '3 minutes'" in err
    assert "1 problem(s)" in err


def test_config_check_reports_unset_secret_variable(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("JBOXMON_TEST_TOKEN", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("influxdb:\n  token: {env: JBOXMON_TEST_TOKEN}\n")
    assert main(["config", "check", str(path)]) == 2
    assert "environment variable 'JBOXMON_TEST_TOKEN' is not set" in capsys.readouterr().err
    monkeypatch.setenv("JBOXMON_TEST_TOKEN", "s3cret")
    assert main(["config", "check", str(path)]) == 0
    assert InfluxSettings.from_config(load_config(path).influxdb).token == "s3cret"


def test_secret_from_file_and_never_in_repr(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("hunter2\n")
    secret = Secret(file=secret_file)
    assert secret.resolve() == "hunter2"
    assert "hunter2" not in repr(secret)
    settings = InfluxSettings.from_config(
        JboxmonConfig.model_validate(
            {"influxdb": {"username": "admin", "password": {"file": str(secret_file)}}}
        ).influxdb
    )
    assert settings.password == "hunter2"
    assert "hunter2" not in repr(settings)


def test_missing_secret_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read secret file '.*/absent': No such file"):
        Secret(file=tmp_path / "absent").resolve()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("3m", 180), ("1h30m", 5400), ("7d", 604800), ("250ms", 0.25), (45, 45)],
)
def test_durations_parse_and_format_round_trip(text, seconds) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["3 minutes", "m", "-5s", "", "1x", -3])
def test_bad_durations_are_refused_with_the_value(bad) -> None:
    with pytest.raises(ValueError, match="expected a duration like '3m', got"):
        parse_duration(bad)


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "jboxmon.yaml").write_text(
        "inventory: {path: db/registry.sqlite}\n"
        "rules: {files: [rules/*.yaml, /abs/x.yaml], state_db: ../state.sqlite}\n"
        "collector: {spool_dir: spool}\n"
    )
    monkeypatch.chdir(tmp_path.parent)  # anywhere else
    config = load_config(folder / "jboxmon.yaml")
    assert config.inventory.path == folder / "db" / "registry.sqlite"
    assert config.rules.files == [str(folder / "rules" / "*.yaml"), "/abs/x.yaml"]
    assert config.rules.state_db == tmp_path / "state.sqlite"
    assert config.collector.spool_dir == folder / "spool"


def test_config_check_shows_the_resolved_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yaml").write_text("groups: []\n")
    (tmp_path / "jboxmon.yaml").write_text("inventory: {path: registry.sqlite}\nrules: {files: [rules/*.yaml]}\n")
    assert main(["config", "check", str(tmp_path / "jboxmon.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"inventory.path: {tmp_path / 'registry.sqlite'} (missing: no box registered yet)" in out
    assert f"rules.files: {tmp_path / 'rules' / '*.yaml'} -> 1 file(s)" in out
