from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from llm_grader import NotFoundError, Rubric, RubricError
from llm_grader.rubric import (
    RULE_TYPES,
    builtin_rubrics,
    check_rubric,
    load_rubric,
    resolve_rubric,
    rubric_from_dict,
    rubric_from_text,
    rubric_json_schema,
)

from .conftest import DATA, ROOT

MINIMAL = """\
id: tiny
name: 小表
version: "1"
max_score: 10
categories:
  - id: etiquette
    name: 服务礼仪
    items:
      - id: greeting
        name: 开头语
        points: 10
        scale: compliance
"""


def problems_of(text: str) -> list[str]:
    _, problems = check_rubric("r.yaml", text=text)
    return [str(p) for p in problems]


def test_every_builtin_rubric_checks_clean_of_errors() -> None:
    names = builtin_rubrics()
    assert {"internet_cs_qa", "internet_cs_qa_en", "service_norms_deductions",
            "service_quality_scoring", "phone_answering"} <= set(names)
    for name in names:
        rubric, problems = check_rubric(name)
        assert rubric is not None, name
        assert [p for p in problems if p.severity == "error"] == [], name


def test_builtin_rubrics_add_up_as_the_cards_intend() -> None:
    for name in builtin_rubrics():
        rubric = load_rubric(name)
        assert sum(c.maximum for c in rubric.categories) == rubric.max_score
    flagship = load_rubric("internet_cs_qa")
    assert flagship.max_score == 100
    # Garble resolved: the two single-item 10-point categories score 10 / 6 / 0.
    assert [flagship.item("norm_compliance").tier_points(t) for t in flagship.item("norm_compliance").tiers] == [10, 6, 0]


def test_english_flagship_mirrors_the_chinese_one() -> None:
    zh, en = load_rubric("internet_cs_qa"), load_rubric("internet_cs_qa_en")
    assert en.language == "en"
    assert [(c.id, [(i.id, i.max_points, [t.id for t in i.tiers]) for i in c.items]) for c in zh.categories] == [
        (c.id, [(i.id, i.max_points, [t.id for t in i.tiers]) for i in c.items]) for c in en.categories
    ]
    assert [(o.id, o.kind) for o in zh.overrides] == [(o.id, o.kind) for o in en.overrides]


def test_every_problem_is_reported_at_once_with_file_line_and_field() -> None:
    _, problems = check_rubric(DATA / "bad_rubric.yaml")
    f = str(DATA / "bad_rubric.yaml")
    assert [str(p) for p in problems] == [
        f"{f}:4: max_score: categories add up to 10, not the declared total 100",
        f"{f}:13: categories[0].items[0].colour: unknown field 'colour'",
        f"{f}:15: categories[0].items[0].tiers[0].points: tier 'good' gives 6 points, above the item's maximum 5",
        f"{f}:17: categories[0].items[1].id: duplicate id 'politeness'",
        f"{f}:27: categories[0].items[1].rule.words[0]: regex '喂(' does not compile: "
        "missing ), unterminated subpattern at position 1",
        f"{f}:30: categories[0].items[1].rule.thresholds[1].tier: unknown tier 'bad'; the item's tiers: good, poor",
        f"{f}:36: overrides[0].when[0].item: unknown item 'politness'; valid items: politeness",
        f"{f}:37: overrides[0].when[1].flag: item 'politeness' declares no flag 'taboo'; its flags: none declared",
    ]


def test_loading_a_bad_rubric_raises_with_every_error() -> None:
    with pytest.raises(RubricError) as info:
        load_rubric(DATA / "bad_rubric.yaml")
    assert len(info.value.problems) == 8


def test_yaml_syntax_error_names_the_line() -> None:
    assert problems_of("id: x\nname: [unclosed\n") == [
        "r.yaml:3: YAML syntax error: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)"
    ]


def test_duplicate_yaml_key() -> None:
    assert problems_of(MINIMAL.replace('version: "1"', 'version: "1"\nversion: "2"'))[0] == (
        "r.yaml:4: version: duplicate key; the later value would silently win"
    )


def test_not_a_mapping() -> None:
    assert problems_of("- a\n- b\n") == ["r.yaml:1: a rubric must be a YAML mapping with id, name, categories…"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("scale: compliance", "scale: compliance\n        rule: {type: bogus}"),
         "r.yaml:13: categories[0].items[0].rule: unknown rule type; valid types: phrases, forbidden_words, "
         "first_response_time, longest_agent_gap, interruptions, speaking_rate, combined"),
        (("points: 10", "points: -1"),
         "r.yaml:11: categories[0].items[0].points: Input should be greater than or equal to 0"),
        (("max_score: 10", "max_score: 12"), "r.yaml:4: max_score: categories add up to 10, not the declared total 12"),
        (("        scale: compliance\n", ""), "r.yaml:9: categories[0].items[0].tiers: a scored item needs tiers (or a scale preset)"),
        (("id: greeting", "id: greeting-1"),
         "r.yaml:9: categories[0].items[0].id: String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$'"),
    ],
)
def test_single_problems(change: tuple[str, str], expected: str) -> None:
    assert expected in problems_of(MINIMAL.replace(*change))


