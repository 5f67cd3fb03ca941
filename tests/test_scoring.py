"""Scoring: hand-computed cases and properties (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_grader.rubric import rubric_from_text
from llm_grader.scoring import score
from llm_grader.types import Judgement, Occurrence

CARD = rubric_from_text("""\
id: mixed
name: 混合评分表
version: "1"
max_score: 100
categories:
  - id: quality
    name: 服务质量
    max_points: 40
    items:
      - id: accuracy
        name: 准确
        points: 20
        tiers: [{id: good, points: 20}, {id: fair, points: 12}, {id: poor, points: 0}]
        flags: [{id: wrong_overall, description: "整体解答错误?"}]
      - id: soothing
        name: 安抚
        points: 10
        tiers: [{id: good, points: 10}, {id: fair, points: 6}, {id: poor, points: 0}]
        not_applicable: {when: 无情绪波动, policy: full}
      - id: record
        name: 录入
        points: 10
        tiers: [{id: good, points: 10}, {id: poor, points: 0}]
        applicability: {requires: [notes], policy: exclude}
  - id: language
    name: 服务用语
    max_points: 20
    items:
      - id: polite
        name: 礼貌用语
        points: 8
        scale: compliance
      - id: greeting
        name: 开头语
        points: 6
        scale: binary
      - id: closing
        name: 结束语
        points: 6
        scale: binary
      - id: taboo_words
        name: 服务禁语
        judge: rule
        deduction: {points: 2, applies_to: [polite, greeting]}
        rule: {type: forbidden_words, words: [喂, 不清楚]}
  - id: norms
    name: 服务规范
    base_score: 40
    max_points: 40
    items:
      - id: hang_up
        name: 先挂机
        deduction: {points: 6, severe_multiplier: 2}
      - id: rude
        name: 态度
        deduction: {points: 10, cap: 20}
overrides:
  - {id: wrong_fatal, kind: fatal, reason: 解答错误, when: [{item: accuracy, flag: wrong_overall}]}
  - {id: poor_cap, kind: cap, cap: 60, reason: 用语差, when: [{item: polite, tier: [non_compliant]}]}
