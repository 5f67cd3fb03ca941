"""The built-in rubrics say what their seed scorecards say (issue #9 point 7, seed fidelity).

Each test pins one resolution documented in a rubric's header: the flagship's service-taboo
flag is the seed's fatal class only, the 服务质量评分标准 card's scripted opening and closing
and its open word lists, the phone card's restored alternative and phone-only items, and the
response-time tiers of the ticket card at the seed's boundaries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llm_grader import Conversation, Grader, Rubric, load_conversations, load_rubric
from llm_grader.patterns import compile_pattern
from llm_grader.rubric import (
    CombinedRule,
    ForbiddenWordsRule,
    PhraseRule,
    Window,
    builtin_rubrics,
    check_rubric,
)


def _header_says(name: str, *quotes: str) -> None:
    """Each quote is in the leading comment block of a built-in rubric (spaces and wrapping ignored)."""
    lines = builtin_rubrics()[name].read_text(encoding="utf-8").splitlines()
    block = "".join(
        line[1:] for line in lines[: next(i for i, s in enumerate(lines) if not s.startswith("#"))]
    )
    compact = "".join(block.split())
    for quote in quotes:
        assert "".join(quote.split()) in compact, (name, quote)


def _chat(*agent_and_customer: str) -> Conversation:
    """A chat alternating customer, agent, customer, agent… one minute apart."""
    turns = [
        {"speaker": "customer" if i % 2 == 0 else "agent", "text": text, "start": 60.0 * i}
        for i, text in enumerate(agent_and_customer)
    ]
    return Conversation.model_validate({"id": "t", "channel": "chat", "turns": turns})


def _agent_only(*texts: str, channel: str = "chat") -> Conversation:
    turns: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        turns += [
            {"speaker": "customer", "text": "嗯", "start": 10.0 * i, "end": 10.0 * i + 1},
            {"speaker": "agent", "text": text, "start": 10.0 * i + 2, "end": 10.0 * i + 5},
        ]
    return Conversation.model_validate({"id": "t", "channel": channel, "turns": turns})


# --------------------------------------------------------------------------- every built-in


def test_every_builtin_rubric_checks_clean_without_warnings() -> None:
    assert "ticket_response_times" in builtin_rubrics()
    for name in builtin_rubrics():
        rubric, problems = check_rubric(name)
        assert rubric is not None and [str(p) for p in problems] == [], name


# --------------------------------------------------------------------------- flagship (seed 001)


@pytest.mark.parametrize("name", ["internet_cs_qa", "internet_cs_qa_en"])
def test_service_taboo_is_the_fatal_class_not_a_forbidden_word(name: str) -> None:
    rubric = load_rubric(name)
    (flag,) = rubric.item("politeness").flags
    assert flag.id == "service_taboo"
    if rubric.language == "zh":
        assert "使用服务禁语" not in flag.description
        assert "辱骂" in flag.description and "不属于服务禁忌" in flag.description
        assert "“不清楚”" in flag.description and "推诿" in flag.description
    else:
        assert "or using forbidden service words" not in flag.description
        assert "insulting" in flag.description and "are not service taboos" in flag.description
    # The fatal override still rests on that flag alone; 推诿 stays a zero-score record.
    fatal = {o.id: o for o in rubric.overrides}
    assert [c.flag for c in fatal["service_taboo_fatal"].when] == ["service_taboo"]
    assert fatal["shirking_zero_score"].kind == "zero_score"


def test_taboo_narrowing_reaches_the_prompt(flagship: Rubric, by_id: dict[str, Conversation]) -> None:
    from llm_grader._prompting import compile_messages

    messages = compile_messages(rubric=flagship, item=flagship.item("politeness"), conversation=by_id["c003"])
    assert (
        "个别服务禁语(如“喂”“不清楚”“不明白”)、语气生硬或不耐烦、推诿都不属于服务禁忌"
        in messages[-1]["content"]
    )


@pytest.mark.parametrize("name", ["internet_cs_qa", "internet_cs_qa_en"])
def test_flagship_header_marks_every_departure_from_the_seed(name: str) -> None:
    _header_says(
        name,
        # 信息录入 raised from the seed's 5 to 10, and the total that makes consistent.
        "信息录入完整准确。 ( 5分)",
        "5+5 + 10 + 10 + 5+5 + 15+15 + 15+15 = 100",
        # 安抚客户能力 差 corrected, 服务主动性 差 invented: both said.
        "能做到站在客户立场考虑",
        "has no descriptor in the seed",
        # 服务禁语 is a −2 deduction in seed 000; the seed's own words on 服务禁忌 quoted.
        "6、服务禁语(-2分)",
        "出现服务禁忌问题,该条录音为致命差错录音",
    )


def test_flagship_points_still_add_up_to_100() -> None:
    for name in ("internet_cs_qa", "internet_cs_qa_en"):
        rubric = load_rubric(name)
        assert sum(item.max_points for _, item in rubric.items()) == rubric.max_score == 100
        assert rubric.item("record_accuracy").max_points == 10
    soothing_poor = load_rubric("internet_cs_qa").item("soothing").tiers[-1].description
    assert soothing_poor.startswith("不能站在客户立场考虑") and ";当客户出现不满情绪时" in soothing_poor


# --------------------------------------------------------------------------- 服务质量评分标准 (seed 000)


@pytest.fixture(scope="module")
def quality() -> Grader:
    return Grader(load_rubric("service_quality_scoring"))


@pytest.mark.parametrize(
    "courtesy",
    [
        "您还有哪里不清楚吗?",
        "您还有哪里不清楚的吗?",
        "还有什么不明白的吗?",
        "您看还有不清楚的地方吗?",
        "如有不明白的地方请随时问我。",
        "您是哪儿不明白呢?",
        "哪些不清楚可以告诉我。",
        "我听不清楚,请您大声一点。",
    ],
)
def test_courtesy_questions_are_not_forbidden_words(quality: Grader, courtesy: str) -> None:
    card = quality.grade(_chat("你好", "您好,很高兴为您服务。", "好的", courtesy))
    taboo = card.item("taboo_words")
    assert (taboo.occurrences or []) == [] and not taboo.deduction


@pytest.mark.parametrize(
    ("said", "found"),
    [
        ("这个我不清楚。", ["不清楚"]),
        ("不明白你说什么。", ["不明白"]),
        ("喂,你说。", ["喂"]),
        ("具体原因我也不清楚的,您去营业厅问吧。", ["不清楚"]),
    ],
)
def test_the_agents_i_dont_know_is_still_a_forbidden_word(
    quality: Grader, said: str, found: list[str]
) -> None:
    taboo = quality.grade(_chat("你好", said)).item("taboo_words")
    assert [o.quote for o in taboo.occurrences or []] == found


def test_forbidden_word_regexes_need_lookaround_and_compile_bounded() -> None:
    rule = load_rubric("service_quality_scoring").item("taboo_words").rule
    assert isinstance(rule, ForbiddenWordsRule) and rule.regex
    engines = {compile_pattern(word, regex=True).engine for word in rule.words}
    assert engines == {"backtracking"}  # lookbehind: the time-bounded engine, not RE2


def test_oh_counts_as_colloquial_language(quality: Grader) -> None:
    spoken = quality.grade(_chat("你好", "哦,这两天保洁人员请假。")).item("colloquialisms")
    assert [o.quote for o in spoken.occurrences or []] == ["哦"]
    assert "“哦”为本表所加" in load_rubric("service_quality_scoring").item("colloquialisms").notes[-1]


GREETING = "您好,很高兴为您服务。"
FULL_CLOSING = ("请问还有其他可以帮到您吗?", "感谢您的咨询,祝您生活愉快!")


def _opening_closing(quality: Grader, first: str, last: tuple[str, str]) -> str | None:
    card = quality.grade(_chat("在吗", first, "没有了", last[0], "嗯", last[1]))
    return card.item("opening_closing").tier


@pytest.mark.parametrize(
    ("first", "met"),
    [
        ("你好。", False),
        ("您好。", False),
        ("你好,很高兴为您服务。", False),
        ("您好,很高兴为您服务,请问有什么可以帮您?", True),
        ("您好!宽带通,1023号很高兴为您服务!", True),
    ],
)
def test_opening_needs_the_scripted_greeting(quality: Grader, first: str, met: bool) -> None:
    assert _opening_closing(quality, first, FULL_CLOSING) == ("both_met" if met else "one_missed")


@pytest.mark.parametrize(
    ("last", "met"),
    [
        (("好的。", "再见。"), False),
        (("还有其他问题吗?", "好的,再见。"), False),
        (("请问还有其他可以帮到您吗?", "好的,再见。"), False),  # no thanks
        (("请问还有其他可以帮到您吗?", "感谢您的来电,再见!"), True),
        (("请问还有其他可以帮到您吗?", "感谢您的咨询,祝您生活愉快!"), True),
    ],
)
def test_closing_needs_the_scripted_parts(quality: Grader, last: tuple[str, str], met: bool) -> None:
    assert _opening_closing(quality, GREETING, last) == ("both_met" if met else "one_missed")


@pytest.mark.parametrize(
    ("first", "last", "tier", "points", "failed"),
    [
        (GREETING, FULL_CLOSING, "both_met", 3, []),
        ("你好。", FULL_CLOSING, "one_missed", 1, ["开头语"]),  # 3 − 2 (当中有一项不符合标准者扣2分)
        (GREETING, ("好的。", "再见。"), "one_missed", 1, ["结束语"]),
        ("你好。", ("好的。", "再见。"), "both_missed", 0, ["开头语", "结束语"]),  # 3 − 2 − 2, no lower than 0
    ],
)
def test_opening_and_closing_are_one_item_scored_3_1_0(
    quality: Grader, first: str, last: tuple[str, str], tier: str, points: float, failed: list[str]
) -> None:
    item = quality.grade(_chat("在吗", first, "没有了", last[0], "嗯", last[1])).item("opening_closing")
    assert (item.tier, item.points, item.max_points, item.measured) == (tier, points, 3, len(failed))
    assert item.rationale.startswith(f"{len(failed)}/2 项检查不符合:")
    assert [name for name in ("开头语", "结束语") if f"{name}不符合" in item.rationale] == failed


def test_opening_and_closing_combination_is_documented() -> None:
    rubric = load_rubric("service_quality_scoring")
    assert rubric.version == "1.1"
    ids = [item.id for _, item in rubric.items()]
    assert "opening_closing" in ids and "opening_phrase" not in ids and "closing_phrase" not in ids
    rule = rubric.item("opening_closing").rule
    assert isinstance(rule, CombinedRule) and [c.id for c in rule.checks] == ["opening", "closing"]
    assert [c.rule.window for c in rule.checks] == [Window(first=2), Window(last=2)]
    assert sum(i.max_points for i in rubric.categories[2].items) == rubric.categories[2].maximum == 10
    _header_says(
        "service_quality_scoring",
        "开头语或结束语中,当中有一项不符合标准者扣2分",
        "both right 3; one wrong 3 − 2 = 1; both wrong 0",
        "Version 1.0 split the item into 开头语 1.5 and 结束语 1.5",
        "等服务禁语",
        "等其它口语",
        "a rule's word list is closed",
    )


def test_shipped_examples_against_the_seed_scripts(quality: Grader, by_id: dict[str, Conversation]) -> None:
    def tier(cid: str) -> tuple[str | None, str]:
        item = quality.grade(by_id[cid]).item("opening_closing")
        return item.tier, item.rationale

    assert tier("c001")[0] == "both_met"
    assert tier("c005")[0] == "both_missed"  # "您好,星通客服,工号3021…" / "好的,再见。"
    c008 = tier("c008")  # "还有其他问题吗?" … "好的,再见。": no thanks
    assert c008[0] == "one_missed" and "开头语符合" in c008[1] and "结束语不符合" in c008[1]
    # The phone card's own greeting is not seed 000's script ("…8号客服员为您服务").
    c009 = tier("c009")
    assert c009[0] == "one_missed" and "开头语不符合" in c009[1] and "结束语符合" in c009[1]


# --------------------------------------------------------------------------- hybrid items (decide_by_rule)


def test_polite_words_decided_by_rule_only_when_none_is_used(quality: Grader, by_id: dict[str, Conversation]) -> None:
    c003 = quality.grade(by_id["c003"]).item("polite_words")  # "喂,你说。" … never 您/请/谢谢/对不起
    assert (c003.tier, c003.points, c003.audit.decided_by) == ("fail", 0, "rule")
    assert c003.rationale.startswith("由规则判定:") and "缺少:您/请/谢谢/对不起" in c003.rationale
    used = quality.grade(_chat("在吗", "您好,很高兴为您服务。")).item("polite_words")
    assert used.unscored and used.audit.decided_by is None  # the model decides whether they are apt
    rule = load_rubric("service_quality_scoring").item("polite_words").decide_by_rule[0]
    assert isinstance(rule, PhraseRule) and rule.phrases[0][:4] == ["您", "请", "谢谢", "对不起"]
    _header_says("service_quality_scoring", "恰当运用“您”“请”等礼貌用语", "使用“您、请、谢谢、对不起”等礼貌用语")


@pytest.fixture(scope="module")
def flagship_rules() -> Grader:
    return Grader(load_rubric("internet_cs_qa"))


def test_flagship_politeness_decided_by_rule_on_a_forbidden_word(
    flagship_rules: Grader, by_id: dict[str, Conversation]
) -> None:
    card = flagship_rules.grade(by_id["c003"])
    item = card.item("politeness")
    assert (item.tier, item.points, item.audit.decided_by, item.judge) == ("poor", 0, "rule", "model")
    assert [(e.turn, e.quote) for e in item.evidence] == [(1, "喂"), (7, "不清楚"), (9, "不明白")]
    # The fatal flag is the model's to answer: undetermined, so the fatal override is pending.
    assert item.flags == {} and card.fatal is None and not card.complete
    assert next(p.id for p in card.pending_overrides if p.kind == "fatal") == "service_taboo_fatal"


def test_flagship_politeness_decided_without_greeting_or_closing(
    flagship_rules: Grader, by_id: dict[str, Conversation]
) -> None:
    item = flagship_rules.grade(by_id["c004"]).item("politeness")
    assert (item.tier, item.audit.decided_by) == ("poor", "rule")
    assert "首问语不符合" in item.rationale and "结束语不符合" in item.rationale


@pytest.mark.parametrize(
    "said",
    [
        "您还有哪里不清楚吗?",  # courtesy questions: not 禁语
        "如有不明白的地方请随时问我。",
        "好的。",  # a greeting with no closing: one of the two missing is the model's
    ],
)
def test_flagship_politeness_left_to_the_model(flagship_rules: Grader, said: str) -> None:
    item = flagship_rules.grade(_chat("在吗", "您好,很高兴为您服务。", "嗯", said)).item("politeness")
    assert item.unscored and item.error == "未评分:该项需由模型评判,当前未配置模型(仅规则模式)"
    assert item.rationale.startswith("规则未判定:在全部客服发言中发现 0 处禁用词")


def test_flagship_hybrid_rules_are_documented_and_mirrored_in_english() -> None:
    zh, en = load_rubric("internet_cs_qa"), load_rubric("internet_cs_qa_en")
    assert zh.version == en.version == "1.3"
    shapes = [
        [(type(r).__name__, [t.tier for t in r.thresholds]) for r in rubric.item("politeness").decide_by_rule]
        for rubric in (zh, en)
    ]
    assert shapes[0] == shapes[1] == [
        ("ForbiddenWordsRule", ["poor"]), ("PhraseRule", ["poor"]), ("CombinedRule", ["poor"])]
    taboo = load_rubric("service_quality_scoring").item("taboo_words").rule
    assert isinstance(taboo, ForbiddenWordsRule)
    for rubric in (zh, en):  # the same 禁语 and exceptions as the 服务质量评分标准 card
        words = rubric.item("politeness").decide_by_rule[0]
        assert isinstance(words, ForbiddenWordsRule) and words.words[:3] == taboo.words
        assert not any(r.decide_by_rule for c in rubric.categories for r in c.items if r.id != "politeness")
    for name in ("internet_cs_qa", "internet_cs_qa_en"):
        _header_says(name, "服务用语播报不规范、礼貌用语使用不恰当", "礼貌用语略有欠缺(如:请、请问、您等)")


def test_english_flagship_hybrid_on_english_words() -> None:
    grader = Grader(load_rubric("internet_cs_qa_en"))
    blunt = _chat("hi", "Hello, how can I help?", "where is my parcel", "I don't know, ask the courier.")
    item = grader.grade(blunt).item("politeness")
    assert (item.tier, [e.quote for e in item.evidence]) == ("poor", ["I don't know"])
    unsure = _chat("hi", "Hello, how can I help?", "ok", "I don't know if you tried the app; thank you, bye!")
    assert grader.grade(unsure).item("politeness").unscored


# --------------------------------------------------------------------------- phone answering (seed 003)

PHONE_ONLY = {"service_hours", "service_resources", "answer_speed", "thanks_for_calling"}


def test_phone_only_items_are_exactly_the_telephone_ones() -> None:
    rubric = load_rubric("phone_answering")
    call_only = {
        item.id
        for _, item in rubric.items()
        if item.applicability and item.applicability.channels == ["call"]
    }
    assert call_only == PHONE_ONLY
    assert all(rubric.item(i).applicability.policy == "exclude" for i in PHONE_ONLY)  # type: ignore[union-attr]


def test_phone_only_items_do_not_apply_to_chats(by_id: dict[str, Conversation]) -> None:
    grader = Grader(load_rubric("phone_answering"))
    chat = grader.grade(by_id["c001"])
    for item_id in PHONE_ONLY:
        item = chat.item(item_id)
        assert item.not_applicable and item.points is None, item_id
    assert chat.item("thanks_for_calling").rationale == "不适用:仅适用于call渠道,本对话为chat"
    # The same words on a call are graded.
    call = grader.grade(by_id["c009"])
    assert (
        call.item("thanks_for_calling").tier == "compliant"
        and not call.item("thanks_for_calling").not_applicable
    )
    # Items that are not about the telephone still apply to a chat.
    assert chat.item("offer_more_help").tier == "compliant" and chat.item("farewell").tier == "compliant"


def test_recommending_a_convenience_service_is_the_seeds_alternative() -> None:
    item = load_rubric("phone_answering").item("offer_more_help")
    assert "或向客户推介相关的便民服务" in item.description
    grader = Grader(load_rubric("phone_answering"))
    recommends = _agent_only(
        "您好!这里是阳光花园管理处,8号客服员为您服务,有什么可以帮到您?",
        "另外我们小区有代收快递的便民服务,您有需要可以到前台。",
        "谢谢您的来电,再见!",
        channel="call",
    )
    assert grader.grade(recommends).item("offer_more_help").tier == "compliant"
    neither = _agent_only("您好。", "好的。", "再见!", channel="call")
    assert grader.grade(neither).item("offer_more_help").tier == "non_compliant"


# --------------------------------------------------------------------------- ticket response times (seed 000)


@pytest.fixture(scope="module")
def tickets() -> Grader:
    return Grader(load_rubric("ticket_response_times"))


def _thread(*waits: float, channel: str = "chat") -> Conversation:
    """A customer message, then agent and customer messages alternating after ``waits`` seconds."""
    turns, t = [{"speaker": "customer", "text": "我的工单怎么还没处理?", "start": 0.0}], 0.0
    for i, wait in enumerate(waits):
        t += wait
        turns.append(
            {"speaker": "agent" if i % 2 == 0 else "customer", "text": "您好,已为您处理。", "start": t}
        )
    return Conversation.model_validate({"id": "t", "channel": channel, "turns": turns})


@pytest.mark.parametrize(
    ("seconds", "tier", "points"),
    [
        (0, "under_1h", 5),
        (3599, "under_1h", 5),  # 响应时间小于1小时:满分5分
        (3600, "within_3h", 4),
        (10800, "within_3h", 4),  # 在1小时至3小时之间:4分 (both ends)
        (10801, "within_24h", 3),
        (86400, "within_24h", 3),  # 在3小时至24小时之间:3分
        (86401, "over_24h", 1),
        (7 * 86400, "over_24h", 1),  # 超过24小时:1分 (not 0)
    ],
)
def test_first_response_tiers_at_the_seeds_boundaries(
    tickets: Grader, seconds: float, tier: str, points: float
) -> None:
    item = tickets.grade(_thread(seconds)).item("first_response_tier")
    assert (item.tier, item.points, item.measured) == (tier, points, seconds)


@pytest.mark.parametrize(
    ("waits", "quick", "timely"),
    [
        ((1800,), "pass", "pass"),  # 回应时间在30分钟以内 (10分): 30 min itself included
        ((1801,), "fail", "pass"),
        ((60, 10, 1801), "fail", "pass"),  # every reply counts, not only the first
        ((60, 10, 86400), "fail", "pass"),  # 在24小时内回复 (8分)
        ((60, 10, 86401), "fail", "fail"),
    ],
)
def test_every_reply_within_30_minutes_and_24_hours(
    tickets: Grader, waits: tuple[float, ...], quick: str, timely: str
) -> None:
    card = tickets.grade(_thread(*waits))
    assert (card.item("quick_response").tier, card.item("timely_reply").tier) == (quick, timely)


def test_ticket_card_totals_and_channels(tickets: Grader) -> None:
    rubric = load_rubric("ticket_response_times")
    assert rubric.max_score == 23 and all(
        i.judge == "rule" and i.applicability is None for _, i in rubric.items()
    )
    # 40 min first reply: 5 + 0 (over 30 min) + 8 = 13 of 23, on any channel.
    for channel in ("chat", "call"):
        card = tickets.grade(_thread(2400, channel=channel))
        assert card.complete and card.total_score == 13


def test_an_email_thread_over_days_from_jsonl(tickets: Grader, tmp_path: Path) -> None:
    thread = {
        "id": "t001",
        "channel": "chat",
        "turns": [
            {
                "speaker": "customer",
                "text": "发票抬头开错了,请帮忙重开。",
                "start": "2024-05-06T09:00:00+08:00",
            },
            {"speaker": "agent", "text": "您好,已收到,正在为您处理。", "start": "2024-05-06T10:30:00+08:00"},
            {"speaker": "customer", "text": "重开好了吗?", "start": "2024-05-07T09:00:00+08:00"},
            {
                "speaker": "agent",
                "text": "您好,已为您重开,请查收邮件。",
                "start": "2024-05-08T10:00:00+08:00",
            },
        ],
    }
    path = tmp_path / "tickets.jsonl"
    path.write_text(json.dumps(thread, ensure_ascii=False) + "\n", encoding="utf-8")
    (conversation,) = list(load_conversations(path))
    card = tickets.grade(conversation)
    # First reply after 1.5 h → 4; the second waited 25 h → neither 30 min nor 24 h. Total 4.
    assert card.item("first_response_tier").measured == 5400 and card.item("timely_reply").measured == 90000
    assert card.total_score == 4


def test_ticket_without_timestamps_is_unscored_with_the_reason(tickets: Grader) -> None:
    bare = Conversation.model_validate(
        {
            "id": "t",
            "channel": "chat",
            "turns": [{"speaker": "customer", "text": "在吗"}, {"speaker": "agent", "text": "您好"}],
        }
    )
    card = tickets.grade(bare)
    assert not card.complete
    assert all(i.points is None and i.error and "时间戳" in i.error for i in card.items)
