"""The README stays short and true, the docs' links resolve, the site builds strictly, and the
tutorial's commands do what its pages say."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llm_grader import Grader, load_conversations, load_rubric
from llm_grader.rubric import check_rubric

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = sorted(DOCS.rglob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _links(text: str) -> list[str]:
    """The targets of the Markdown links of ``text``, outside code blocks and code spans."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def test_the_readme_is_at_most_200_lines() -> None:
    assert len(README.splitlines()) <= 200


@pytest.mark.parametrize("path", [ROOT / "README.md", *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_that_exists(path: Path) -> None:
    broken = []
    for target in _links(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL, or an anchor on the same page (mkdocs --strict checks those)
        file = target.split("#", 1)[0]
        if not (path.parent / file).exists():
            broken.append(target)
    assert broken == [], f"{path.relative_to(ROOT)}: {broken}"


def test_the_link_check_finds_a_broken_link() -> None:
    # The check above must be able to fail: a link to a missing page is found.
    assert _links("see [x](nowhere.md#a) and `[not](a-link.md)`") == ["nowhere.md#a"]


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [str(p.relative_to(DOCS)) for p in PAGES if f" {p.relative_to(DOCS).as_posix()}" not in nav]
    assert missing == []


def test_the_readme_commands() -> None:
    # The set-up command makes and activates a virtual environment itself (a distro Python has no
    # `python` and refuses a system-wide pip install); the test command is the one .ci/run calls.
    setup = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]"'
    assert f"```bash\n{setup} && llm-grader grade examples/conversations.jsonl" in README
    assert "```bash\npython -m pytest\n```" in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\npython -m pytest\n" in ci and 'mkdocs build --strict -d "$(mktemp -d)"' in ci


def test_the_readme_python_example_runs() -> None:
    (example,) = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(example.splitlines()) <= 25
    done = subprocess.run(
        [sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "c001 部分 0–100 / 100"
    assert "politeness: 差 0/5 “喂”(第1轮)、“不清楚”(第7轮)、“不明白”(第9轮)" in lines
    assert "record_accuracy: 不适用" in lines


def test_the_tutorial_files_are_clean() -> None:
    rubric, problems = check_rubric(TUTORIAL / "my_card.yaml")
    assert rubric is not None and problems == []
    batch = load_conversations(TUTORIAL / "my_chats.csv")
    assert [c.id for c in batch] == ["t001", "t002", "t003"] and not batch.errors


def test_the_tutorial_rules_only_totals_are_the_documented_ones() -> None:
    rubric = load_rubric(TUTORIAL / "my_card.yaml")
    cards = {
        c.conversation_id: c for c in Grader(rubric).grade_many(load_conversations(TUTORIAL / "my_chats.csv"))
    }
    t002 = cards["t002"]
    assert (t002.total_score, t002.total_min, t002.total_max) == (5, 0, 50)
    for page in ("tutorial.md", "zh/tutorial.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        assert "t002(chat) 部分 0–50 / 100" in text
        assert "first_response 首次响应时长:一般 5/10 — 首次回应用时 45 秒" in text


def test_the_tutorial_model_step_runs_offline(tmp_path: Path) -> None:
    # docs/tutorial/offline_model.py: the scripted server plays the model, through the real SDK.
    out = tmp_path / "scores.jsonl"
    command = [
        sys.executable, str(TUTORIAL / "offline_model.py"), "--",
        "llm-grader", "grade", str(TUTORIAL / "my_chats.csv"), "-r", str(TUTORIAL / "my_card.yaml"),
        "-o", str(out), "--no-cache",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cards = {c["conversation_id"]: c for c in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert {k: (c["total_score"], c["complete"], c["fatal"]) for k, c in cards.items()} == {
        "t001": (100, True, False),
        "t002": (5, True, False),
        "t003": (100, True, False),
    }
    assert "9 call(s)" in done.stdout


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed")
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    # The API reference is generated from the docstrings, with the Sphinx roles rendered as code.
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert 'id="llm_grader.Grader.grade_many"' in api and ":class:" not in api
    # The CLI reference carries every command's options, generated from the typer app.
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert "llm-grader review import" in cli and "--poll-interval" in cli
    assert (site / "zh" / "tutorial" / "index.html").exists()
