"""``rubric list`` and ``rubric init`` (issue 19.8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_grader.cli import app
from llm_grader.rubric import builtin_rubrics, check_rubric, load_rubric

runner = CliRunner()


def test_rubric_list_shows_every_built_in_card_with_name_version_and_language() -> None:
    result = runner.invoke(app, ["rubric", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.startswith("│ ")}
    assert set(rows) == set(builtin_rubrics()) and "rules_only_qa" in rows
    for name, line in rows.items():
        card = load_rubric(name)
        cells = [c.strip() for c in line.split("│")[1:-1]]
        assert cells[:4] == [card.id, card.name, card.version, card.language]


def test_rubric_init_writes_a_small_card_that_passes_check_and_replaces_nothing(tmp_path: Path) -> None:
    out = tmp_path / "team-card.yaml"
    result = runner.invoke(app, ["rubric", "init", "-o", str(out)])
    assert result.exit_code == 0, result.output
    card, problems = check_rubric(out)
    assert card is not None and problems == [] and card.id == "team_card" and card.version == "0.1"
    assert {item.judge for _, item in card.items()} == {"rule", "model"}
    check = runner.invoke(app, ["rubric", "check", str(out)])
    assert check.exit_code == 0 and "OK" in check.output
    before = out.read_text(encoding="utf-8")
    again = runner.invoke(app, ["rubric", "init", "-o", str(out)])
    assert again.exit_code == 1 and "already exists" in str(again.exception)  # main() prints it, exit 1
    assert out.read_text(encoding="utf-8") == before


@pytest.mark.parametrize("name", sorted(builtin_rubrics()))
def test_rubric_init_from_a_built_in_card_is_a_renamed_copy_that_passes_check(tmp_path: Path, name: str) -> None:
    out = tmp_path / "mine.yaml"
    result = runner.invoke(app, ["rubric", "init", "--from", name, "-o", str(out)])
    assert result.exit_code == 0, result.output
    card, problems = check_rubric(out)
    original = load_rubric(name)
    assert card is not None and not [p for p in problems if p.severity == "error"]
    assert (card.id, card.version) == (f"my_{name}", "0.1")
    assert card.max_score == original.max_score and [i.id for _, i in card.items()] == [
        i.id for _, i in original.items()
    ]


def test_rubric_init_from_an_unknown_card_names_the_built_in_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rubric", "init", "--from", "nope", "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 1 and "internet_cs_qa" in str(result.exception)
    assert not (tmp_path / "x.yaml").exists()
