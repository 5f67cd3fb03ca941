"""Rubrics are untrusted input: bounded YAML, finite numbers, consistent thresholds,
and regex rules that run in linear time or under a time limit."""

from __future__ import annotations

import math
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_grader import Conversation, NotFoundError, RubricError
from llm_grader import _rules as rules_module
from llm_grader._rules import judge_rule
from llm_grader.patterns import Pattern, PatternError, compile_pattern
from llm_grader.patterns import _match as match_module
from llm_grader.rubric import builtin_rubrics, check_rubric, load_rubric, rubric_from_dict, rubric_from_text

from .test_rubric import MINIMAL

# --------------------------------------------------------------------------- helpers


def problems_of(text: str) -> list[str]:
    _, problems = check_rubric("r.yaml", text=text)
    return [str(p) for p in problems]


def alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [x,x,x,x,x,x,x,x,x]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


RULE_ITEM = """\
id: t
name: t
version: "1"
max_score: 5
categories:
  - id: c
    name: c
    items:
      - id: i
        name: i
        judge: rule
        points: 5
        tiers: [{id: good, points: 5}, {id: fair, points: 3}, {id: poor, points: 0}]
        rule:
          type: {rule_type}
{fields}
          thresholds:
{thresholds}
"""


def rule_rubric(rule_type: str, thresholds: list[str], fields: str = "") -> str:
    lines = "\n".join(f"            - {t}" for t in thresholds)
    return (
        RULE_ITEM.replace("{rule_type}", rule_type)
        .replace("{fields}\n", fields)
        .replace("{thresholds}", lines)
    )


def regex_rubric(*words: str) -> str:
    listed = ", ".join(f"'{w}'" for w in words)
    return rule_rubric(
        "forbidden_words",
        ["{max: 0, tier: good}", "{tier: poor}"],
        f"          regex: true\n          words: [{listed}]\n",
    )


def conv(*texts: str) -> Conversation:
    return Conversation.model_validate(
        {"id": "t", "channel": "chat", "turns": [{"speaker": "agent", "text": t} for t in texts]}
    )


# --------------------------------------------------------------------------- 1. YAML limits


def test_an_alias_bomb_stops_at_the_alias_that_crosses_the_limit() -> None:
    # Nine levels expand to 9**9 values; the loader stops counting at 100,000, before expanding.
    assert problems_of(alias_bomb(9)) == [
        "r.yaml:6: alias *a4 expands the document past 100,000 values (aliases expanded)"
    ]
    with pytest.raises(RubricError, match=r"^<text>:6: alias \*a4 expands"):
        rubric_from_text(alias_bomb(9))


def test_a_bomb_file_is_a_rubric_error(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(12), encoding="utf-8")
    with pytest.raises(
        RubricError, match=r"bomb.yaml:6: alias \*a4 expands the document past 100,000 values"
    ):
        load_rubric(path)


def test_aliases_within_the_limits_still_work() -> None:
    text = (
        MINIMAL.replace(
            "        scale: compliance\n",
            textwrap.indent(
                textwrap.dedent("""\
        tiers: &levels
          - {id: good, ratio: 1}
          - {id: poor, ratio: 0}
        """),
                "        ",
            ),
        )
        + "      - {id: other, name: 其他, points: 0, tiers: *levels}\n"
    )
    rubric = rubric_from_text(text)
    assert [t.id for t in rubric.item("other").tiers] == ["good", "poor"]


