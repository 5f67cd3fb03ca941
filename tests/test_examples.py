"""Rules-only scorecards of the shipped examples against totals worked out by hand."""

from __future__ import annotations

import pytest

from llm_grader import Conversation, Grader, Rubric, load_rubric


@pytest.fixture(scope="module")
def phone() -> Grader:
    return Grader(load_rubric("phone_answering"))


# phone_answering: 服务保障 20 (both items need metadata.site_audit → excluded, category max 0);
# 接听与规范用语 25 (answer_speed 5 rule, standard_greeting 10 rule, two 5-point model items);
# 倾听与记录 20 (active_listening 10 model, call_notes 10 model, needs notes);
# 诉求处理 15 (model items); 结束通话 20 (offer_more_help 10, thanks_for_calling 5, farewell 5: rules).
# Compliance scale: 符合 1, 基本符合 0.8, 一般符合 0.6, 不符合 0. Model items are unscored (no model).
# Phone-only items (service_hours, service_resources, answer_speed, thanks_for_calling) apply to
# calls only and are excluded on a chat (issue #9.7); the calls below are unchanged by that.


def test_c009_exemplary_call(phone: Grader, by_id: dict[str, Conversation]) -> None:
    card = phone.grade(by_id["c009"])
    # answer 1.0 s → 5; greeting 4/4 → 10; offer 10 + thanks 5 + farewell 5 = 20. Raw 35.
    # Available: 0 + 25 + 20 (notes attached) + 15 + 20 = 80 → 35 × 100 / 80 = 43.75.
    assert card.total_score == 43.75
    # Unscored model items: 5 + 5 + 10 + 10 + 10 + 5 = 45.
    assert card.unscored_points == 45 and not card.complete
    assert card.item("standard_greeting").tier == "compliant"


def test_c010_partial_greeting_slow_pickup(phone: Grader, by_id: dict[str, Conversation]) -> None:
    card = phone.grade(by_id["c010"])
    # answer 12.5 s → 基本符合 0.8 × 5 = 4; greeting 2/4 → 一般符合 0.6 × 10 = 6;
    # no offer of more help 0, no 谢谢您的来电 0, 再见 5. Raw 15; available 80 → 18.75.
    assert card.total_score == 18.75
    assert (card.item("answer_speed").tier, card.item("answer_speed").points) == ("mostly", 4)
    assert card.item("thanks_for_calling").tier == "non_compliant"


def test_c003_forbidden_words_call(phone: Grader, by_id: dict[str, Conversation]) -> None:
    card = phone.grade(by_id["c003"])
    # answer 0.8 s → 5; greeting "喂,你说。" 0/4 → 0; offer 0; thanks 0; 再见 5. Raw 10.
    # No notes: call_notes excluded, 倾听与记录 max 10. Available 0 + 25 + 10 + 15 + 20 = 70.
    # 10 × 100 / 70 = 14.2857.
    assert card.total_score == 14.2857
    assert card.item("call_notes").not_applicable and card.item("call_notes").points is None


def test_c004_chat_without_greeting_or_closing(phone: Grader, by_id: dict[str, Conversation]) -> None:
    card = phone.grade(by_id["c004"])
    # A chat: answer_speed and thanks_for_calling apply to calls only → excluded (接听 max 20,
    # 结束通话 max 15); no notes → 倾听 max 10. Recomputed by hand after thanks_for_calling became
    # call-only (issue #9.7): available 0 + 20 + 10 + 15 + 15 = 60 (was 65).
    # Every rule item 不符合 → raw 0 → total 0 (0 of 60 available, not "no data").
    assert card.total_score == 0
    assert card.item("answer_speed").not_applicable and card.item("thanks_for_calling").not_applicable
    assert card.item("farewell").tier == "non_compliant"


def test_flagship_rules_only(flagship: Rubric, by_id: dict[str, Conversation]) -> None:
    grader = Grader(flagship)
    # c001: first response 8 s ≤ 30 → 好 5; notes attached so nothing excluded → 5.
    assert grader.grade(by_id["c001"]).total_score == 5
    # c002: first response 95 s → 差 0; no notes → record_accuracy (10) excluded → 0 × 100/90 = 0.
    c002 = grader.grade(by_id["c002"])
    assert c002.total_score == 0 and c002.item("first_response_time").measured == 95
    # call_c015 (text file): agent at 1 s → 5; no notes → 5 × 100 / 90 = 5.5556.
    assert grader.grade(by_id["call_c015"]).total_score == 5.5556
    soothing = grader.grade(by_id["c006"]).item("soothing")
    assert soothing.error == "未评分:该项需由模型评判,当前未配置模型(仅规则模式)"
    assert soothing.points is None and soothing.needs_review


def test_service_quality_forbidden_words_group_penalty(by_id: dict[str, Conversation]) -> None:
    card = Grader(load_rubric("service_quality_scoring")).grade(by_id["c003"])
    taboo = card.item("taboo_words")
    assert [o.quote for o in taboo.occurrences or []] == ["喂", "不清楚", "不明白"]
    # The group's items 1–4 are model-judged and unscored here: they earned nothing so far,
    # so the −2 group penalty (cap 2) can take nothing from them.
    assert taboo.deduction == 2 and taboo.points == 0


def test_english_flagship(by_id: dict[str, Conversation]) -> None:
    card = Grader(load_rubric("internet_cs_qa_en")).grade(by_id["c014"])
    item = card.item("first_response_time")
    assert item.tier == "good" and item.rationale == "first response after 7 s (from customer turn 1 to agent turn 2)"
    assert card.item("politeness").error == "not graded: a model-judged item and no model is configured (rules only)"


def test_service_quality_scripted_opening_and_closing(by_id: dict[str, Conversation]) -> None:
    grader = Grader(load_rubric("service_quality_scoring"))
    # Rules only. Excluded on a chat: the five audio items and speaking_rate (语音语调语速 10),
    # 普通话 3, 微笑服务 4 → available 63 − 17 = 46. c001 has the scripted greeting ("您好,很高兴
    # 为您服务") and the full closing (offer, 感谢您的咨询, 再见): 开头语、结束语 3 → 3 × 63 / 46.
    assert grader.grade(by_id["c001"]).total_score == 4.1087
    # c004 has neither → 0 of 46.
    c004 = grader.grade(by_id["c004"])
    assert c004.total_score == 0 and c004.item("opening_closing").tier == "both_missed"