""")


def occ(n: int, severe: int = 0) -> tuple[Occurrence, ...]:
    return tuple(
        Occurrence(turn=i + 1, speaker="agent", quote="x", start_char=0, end_char=1, severe=i < severe)
        for i in range(n)
    )


def test_hand_computed_total_with_everything() -> None:
    card = score(CARD, [
        Judgement(item_id="accuracy", tier="fair"),            # 12
        Judgement(item_id="soothing", not_applicable=True),    # N/A full → 10
        Judgement(item_id="record", tier="good"),              # 10 → quality 32 / 40
        Judgement(item_id="polite", tier="mostly"),            # 0.8 × 8 = 6.4
        Judgement(item_id="greeting", tier="pass"),            # 6
        Judgement(item_id="closing", tier="fail"),             # 0
        Judgement(item_id="taboo_words", occurrences=occ(3)),  # 3 × 2 = 6 from polite+greeting (12.4) → language 6.4
        Judgement(item_id="hang_up", occurrences=occ(2, severe=1)),  # 6×2 + 6 = 18
        Judgement(item_id="rude", occurrences=occ(3)),         # 30 capped at 20 → norms 40 − 38 = 2
    ], conversation_id="x")
    # 32 + 6.4 + 2 = 40.4
    assert card.total_score == 40.4
    assert [(c.id, c.score, c.max_points) for c in card.categories] == [
        ("quality", 32, 40), ("language", 6.4, 20), ("norms", 2, 40)]
    assert card.item("taboo_words").points == -6 and card.item("rude").deduction == 20
    assert card.complete and not card.fatal and card.overrides == []


def test_group_penalty_never_takes_more_than_the_group_earned() -> None:
    card = score(CARD, [
        Judgement(item_id="polite", tier="partly"),            # 4.8
        Judgement(item_id="greeting", tier="fail"),            # 0
        Judgement(item_id="closing", tier="pass"),             # 6 — outside the group
        Judgement(item_id="taboo_words", occurrences=occ(5)),  # 10, limited to 4.8
    ], conversation_id="x")
    assert card.item("taboo_words").points == -4.8
    assert card.categories[1].score == 6


def test_deductions_floor_at_zero() -> None:
    card = score(CARD, [Judgement(item_id="hang_up", occurrences=occ(5, severe=5))], conversation_id="x")
    assert card.categories[2].score == 0


def test_excluded_item_rescales_the_total() -> None:
    judgements = [Judgement(item_id=i, tier=t) for i, t in [
        ("accuracy", "good"), ("soothing", "good"), ("polite", "compliant"), ("greeting", "pass"),
        ("closing", "pass")]]
    judgements += [Judgement(item_id="record", not_applicable=True, na_policy="exclude"),
                   Judgement(item_id="taboo_words"), Judgement(item_id="hang_up"), Judgement(item_id="rude")]
    card = score(CARD, judgements, conversation_id="x")
    # Everything full except the excluded 10-point item: 90 of 90 available → 100.
    assert card.categories[0].max_points == 30
    assert card.total_score == 100


def test_unscored_item_is_neither_zero_nor_full() -> None:
    card = score(CARD, [Judgement(item_id="accuracy", tier="good"),
                        Judgement.unscored("soothing", "model timed out")], conversation_id="x")
    result = card.item("soothing")
    assert result.points is None and result.error == "model timed out" and result.needs_review
    assert not card.complete
    # unscored: soothing 10 and every item without a judgement (record 10, three 6-8 items)
    assert card.unscored_points == 10 + 10 + 8 + 6 + 6
    assert card.categories[0].unscored_items == ["soothing", "record"]


def test_unknown_tier_is_an_error_not_a_score() -> None:
    card = score(CARD, [Judgement(item_id="accuracy", tier="excellent")], conversation_id="x")
    assert card.item("accuracy").error == "tier 'excellent' is not one of good, fair, poor"


def test_fatal_override_zeroes_the_total_with_its_evidence() -> None:
    evidence = occ(1)
    card = score(CARD, [Judgement(item_id="accuracy", tier="poor", flags={"wrong_overall": True},
                                  evidence=evidence)], conversation_id="x")
    assert card.fatal and card.total_score == 0
    assert [(o.id, o.kind, o.reason, o.items) for o in card.overrides] == [
        ("wrong_fatal", "fatal", "解答错误", ["accuracy"])]
    assert card.overrides[0].evidence == list(evidence)


def test_cap_override() -> None:
    judgements = [Judgement(item_id=i, tier=t) for i, t in [
        ("accuracy", "good"), ("soothing", "good"), ("record", "good"), ("polite", "non_compliant"),
        ("greeting", "pass"), ("closing", "pass")]]
    judgements += [Judgement(item_id=i) for i in ("taboo_words", "hang_up", "rude")]
    card = score(CARD, judgements, conversation_id="x")
    # 40 + 12 + 40 = 92, capped at 60
    assert card.total_score == 60 and not card.fatal
    assert card.overrides[0].id == "poor_cap"


# ----------------------------------------------------------------------------- properties

SCORED = [(i.id, [t.id for t in i.tiers]) for _, i in CARD.items() if not i.is_deduction]
DEDUCTIONS = [i.id for _, i in CARD.items() if i.is_deduction]


@st.composite
def judgements(draw: st.DrawFn) -> dict[str, Judgement]:
    out: dict[str, Judgement] = {}
    for item_id, tiers in SCORED:
        kind = draw(st.sampled_from(["tier", "tier", "tier", "na", "na_exclude", "unscored"]))
        if kind == "tier":
            flags = {"wrong_overall": draw(st.booleans())} if item_id == "accuracy" else {}
            out[item_id] = Judgement(item_id=item_id, tier=draw(st.sampled_from(tiers)), flags=flags)
        elif kind == "na":
            out[item_id] = Judgement(item_id=item_id, not_applicable=True, na_policy="full")
        elif kind == "na_exclude":
            out[item_id] = Judgement(item_id=item_id, not_applicable=True, na_policy="exclude")
        else:
            out[item_id] = Judgement.unscored(item_id, "failed")
    for item_id in DEDUCTIONS:
        out[item_id] = Judgement(item_id=item_id, occurrences=occ(draw(st.integers(0, 6)), draw(st.integers(0, 6))))
    return out


@settings(max_examples=300, deadline=None)
@given(judgements())
def test_total_stays_within_zero_and_max(js: dict[str, Judgement]) -> None:
    card = score(CARD, js, conversation_id="x")
    assert card.total_score is None or 0 <= card.total_score <= CARD.max_score
    for category in card.categories:
        assert 0 <= category.score <= category.max_points


@settings(max_examples=300, deadline=None)
@given(judgements(), st.data())
def test_raising_a_tier_never_lowers_the_total_unless_an_override_fires(
    js: dict[str, Judgement], data: st.DataObject
) -> None:
    graded = [i for i, j in js.items() if j.tier is not None]
    if not graded:
        return
    item_id = data.draw(st.sampled_from(graded))
    item = CARD.item(item_id)
    current = item.tier_points(item.tier(js[item_id].tier or ""))
    higher = [t.id for t in item.tiers if item.tier_points(t) > current]
    if not higher:
        return
    raised = {**js, item_id: Judgement(item_id=item_id, tier=data.draw(st.sampled_from(higher)),
                                       flags=js[item_id].flags)}
    before, after = score(CARD, js, conversation_id="x"), score(CARD, raised, conversation_id="x")
    if before.overrides or after.overrides:
        return
    assert before.total_score is not None and after.total_score is not None
    assert after.total_score >= before.total_score - 1e-9


@settings(max_examples=200, deadline=None)
@given(judgements())
def test_not_applicable_follows_its_policy(js: dict[str, Judgement]) -> None:
    card = score(CARD, js, conversation_id="x")
    for item_id, judgement in js.items():
        result = card.item(item_id)
        if judgement.not_applicable and judgement.na_policy == "full" and item_id not in DEDUCTIONS:
            assert result.points == CARD.item(item_id).max_points
        if judgement.not_applicable and judgement.na_policy == "exclude":
            assert result.points is None and result.error is None
    excluded = sum(CARD.item(i).max_points for i, j in js.items() if j.na_policy == "exclude")
    if excluded == 0:
        assert sum(c.max_points for c in card.categories) == CARD.max_score
    else:
        assert sum(c.max_points for c in card.categories) < CARD.max_score