def test_a_long_text_through_aliases_is_bounded() -> None:
    text = "a: &a " + "x" * 900_000 + "\nb: [" + ",".join(["*a"] * 20) + "]\n"
    assert problems_of(text) == [
        "r.yaml:2: alias *a expands the document past 10,000,000 characters (aliases expanded)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [*a]\n", "r.yaml:1: alias *a is used inside its own anchor: it would contain itself"),
        ("a: " + "[" * 20_000 + "]" * 20_000 + "\n", "r.yaml:1: nested deeper than 64 levels"),
        ("".join("  " * i + "-\n" for i in range(100)), "r.yaml:65: nested deeper than 64 levels"),
        (
            "a: &a " + "[" * 60 + "]" * 60 + "\nb: [[[[[[*a]]]]]]\n",
            "r.yaml:2: alias *a nests the document deeper than 64 levels",
        ),
        ("? [a, b]\n: 1\n", "r.yaml:1: a mapping key must be plain text or a number, not a list or mapping"),
        (
            "id: x\n{a: 1}: 2\n",
            "r.yaml:2: a mapping key must be plain text or a number, not a list or mapping",
        ),
        (
            "id: x\nversion: 2020-02-30\n",
            "r.yaml:2: version: cannot read this value as timestamp: day is out of range for month",
        ),
        ("id: x\nname: !!bool maybe\n", "r.yaml:2: name: cannot read this value as bool"),
        (
            "id: x\nname: a\x00b\n",
            "r.yaml:2: YAML syntax error: character #x0000 is not allowed (special characters are not allowed)",
        ),
    ],
)
def test_unreadable_documents_are_one_problem_with_a_line(text: str, expected: str) -> None:
    assert problems_of(text) == [expected]


def test_a_huge_integer_is_a_problem_not_a_traceback() -> None:
    [problem] = problems_of("id: x\nmax_score: " + "9" * 5000 + "\n")
    assert problem.startswith("r.yaml:2: max_score: cannot read this value as int: Exceeds the limit")


def test_too_large_text_and_file(tmp_path: Path) -> None:
    assert problems_of("#" * 1_000_001) == [
        "r.yaml: has 1,000,001 characters; a rubric may have at most 1,000,000"
    ]
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * 1_000_001)
    for load in (load_rubric, check_rubric):
        with pytest.raises(
            RubricError, match=r"big.yaml: is 1,000,001 bytes; a rubric may have at most 1,000,000$"
        ):
            load(path)


def test_bad_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes(b"id: x\nname: x\nversion: " + "版本".encode("gb18030") + b"\n")
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert str(info.value) == f"{path}:3: is not UTF-8 (invalid start byte); save it as UTF-8"


def test_a_directory_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(NotFoundError):
        load_rubric(tmp_path / "dir.yaml")


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        # A billion levels would be a billion tiers: the scale is checked before it expands.
        (
            "{min: 1, max: 1000000000}",
            "r.yaml:12: categories[0].items[0].scale.LevelScale.max: "
            "Input should be less than or equal to 100",
        ),
        (
            "{min: 5, max: 3}",
            "r.yaml:9: categories[0].items[0].tiers: a scored item needs tiers (or a scale preset)",
        ),
        (
            "{min: [1], max: 5}",
            "r.yaml:12: categories[0].items[0].scale.LevelScale.min: Input should be a valid integer",
        ),
        (
            "{min: -1, max: 0}",
            "r.yaml:12: categories[0].items[0].scale.LevelScale.max: "
            "Input should be greater than or equal to 1",
        ),
    ],
)
def test_level_scales_are_bounded_before_they_expand(scale: str, expected: str) -> None:
    assert expected in problems_of(MINIMAL.replace("scale: compliance", f"scale: {scale}"))


def test_a_list_as_language_does_not_break_scale_expansion() -> None:
    assert "r.yaml:4: language: Input should be 'zh' or 'en'" in problems_of(
        MINIMAL.replace('version: "1"', 'version: "1"\nlanguage: [zh]')
    )


# Mutations of a valid rubric: every outcome is a list of problems, never an exception.
# fmt: off
_FRAGMENTS = ["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "? ", "\n", "  ", "!!int ", "!!bool ",
              "!!timestamp ", ".nan", ".inf", "-.inf", "1e999", "2020-02-30", "<<: *a", "'", '"', "\t",
              "\x00", "\ufeff", "#", "|", ">", "%YAML 1.1\n", "---\n", "...", "!!python/object:os.system "]
# fmt: on


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(MINIMAL)), st.sampled_from(_FRAGMENTS)), min_size=1, max_size=6))
def test_mutated_rubrics_give_problems_never_exceptions(edits: list[tuple[int, str]]) -> None:
    text = MINIMAL
    for position, fragment in edits:
        text = text[:position] + fragment + text[position:]
    rubric, problems = check_rubric("r.yaml", text=text)
    assert rubric is not None or any(p.severity == "error" for p in problems)
    for problem in problems:
        assert "\n" not in str(problem) and problem.file == "r.yaml"


