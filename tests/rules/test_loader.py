"""Broken rule files give pointed errors (exact text); the shipped rules load."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jboxmon.cli import main
from rules.loader import RulesError, load_rules

ROOT = Path(__file__).resolve().parents[2]
CONDITION = "        condition: {threshold: {field: x, op: '>', value: 1}}\n"
BROKEN = sorted((ROOT / "tests/rules/broken").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_rule_file_gives_the_exact_pointed_error(path: Path) -> None:
    expected = path.with_suffix(".err").read_text().rstrip("\n")
    with pytest.raises(RulesError) as caught:
        load_rules([path.relative_to(ROOT)])
    assert str(caught.value) == expected


def test_default_rules_load_and_check_passes(capsys) -> None:
    groups = load_rules(["rules/default/jbox.yaml"])
    names = {rule.alert for group in groups for rule in group.rules}
    assert {
        "SetpointNotFollowed",
        "JBoxSilent",
        "TelemetryStale",
        "OverheatWarning",
        "OverheatCritical",
        "SoCLow",
        "SoCHigh",
        "FleetFaultShareHigh",
        "LogStorm",
    } <= names
    assert main(["rules", "check", "rules/default/jbox.yaml"]) == 0
    assert "power/SetpointNotFollowed" in capsys.readouterr().out


def test_check_reports_every_file_and_exits_2(capsys) -> None:
    code = main(["rules", "check", "tests/rules/broken/bad_duration.yaml", "tests/rules/broken/bad_template.yaml"])
    assert code == 2
    err = capsys.readouterr().err
    assert "(SetpointNotFollowed): for: expected a duration like '3m', got '3 minutes'" in err
    assert "annotations.summary: template does not render: 'valeu' is undefined" in err
    assert "2 problem(s) in 2 file(s)" in err


def test_same_group_in_two_files_is_refused(tmp_path: Path) -> None:
    rule = "groups:\n  - name: power\n    rules:\n      - alert: A\n" + CONDITION
    (tmp_path / "a.yaml").write_text(rule)
    (tmp_path / "b.yaml").write_text(rule)
    with pytest.raises(RulesError, match=r"b.yaml: group 'power' is also defined in .*a.yaml"):
        load_rules([tmp_path / "a.yaml", tmp_path / "b.yaml"])


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n"
        + CONDITION
        + '        annotations:\n          summary: "{{ labels.__class__.__mro__[1].__subclasses__() }}"\n'
    )
    with pytest.raises(RulesError, match="template does not render: access to attribute '__class__'"):
        load_rules([path])


def test_hostile_templates_exit_2_without_traceback_and_in_bounded_time(capsys) -> None:
    files = [f"tests/rules/broken/template_{name}.yaml" for name in ("huge_range", "nested_loops", "huge_string")]
    started = time.monotonic()
    code = main(["rules", "check", *files])
    assert code == 2 and time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "(Hot): annotations.description: template too costly: took longer than 0.5 s" in err
    assert "4 problem(s) in 3 file(s)" in err


def test_absolute_globs_name_rule_files(tmp_path: Path) -> None:
    from rules.files import resolve_rule_files

    (tmp_path / "sub").mkdir()
    for name in ("b.yaml", "a.yaml", "sub/c.yaml", "notes.txt"):
        (tmp_path / name).write_text("")
    assert resolve_rule_files([str(tmp_path / "*.yaml")]) == [tmp_path / "a.yaml", tmp_path / "b.yaml"]
    assert resolve_rule_files([str(tmp_path / "**" / "*.yaml")])[-1] == tmp_path / "sub" / "c.yaml"