def test_override_conditions_are_checked() -> None:
    text = MINIMAL + textwrap.dedent("""\
        overrides:
          - id: o1
            kind: cap
            reason: r
            when: [{item: greeting, flag: x, tier: [compliant]}]
          - id: o2
            kind: fatal
            cap: 3
            reason: r
            when: [{item: greeting, tier: [great]}]
          - id: o3
            kind: zero_score
            reason: r
            when: [{item: greeting, min_occurrences: 1}]
        """)
    assert problems_of(text) == [
        "r.yaml:17: overrides[0].when[0]: give exactly one of 'flag', 'tier', 'min_occurrences' (got flag, tier)",
        "r.yaml:18: overrides[1]: 'cap' is required for kind 'cap' and only allowed there",
    ]
    fixed = text.replace("kind: cap\n", "kind: cap\n    cap: 60\n").replace("flag: x, ", "")
    assert problems_of(fixed) == [
        "r.yaml:19: overrides[1]: 'cap' is required for kind 'cap' and only allowed there",
    ]
    fixed = fixed.replace("    cap: 3\n", "")
    assert problems_of(fixed) == [
        "r.yaml:16: overrides[0].cap: cap 60 is above max_score 10",
        "r.yaml:22: overrides[1].when[0].tier: item 'greeting' has no tier 'great'; its tiers: "
        "compliant, mostly, partly, non_compliant",
        "r.yaml:26: overrides[2].when[0].min_occurrences: item 'greeting' counts no occurrences "
        "(not a deduction or rule item)",
    ]


def test_warnings_do_not_fail() -> None:
    text = MINIMAL.replace("    name: 服务礼仪\n", "    name: 服务礼仪\n    max_points: 12\n").replace(
        "max_score: 10", "max_score: 12")
    rubric, problems = check_rubric("r.yaml", text=text)
    assert rubric is not None
    assert [str(p) for p in problems] == [
        "r.yaml:8: categories[0].max_points: warning: items add up to 10, less than the category maximum 12"
    ]


def test_scale_presets_expand_to_tiers() -> None:
    rubric = rubric_from_text(MINIMAL)
    item = rubric.item("greeting")
    assert [(t.id, t.label, item.tier_points(t)) for t in item.tiers] == [
        ("compliant", "符合", 10), ("mostly", "基本符合", 8), ("partly", "一般符合", 6), ("non_compliant", "不符合", 0)
    ]
    levels = rubric_from_text(MINIMAL.replace("scale: compliance", "scale: {min: 1, max: 5}"))
    assert [(t.id, levels.item("greeting").tier_points(t)) for t in levels.item("greeting").tiers] == [
        ("5", 10), ("4", 8), ("3", 6), ("2", 4), ("1", 2)
    ]


def test_unknown_builtin_lists_the_choices() -> None:
    with pytest.raises(NotFoundError, match=r"no built-in rubric 'nope'; built-in rubrics: .*internet_cs_qa"):
        load_rubric("nope")


def test_unknown_item_lists_valid_items(flagship: Rubric) -> None:
    with pytest.raises(NotFoundError) as info:
        flagship.item("nope")
    assert str(info.value).startswith("rubric 'internet_cs_qa' has no item 'nope'; valid items: politeness, ")


def test_shipped_json_schema_is_current() -> None:
    shipped = (ROOT / "rubrics" / "rubric.schema.json").read_text(encoding="utf-8")
    assert shipped == rubric_json_schema(), "run: llm-grader rubric schema -o rubrics/rubric.schema.json"


def test_one_resolver_for_names_and_paths() -> None:
    assert resolve_rubric("internet_cs_qa") == builtin_rubrics()["internet_cs_qa"]
    assert resolve_rubric("my_card.yml") == Path("my_card.yml")
    assert resolve_rubric("cards/my_card") == Path("cards/my_card")
    assert resolve_rubric(Path("internet_cs_qa")) == Path("internet_cs_qa")
    # check_rubric and load_rubric resolve alike: a backslash makes a path on both.
    for load in (load_rubric, check_rubric):
        with pytest.raises(NotFoundError, match=r"^rubric file 'cards\\\\nope' does not exist$"):
            load("cards\\nope")


def test_problems_name_the_rubric_as_given() -> None:
    broken = (DATA / "bad_rubric.yaml").read_text(encoding="utf-8")
    with pytest.raises(RubricError) as info:
        rubric_from_text(broken, file="bad.yaml")
    assert {p.file for p in info.value.problems} == {"bad.yaml"}


def test_loading_plain_data_leaves_it_unchanged() -> None:
    data = yaml.safe_load(MINIMAL)
    before = repr(data)
    rubric = rubric_from_dict(data)
    assert repr(data) == before
    assert [t.id for t in rubric.item("greeting").tiers] == ["compliant", "mostly", "partly", "non_compliant"]


def test_rule_types_come_from_the_rule_classes() -> None:
    assert RULE_TYPES == ("phrases", "forbidden_words", "first_response_time", "longest_agent_gap",
                          "interruptions", "speaking_rate", "combined")


def test_the_documented_rubric_example_passes_the_linter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import re
    from pathlib import Path

    from llm_grader.rubric import check_rubric

    page = (Path(__file__).resolve().parent.parent / "docs" / "rubrics.md").read_text(encoding="utf-8")
    example = re.search(r"# Rubric format.*?```yaml\n(.*?)```", page, re.S)
    assert example is not None
    path = tmp_path / "example.yaml"
    path.write_text(example.group(1), encoding="utf-8")
    rubric, problems = check_rubric(path)
    assert rubric is not None and problems == [], problems