# --------------------------------------------------------------------------- 2. finite numbers


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("max_score: 10", "max_score: {v}", "r.yaml:4: max_score"),
        ("points: 10", "points: {v}", "r.yaml:11: categories[0].items[0].points"),
        ("points: 10", "points: 10\n        weight: {v}", "r.yaml:12: categories[0].items[0].weight"),
        (
            "    name: 服务礼仪\n",
            "    name: 服务礼仪\n    max_points: {v}\n",
            "r.yaml:8: categories[0].max_points",
        ),
        (
            "    name: 服务礼仪\n",
            "    name: 服务礼仪\n    base_score: {v}\n",
            "r.yaml:8: categories[0].base_score",
        ),
        (
            "        scale: compliance\n",
            "        tiers: [{id: a, ratio: {v}}]\n",
            "r.yaml:12: categories[0].items[0].tiers[0].ratio",
        ),
    ],
)
def test_nan_and_infinity_are_rejected(value: str, old: str, new: str, where: str) -> None:
    shown = {".nan": "nan", ".NaN": "nan", ".inf": "inf", "-.inf": "-inf"}[value]
    assert f"{where}: must be a finite number, not {shown}" in problems_of(
        MINIMAL.replace(old, new.replace("{v}", value))
    )


@pytest.mark.parametrize("field", ["min", "max"])
def test_non_finite_thresholds_are_rejected(field: str) -> None:
    text = rule_rubric("first_response_time", [f"{{{field}: .nan, tier: good}}", "{tier: poor}"])
    assert problems_of(text) == [
        f"r.yaml:17: categories[0].items[0].rule.thresholds[0].{field}: must be a finite number, not nan"
    ]


def test_deduction_and_override_numbers_must_be_finite() -> None:
    text = MINIMAL + textwrap.dedent("""\
          - id: deductions
            name: 扣分
            base_score: 0
            items:
              - {id: d, name: d, deduction: {points: .inf, cap: .nan, severe_multiplier: .inf}}
        overrides:
          - {id: o, kind: cap, reason: r, cap: .nan, when: [{item: greeting, tier: [compliant]}]}
        """)
    problems = problems_of(text)
    assert problems == [
        "r.yaml:17: categories[1].items[0].deduction.points: must be a finite number, not inf",
        "r.yaml:17: categories[1].items[0].deduction.severe_multiplier: must be a finite number, not inf",
        "r.yaml:17: categories[1].items[0].deduction.cap: must be a finite number, not nan",
        "r.yaml:19: overrides[0].cap: must be a finite number, not nan",
    ]


def test_plain_data_with_nan_is_rejected() -> None:
    data: dict[str, Any] = yaml.safe_load(MINIMAL)
    data["max_score"] = math.nan
    with pytest.raises(RubricError, match=r"^<dict>: max_score: must be a finite number, not nan$"):
        rubric_from_dict(data)


# --------------------------------------------------------------------------- 3. thresholds


def test_every_shipped_rubric_checks_without_any_problem() -> None:
    for name in builtin_rubrics():
        assert check_rubric(name)[1] == [], name


