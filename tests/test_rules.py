"""Deterministic rules on small hand-made conversations and on the shipped examples."""

from __future__ import annotations

import pytest

from llm_grader import Conversation, Rubric
from llm_grader._rules import applicability_reason, judge_rule
from llm_grader.rubric import rubric_from_text

RULES = rubric_from_text("""\
id: rules
name: 规则
version: "1"
max_score: 30
categories:
  - id: c
    name: 规则项
    items:
      - id: greeting
        name: 开头语
        judge: rule
        points: 5
        scale: compliance
        rule:
          type: phrases
          window: {first: 1}
          phrases: [[您好, 你好], [管理处, 这里是], [号客服员, 工号], [有什么可以帮]]
          thresholds:
            - {min: 4, tier: compliant}
            - {min: 3, tier: mostly}
            - {min: 2, tier: partly}
            - {tier: non_compliant}
      - id: closing
        name: 结束语
        judge: rule
        points: 5
        scale: binary
        rule:
          type: phrases
          window: {last: 2}
          phrases: [[再见, goodbye]]
          thresholds: [{min: 1, tier: pass}, {tier: fail}]
      - id: taboo
        name: 服务禁语
        judge: rule
        points: 5
        scale: binary
        flags: [{id: taboo_word, description: 使用禁语}]
        rule:
          type: forbidden_words
          words: [喂, 不清楚, 清楚]
          thresholds: [{max: 0, tier: pass}, {tier: fail, flags: [taboo_word]}]
      - id: first_response
        name: 首次回应
        judge: rule
        points: 5
        tiers: [{id: good, points: 5}, {id: poor, points: 0}]
        rule: {type: first_response_time, thresholds: [{max: 30, tier: good}, {tier: poor}]}
      - id: slow_replies
        name: 等待
        judge: rule
        deduction: {points: 1}
        rule: {type: longest_agent_gap, min_seconds: 40}
      - id: interrupting
        name: 抢话
        judge: rule
        deduction: {points: 1}
        rule: {type: interruptions}
      - id: rate
        name: 语速
        judge: rule
        points: 5
        scale: binary
        rule: {type: speaking_rate, thresholds: [{min: 3, max: 6, tier: pass}, {tier: fail}]}
        applicability: {channels: [call], requires: [end_times], policy: exclude}
      - id: notes
        name: 录入
        points: 5
        scale: binary
        applicability: {requires: [notes, metadata.ticket], policy: exclude}
""")


def conv(*turns: tuple[str, str, float | None, float | None], channel: str = "call", **extra: object) -> Conversation:
    return Conversation.model_validate({
        "id": "t", "channel": channel, **extra,
        "turns": [{"speaker": s, "text": x, "start": a, "end": b} for s, x, a, b in turns],
    })


CALL = conv(
    ("agent", "您好!这里是阳光花园管理处,8号客服员为您服务,有什么可以帮到您?", 1.0, 7.0),
    ("customer", "我家水管漏水了,你们能派人来看看吗", 7.5, 11.0),
    ("agent", "喂,不清楚您说的是哪一栋", 10.2, 13.0),      # starts 0.8 s before the customer ends
    ("customer", "3栋", 13.5, 14.0),
    ("agent", "好的,请您稍等", 14.5, 16.0),
    ("agent", "对不起,让您久等了,师傅下午到。再见", 60.0, 66.0),  # 44 s after the agent's own turn
)


def test_phrases_count_parts_with_evidence() -> None:
    j = judge_rule(RULES.item("greeting"), CALL)
    assert j.tier == "compliant" and j.measured == 4
    assert [(e.turn, e.quote, e.start_char, e.end_char) for e in j.evidence] == [
        (1, "您好", 0, 2), (1, "管理处", 10, 13), (1, "号客服员", 15, 19), (1, "有什么可以帮", 24, 30)]
    assert j.rationale == "在客服前 1 轮发言中找到 4/4 项要求用语"


def test_phrases_missing_parts_are_named() -> None:
    c = conv(("agent", "你好,物业。", 0, 1))
    j = judge_rule(RULES.item("greeting"), c)
    assert j.tier == "non_compliant" and j.measured == 1
    assert j.rationale == "在客服前 1 轮发言中找到 1/4 项要求用语;缺少:管理处/这里是、号客服员/工号、有什么可以帮"


def test_phrase_window_last_and_case_insensitive_english() -> None:
    assert judge_rule(RULES.item("closing"), CALL).tier == "pass"
    english = conv(("agent", "Hi", 0, 1), ("agent", "Thanks, GOODBYE!", 2, 3))
    j = judge_rule(RULES.item("closing"), english, language="en")
    assert j.tier == "pass" and j.evidence[0].quote == "GOODBYE"
    early = conv(("agent", "再见", 0, 1), ("agent", "a", 2, 3), ("agent", "b", 4, 5))
    assert judge_rule(RULES.item("closing"), early).tier == "fail"


def test_forbidden_words_each_occurrence_and_nested_words_once() -> None:
    j = judge_rule(RULES.item("taboo"), CALL)
    # 不清楚 contains 清楚: one occurrence, not two.
    assert [(o.turn, o.quote, o.start_char) for o in j.occurrences] == [(3, "喂", 0), (3, "不清楚", 2)]
    assert j.tier == "fail" and j.flags == {"taboo_word": True}
    assert j.rationale == "在全部客服发言中发现 2 处禁用词:“喂”(第3轮)、“不清楚”(第3轮)"
    clean = conv(("agent", "您好", 0, 1), ("customer", "喂?", 1, 2))  # the customer may say 喂
    assert judge_rule(RULES.item("taboo"), clean).flags == {"taboo_word": False}


