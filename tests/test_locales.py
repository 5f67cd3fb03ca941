"""The message catalogs (llm_grader/locales/*.yaml) are complete, used, and reached by literal keys.

Checked statically, like the prompt templates: every key is in both languages; every key is
used by the package's code or templates; no key is built at run time (an f-string, ``+`` or
``.format`` as the key of a message call), so a literal or an explicit mapping names each one;
a literal key of a call is in the catalog, and the call passes every placeholder.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from llm_grader import _messages as messages
from llm_grader._messages import AUDIENCES, LANGUAGES, catalog, catalog_files, placeholders, text
from llm_grader.errors import LLMGraderError

PACKAGE = Path(messages.__file__).resolve().parent
CALLS = {"text", "t", "_t", "say", "_say"}
"""Functions (and methods) whose first argument is a message key."""
TEMPLATE_KEY = re.compile(r"""\bt\(\s*(['"])([^'"]+)\1""")
TEMPLATE_BUILT = re.compile(r"""\bt\(\s*['"][^'"]*['"]\s*~""")
KEY_SHAPE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


def _calls(tree: ast.AST) -> list[ast.Call]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in CALLS:
                found.append(node)
    return found


def _sources() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def _templates() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted((PACKAGE / "templates").rglob("*.j2"))]


def test_every_catalog_loads_with_the_same_keys_in_each_language() -> None:
    assert all(path.is_file() for path in catalog_files().values())
    assert set(AUDIENCES) == {"rules", "cli", "report", "review"}
    keys = [set(catalog(lang)) for lang in LANGUAGES]
    assert keys[0] == keys[1] and len(keys[0]) > 200
    for key in keys[0]:
        assert placeholders(catalog("zh")[key]) <= placeholders(catalog("en")[key]), key


def test_no_key_is_built_at_run_time() -> None:
    built = []
    for path, tree in _sources():
        for call in _calls(tree):
            key = call.args[0]
            if isinstance(key, (ast.JoinedStr, ast.BinOp)) or (
                isinstance(key, ast.Call) and isinstance(key.func, ast.Attribute) and key.func.attr == "format"
            ):
                built.append(f"{path.relative_to(PACKAGE)}:{call.lineno}")
    for path, source in _templates():
        built += [f"{path.relative_to(PACKAGE)}: {m.group(0)}" for m in TEMPLATE_BUILT.finditer(source)]
    assert built == []


def test_every_literal_key_is_in_the_catalog_with_its_placeholders() -> None:
    known = catalog("zh")
    problems = []
    for path, tree in _sources():
        if path.name == "messages.py":
            continue
        for call in _calls(tree):
            key = call.args[0]
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str) and KEY_SHAPE.match(key.value)):
                continue
            where = f"{path.relative_to(PACKAGE)}:{call.lineno} {key.value}"
            if key.value not in known:
                problems.append(f"{where}: not in the catalog")
            elif not any(k.arg is None for k in call.keywords):  # no **values: the names are all here
                given = {k.arg for k in call.keywords}
                needed = placeholders(known[key.value]) | placeholders(catalog("en")[key.value])
                if needed - given:
                    problems.append(f"{where}: lacks {sorted(needed - given)}")
    for path, source in _templates():
        problems += [
            f"{path.relative_to(PACKAGE)}: {m.group(2)}: not in the catalog"
            for m in TEMPLATE_KEY.finditer(source)
            if m.group(2) not in known
        ]
    assert problems == []


def test_every_key_is_used() -> None:
    used: set[str] = set()
    for path, tree in _sources():
        if path.name == "messages.py":
            continue
        used |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    for _, source in _templates():
        used |= {m.group(2) for m in TEMPLATE_KEY.finditer(source)}
    assert sorted(set(catalog("zh")) - used) == []


def test_a_broken_catalog_fails_naming_file_line_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in catalog_files().values():
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(messages, "CATALOG_DIR", tmp_path)
    cases = {
        "cli.en.yaml": ('cli.error: "error: {message}"', 'cli.error: "error"', "cli.en.yaml", "placeholders ['message'] of the zh text are missing"),
        "cli.zh.yaml": ('cli.interrupted: "interrupted"\n', "", "cli.en.yaml", "cli.interrupted: missing in the zh catalog"),
        "review.zh.yaml": ('review.skip: "跳到正文"', 'review.skip: "跳到正文"\nrule.agent: "客服"', "review.zh.yaml", "rule.agent: belongs in rules.zh.yaml"),
        "rules.zh.yaml": ('rule.agent: "客服"', 'rule.agent: "客服 {who.name}"', "rules.zh.yaml", "placeholder {who.name} is not a name"),
    }
    for name, (old, new, named, message) in cases.items():
        original = (tmp_path / name).read_text(encoding="utf-8")
        assert old in original
        (tmp_path / name).write_text(original.replace(old, new, 1), encoding="utf-8")
        messages._catalogs.cache_clear()
        try:
            with pytest.raises(LLMGraderError, match=rf"{re.escape(named)}:\d+: .*{re.escape(message)}"):
                text("cli.error", "zh", message="x")
        finally:
            (tmp_path / name).write_text(original, encoding="utf-8")
    messages._catalogs.cache_clear()


def test_unknown_language_falls_back_to_chinese_and_old_names_still_work() -> None:
    assert text("review.back", "fr") == text("review.back", "zh") == "← 返回队列"
    assert text("review.back", "en") == "← Back to the queue"
    assert messages.MESSAGES["review.back"] == messages.Message("← 返回队列", "← Back to the queue")


def test_the_wheel_ships_the_catalogs() -> None:
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'packages = ["llm_grader"]' in pyproject  # hatch ships every file of the package, locales/ too
    assert not any("locales" in line for line in (PACKAGE.parent / ".gitignore").read_text().splitlines())