@pytest.mark.parametrize(
    "thresholds",
    [
        ["{max: 10, tier: good}", "{max: 15, tier: fair}", "{tier: poor}"],  # a ladder
        ["{min: 4, tier: good}", "{min: 3, tier: fair}", "{tier: poor}"],
        ["{min: 3.5, max: 6.5, tier: good}", "{min: 6.5, tier: fair}", "{tier: poor}"],  # a shared end
        ["{min: 3, max: 5, tier: good}", "{max: 10, tier: fair}", "{tier: poor}"],  # around a narrower one
    ],
)
def test_ladders_shared_ends_and_catch_alls_are_fine(thresholds: list[str]) -> None:
    assert problems_of(rule_rubric("first_response_time", thresholds)) == []


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        (
            ["{min: 10, max: 5, tier: good}", "{tier: poor}"],
            "r.yaml:17: categories[0].items[0].rule.thresholds[0]: min 10 is above max 5: no value can match",
        ),
        (
            ["{max: 10, tier: good}", "{min: 2, max: 8, tier: fair}", "{tier: poor}"],
            "r.yaml:18: categories[0].items[0].rule.thresholds[1]: never matches: every value from 2 to 8 is "
            "already taken by thresholds[0], which comes first",
        ),
        (
            ["{max: 10, tier: good}", "{max: 10, tier: fair}", "{tier: poor}"],
            "r.yaml:18: categories[0].items[0].rule.thresholds[1]: never matches: every value up to 10 is "
            "already taken by thresholds[0], which comes first",
        ),
        (
            ["{max: 5, tier: good}", "{min: 5, tier: fair}", "{min: 2, max: 8, tier: poor}"],
            "r.yaml:19: categories[0].items[0].rule.thresholds[2]: never matches: every value from 2 to 8 is "
            "already taken by thresholds[0] and thresholds[1], which come first",
        ),
        (
            ["{tier: poor}", "{max: 10, tier: good}"],
            "r.yaml:18: categories[0].items[0].rule.thresholds[1]: never matches: every value up to 10 is "
            "already taken by thresholds[0], which comes first",
        ),
        (
            ["{min: 0, max: 10, tier: good}", "{min: 5, max: 20, tier: fair}", "{tier: poor}"],
            "r.yaml:18: categories[0].items[0].rule.thresholds[1].min: overlaps thresholds[0], which comes "
            "first and takes every value from 5 to 10: raise min to 10, or reorder the thresholds",
        ),
        (
            ["{min: 10, max: 20, tier: good}", "{min: 0, max: 15, tier: fair}", "{tier: poor}"],
            "r.yaml:18: categories[0].items[0].rule.thresholds[1].max: overlaps thresholds[0], which comes "
            "first and takes every value from 10 to 15: lower max to 10, or reorder the thresholds",
        ),
    ],
)
def test_impossible_shadowed_and_overlapping_thresholds_are_errors(
    thresholds: list[str], expected: str
) -> None:
    rubric, problems = check_rubric("r.yaml", text=rule_rubric("first_response_time", thresholds))
    assert [str(p) for p in problems] == [expected]
    assert rubric is not None and problems[0].severity == "error"
    with pytest.raises(RubricError):
        rubric_from_text(rule_rubric("first_response_time", thresholds))


@pytest.mark.parametrize(
    ("rule_type", "thresholds", "gaps"),
    [
        ("first_response_time", ["{max: 30, tier: good}"], "values above 30"),
        (
            "first_response_time",
            ["{max: 10, tier: good}", "{min: 11, tier: poor}"],
            "values between 10 and 11",
        ),
        (
            "speaking_rate",
            ["{min: 3, max: 6, tier: good}", "{min: 7, tier: poor}"],
            "values below 3 and between 6 and 7",
        ),
        (
            "interruptions",
            ["{min: 1, max: 2, tier: good}", "{min: 5, tier: poor}"],
            "the counts below 1 and between 2 and 5",
        ),
    ],
)
def test_gaps_are_warnings(rule_type: str, thresholds: list[str], gaps: str) -> None:
    rubric, problems = check_rubric("r.yaml", text=rule_rubric(rule_type, thresholds))
    assert rubric is not None
    assert [str(p) for p in problems] == [
        f"r.yaml:16: categories[0].items[0].rule.thresholds: warning: no threshold covers {gaps}: such a "
        "value is not gradable and leaves the item for review (close the gap, or end with a threshold "
        "without min/max)"
    ]


def test_counts_leave_no_gap_between_whole_numbers() -> None:
    assert problems_of(rule_rubric("interruptions", ["{max: 0, tier: good}", "{min: 1, tier: poor}"])) == []
    assert problems_of(
        rule_rubric("first_response_time", ["{max: 0, tier: good}", "{min: 1, tier: poor}"])
    ) == [
        "r.yaml:16: categories[0].items[0].rule.thresholds: warning: no threshold covers values between 0 "
        "and 1: such a value is not gradable and leaves the item for review (close the gap, or end with a "
        "threshold without min/max)"
    ]


# --------------------------------------------------------------------------- 4. regex rules