def test_first_response_from_call_start_and_from_customer_message() -> None:
    j = judge_rule(RULES.item("first_response"), CALL)
    assert (j.tier, j.measured) == ("good", 1.0)
    chat = Conversation.model_validate({"id": "c", "channel": "chat", "started_at": None, "turns": [
        {"speaker": "customer", "text": "在吗", "start": 0}, {"speaker": "agent", "text": "您好", "start": 45}]})
    j = judge_rule(RULES.item("first_response"), chat)
    assert (j.tier, j.measured) == ("poor", 45.0)
    assert j.rationale == "首次回应用时 45 秒(自客户第 1 轮发言至第 2 轮客服发言)"


def test_missing_timestamps_are_not_gradable_never_a_pass() -> None:
    c = conv(("customer", "在吗", None, None), ("agent", "您好", None, None), channel="chat")
    j = judge_rule(RULES.item("first_response"), c)
    assert j.tier is None and j.needs_review
    assert j.error == "需要时间戳,但第 1, 2 轮没有开始时间"
    j = judge_rule(RULES.item("interrupting"), c, language="en")
    assert j.error == ("needs start and end times on every turn (call ASR timestamps); "
                       "this conversation lacks them")


def test_longest_gap_and_occurrences() -> None:
    j = judge_rule(RULES.item("slow_replies"), CALL)
    assert j.measured == 44.0
    assert [o.turn for o in j.occurrences] == [6]


def test_interruptions_need_overlap() -> None:
    j = judge_rule(RULES.item("interrupting"), CALL)
    assert [o.turn for o in j.occurrences] == [3] and j.measured == 1


def test_speaking_rate() -> None:
    j = judge_rule(RULES.item("rate"), CALL)
    # agent letters/digits (punctuation not counted): 29 + 11 + 6 + 15 = 61 chars
    # over 6 + 2.8 + 1.5 + 6 = 16.3 s of agent speech
    assert j.measured == pytest.approx(61 / 16.3, abs=1e-3)
    assert j.tier == "pass"


def test_applicability_by_channel_and_data() -> None:
    chat = conv(("agent", "您好", 0, None), channel="chat")
    assert applicability_reason(RULES.item("rate"), chat) == "仅适用于call渠道,本对话为chat"
    assert applicability_reason(RULES.item("notes"), CALL) == "缺少所需数据:notes, metadata.ticket"
    with_data = conv(("agent", "您好", 0, 1), notes="已报修", metadata={"ticket": "W1"})
    assert applicability_reason(RULES.item("notes"), with_data) is None


def test_examples_first_response(by_id: dict[str, Conversation], flagship: Rubric) -> None:
    item = flagship.item("first_response_time")
    assert judge_rule(item, by_id["c002"]).measured == 95.0
    assert judge_rule(item, by_id["c002"]).tier == "poor"
    assert judge_rule(item, by_id["c001"]).tier == "good"


COMBINED = rubric_from_text("""\
id: combined
name: 组合
version: "1"
max_score: 4
categories:
  - id: c
    name: 组合项
    items:
      - id: conduct
        name: 规范
        judge: rule
        points: 4
        tiers: [{id: ok, points: 4}, {id: one, points: 2}, {id: more, points: 0}]
        rule:
          type: combined
          checks:
            - {id: no_taboo, name: 禁语, pass_when: {max: 0}, rule: {type: forbidden_words, words: [喂, 不清楚]}}
            - {id: no_overlap, name: 抢话, pass_when: {max: 0}, rule: {type: interruptions}}
            - {id: quick, name: 接听, pass_when: {max: 5}, rule: {type: first_response_time}}
          thresholds: [{max: 0, tier: ok}, {max: 1, tier: one}, {tier: more}]
""")


def test_combined_checks_of_every_kind_count_failures_with_their_evidence() -> None:
    # CALL: 喂 and 不清楚 (禁语 fails), one overlap of 0.8 s (抢话 fails), agent at 1 s (接听 passes).
    j = judge_rule(COMBINED.item("conduct"), CALL)
    assert (j.tier, j.measured) == ("more", 2)
    assert [(e.turn, e.quote) for e in j.evidence][:2] == [(3, "喂"), (3, "不清楚")]
    assert "禁语不符合" in j.rationale and "抢话不符合" in j.rationale and "接听符合" in j.rationale
    calm = conv(("agent", "您好", 2.0, 3.0), ("customer", "在吗", 3.5, 4.0), ("agent", "请讲", 4.5, 5.0))
    assert judge_rule(COMBINED.item("conduct"), calm).tier == "ok"
    slow = conv(("agent", "您好", 9.0, 10.0), ("customer", "在吗", 10.5, 11.0))
    assert (judge_rule(COMBINED.item("conduct"), slow).tier, judge_rule(COMBINED.item("conduct"), slow).measured) == ("one", 1)


def test_a_combined_check_without_its_data_names_the_check() -> None:
    no_ends = conv(("agent", "您好", 1.0, None), ("customer", "在吗", 2.0, None))
    j = judge_rule(COMBINED.item("conduct"), no_ends)
    assert j.error is not None and j.error.startswith("抢话:需要每轮的开始和结束时间")
