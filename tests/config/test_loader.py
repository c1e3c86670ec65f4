"""``load_model``: the one YAML-to-model loader behind config, rule and rule-test files."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.fields import Duration, Strict
from config.loader import load_model


class Small(Strict):
    name: str
    every: Duration = 60


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(text)
    return path


def test_valid_file_gives_the_model_its_data_and_lines(tmp_path: Path) -> None:
    loaded = load_model(_write(tmp_path, "name: a\nevery: 2m\n"), Small, expected="a mapping")
    assert loaded.model == Small(name="a", every=120)
    assert loaded.data == {"name": "a", "every": "2m"}
    assert loaded.lines[("every",)] == 2
    assert loaded.problem(("every",), "too slow") == f"{tmp_path}/small.yaml:2: every: too slow"


def test_every_problem_is_pointed(tmp_path: Path) -> None:
    path = _write(tmp_path, "every: soon\nnmae: a\n")
    with pytest.raises(ConfigError) as caught:
        load_model(path, Small, expected="a mapping")
    assert caught.value.problems == [
        f"{path}:1: name: required key is missing",
        f"{path}:1: every: expected a duration like '3m', got 'soon'",
        f"{path}:2: nmae: unknown key, did you mean 'name'? (allowed: every, name)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; expected a mapping with 'name'"),
        ("- a\n", "expected a mapping with 'name', got list"),
        ("name: [\n", None),
    ],
)
def test_top_level_problems(tmp_path: Path, text: str, message: str | None) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_model(path, Small, expected="a mapping with 'name'")
    if message is None:
        assert "invalid YAML" in str(caught.value)
    else:
        assert str(caught.value) == f"{path}:1: (top level): {message}"


def test_an_empty_file_may_stand_for_a_default(tmp_path: Path) -> None:
    loaded = load_model(_write(tmp_path, "# nothing\n"), Small, expected="a mapping", empty={"name": "x"})
    assert loaded.model.name == "x"


def test_labeller_names_the_element(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: a\nevery: never\n")
    with pytest.raises(ConfigError) as caught:
        load_model(path, Small, expected="a mapping", labeller=lambda p, data: f"{data['name']}/{p[-1]}")
    assert str(caught.value) == f"{path}:2: a/every: expected a duration like '3m', got 'never'"