def test_a_pathological_regex_runs_on_the_linear_engine() -> None:
    pattern = compile_pattern("(a+)+$", regex=True)
    assert pattern.engine == "re2"
    assert problems_of(regex_rubric("(a+)+$")) == []  # safe here, so not refused
    started = time.perf_counter()
    for length in (30, 100_000):
        turn = "a" * (length - 1) + "!"
        assert pattern.spans(turn) == []
        judgement = judge_rule(rubric_from_text(regex_rubric("(a+)+$")).item("i"), conv(turn))
        assert judgement.tier == "good" and judgement.error is None
    assert time.perf_counter() - started < 5  # Python's re takes minutes on the 30 characters


def test_a_nested_repeat_that_needs_backtracking_is_refused() -> None:
    assert problems_of(regex_rubric("(a+)+(?!x)")) == [
        "r.yaml:17: categories[0].items[0].rule.words[0]: regex '(a+)+(?!x)' repeats a group that itself "
        "repeats without limit (like '(a+)+'); it needs the backtracking engine because it uses negative "
        "lookaround ((?!…) or (?<!…)), and there this shape can take exponential time: rewrite it without "
        "the nested repeat (e.g. '(a+)+' as 'a+')"
    ]
    with pytest.raises(PatternError, match="because it uses a backreference"):
        compile_pattern(r"(a)(\1*)*", regex=True)
    for nullable in ("(a*)*", "(a|a)*$", "a*", "(?=a)", r"\b"):
        with pytest.raises(PatternError, match="can match empty text, and an empty match never counts"):
            compile_pattern(nullable, regex=True)


def test_the_rubric_check_command_reports_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "bad.yaml"
    path.write_text(regex_rubric(r"(\d+\s?)+\b"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", "rubric", "check", str(path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        f"{path}:17: categories[0].items[0].rule.words[0]: regex '(\\\\d+\\\\s?)+\\\\b' repeats a group"
        in result.stderr
    )
    assert "because it uses a word boundary (\\b)" in result.stderr


def test_what_re2_cannot_run_backtracks_under_a_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules_module, "TIME_LIMIT", 0.05)
    item = rubric_from_text(regex_rubric("(a|aa)+(?!b)$")).item("i")  # exponential, not a nested repeat
    assert compile_pattern("(a|aa)+(?!b)$", regex=True).engine == "backtracking"
    started = time.perf_counter()
    judgement = judge_rule(item, conv("a" * 60 + "!"))
    assert time.perf_counter() - started < 5
    assert judgement.tier is None and judgement.needs_review
    assert judgement.error == "正则表达式 '(a|aa)+(?!b)$' 匹配超过 0.05 秒,已停止;请简化该表达式"


@pytest.mark.parametrize(
    ("source", "engine"),
    [
        ("您好", "re2"),
        (r"工号\d{3,5}", "re2"),
        (r"(?i:hello)\s+\w+", "re2"),
        ("(a+)+$", "re2"),
        ("喂(?![养奶食药饭])", "backtracking"),
        (r"(?<![听看有么])不清楚", "backtracking"),
        (r"(a)\1", "backtracking"),
        (r"\bsorry\b", "backtracking"),
        ("a++", "backtracking"),
        ("a{2000}", "backtracking"),
    ],
)
def test_engine_choice(source: str, engine: str) -> None:
    assert compile_pattern(source, regex=True).engine == engine
    assert compile_pattern(source, regex=False).engine == "literal"


def test_shipped_regex_rules_keep_their_matches() -> None:
    rubric = load_rubric("service_quality_scoring")
    item = rubric.item("taboo_words")
    j = judge_rule(item, conv("喂,您好", "喂养宠物要注意", "我不清楚", "我听不清楚", "如有不明白的地方请问"))
    assert [(o.turn, o.quote) for o in j.occurrences] == [(1, "喂"), (3, "不清楚")]


def test_chinese_case_and_full_width_match_as_before() -> None:
    pattern = compile_pattern(r"您好|hello\s*world|工号\d+", regex=True)
    assert pattern.engine == "re2"
    # \d and \s are Unicode (full-width digits, the ideographic space), as in Python's re.
    assert pattern.spans("您好,工号１２３,hello\u3000world") == [(0, 2), (3, 8), (9, 20)]
    assert pattern.spans("HeLLo World") == [(0, 11)]
    assert pattern.spans("ＨＥＬＬＯ ＷＯＲＬＤ") == [(0, 11)]  # only in the NFKC form
    literal = compile_pattern("Hello", regex=False)
    assert literal.spans("ＨＥＬＬＯ hello") == [(6, 11)]  # a raw match is found first…
    assert literal.spans("ＨＥＬＬＯ") == [(0, 5)]  # …else the NFKC form's


def test_python_dollar_before_a_final_newline() -> None:
    assert compile_pattern("再见$", regex=True).spans("好的再见\n") == [(2, 4)]
    assert compile_pattern("再见$", regex=True).spans("好的再见") == [(2, 4)]


def test_a_lone_surrogate_does_not_break_matching() -> None:
    assert compile_pattern("您好", regex=True).spans("\ud800您好") == [(1, 3)]


def test_parser_warnings_become_lint_warnings() -> None:
    [problem] = problems_of(regex_rubric("[[:alpha:]]"))
    assert problem == (
        "r.yaml:17: categories[0].items[0].rule.words[0]: warning: regex '[[:alpha:]]': "
        "Possible nested set at position 1"
    )


def test_without_re2_every_regex_backtracks_and_nested_repeats_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compile_pattern.cache_clear()
    monkeypatch.setattr(match_module, "_re2", lambda: None)
    try:
        assert compile_pattern("您好", regex=True).engine == "backtracking"
        with pytest.raises(PatternError, match="because google-re2 is not installed"):
            compile_pattern("(a+)+$", regex=True)
    finally:
        compile_pattern.cache_clear()


# Python's re is the reference: on RE2 a pattern finds exactly the spans Python's re finds.
# fmt: off
_ATOMS = ["a", "k", "s", "i", "ß", "σ", "中", "文", r"\d", r"\w", r"\s", r"\W", r"\S", ".", "[a-k]", "[^a]",
          "[σk]", r"[\dk]", r"[^\W\d]", "^", "$", "(?i:K)", "(?-i:k)", "ı", "İ", "[ſ-ǅ]", "(?s:.)", "(?m:^)",
          "(?m:$)", r"\A", r"\Z", "[０-９]", "ｋ", "\u212a", "\u017f"]  # the last: KELVIN SIGN, LONG S
# fmt: on
_TEXT = st.text(alphabet=list("aAkKsSσςΣiIıİß中文１２３12 \n\t\u3000_.ǅǆ\u212a\u017f①٣ｋＫ"), max_size=14)


def _regexes() -> st.SearchStrategy[str]:
    return st.recursive(
        st.sampled_from(_ATOMS),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map(lambda p: f"(?:{p[0]}|{p[1]})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{1,3}", "+?", "{2}", "{,2}"])).map(
                lambda p: f"(?:{p[0]}){p[1]}"
            ),
        ),
        max_leaves=6,
    )


@settings(max_examples=400, deadline=None)
@given(_regexes(), st.lists(_TEXT, min_size=1, max_size=4))
def test_re2_finds_what_pythons_re_finds(source: str, texts: list[str]) -> None:
    try:
        pattern: Pattern = compile_pattern(source, regex=True)
    except PatternError:
        return
    reference = re.compile(source, re.IGNORECASE)
    for text in texts:
        expected = [m.span() for m in reference.finditer(text) if m.end() > m.start()]
        if pattern.engine == "re2" and not text.endswith("\n"):
            assert pattern._find(text, None) == expected, (source, text)


# --------------------------------------------------------------------------- 5. the docs


def test_the_docs_state_the_limits_the_code_applies() -> None:
    from llm_grader import _yaml as _yaml
    from llm_grader.patterns import TIME_LIMIT

    page = (Path(__file__).resolve().parent.parent / "docs" / "rubrics.md").read_text(encoding="utf-8")
    section = page.split("## Rubric limits")[1].split("\n## ")[0]
    for number in (_yaml.MAX_SIZE, _yaml.MAX_VALUES, _yaml.MAX_EXPANDED_CHARACTERS):
        assert f"{number:,}" in section
    assert f"nested at most {_yaml.MAX_DEPTH} levels" in section
    assert f"time limit of {TIME_LIMIT:g} s per rule" in section
