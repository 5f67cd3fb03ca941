"""Quote verification (llm_grader._evidence): content, length, turn range, invisible characters."""

from __future__ import annotations

import sys
import unicodedata
from typing import NamedTuple

import pytest

from llm_grader import Conversation
from llm_grader._answers import quote_problems
from llm_grader._evidence import MIN_QUOTE_CHARS, QuoteNotFound, verify_quote
from llm_grader._prompting import Prompts
from llm_grader.types import Evidence

ZH, EN = Prompts.load("zh"), Prompts.load("en")

CHAT = Conversation.model_validate({"id": "short", "channel": "chat", "turns": [
    {"speaker": "agent", "text": "您好，在的。"},
    {"speaker": "customer", "text": "我的快递三天没动了，帮我查一下。"},
    {"speaker": "agent", "text": "好的。"},
    {"speaker": "agent", "text": "查到了，包裹明天送达，请您留意电话。"},
    {"speaker": "agent", "text": "OK"},
]})


class Quote(NamedTuple):
    turn: int
    quote: str


def _problem(turn: int, quote: str) -> str:
    found = verify_quote(CHAT, turn, quote, speakers=("agent",))
    assert isinstance(found, QuoteNotFound), found
    return found.code


@pytest.mark.parametrize("quote", ["。", "，。！", " 。 ", "……", "***", "👍", "😊😊", "\u200b。\u202e"])
def test_a_quote_of_punctuation_or_symbols_alone_verifies_nothing(quote: str) -> None:
    # "。" is in turns 1 and 3: before, it verified (and fired any override its flag was on).
    assert _problem(1, quote) in ("no_content", "empty")
    assert _problem(1, "。") == "no_content"


@pytest.mark.parametrize(("turn", "quote"), [(1, "您"), (1, "在的"), (4, "包裹"), (4, "明天送达"[:3]), (1, "您好，"),
                                             (5, "O")])
def test_a_quote_of_a_few_characters_out_of_a_longer_turn_is_too_short(turn: int, quote: str) -> None:
    assert _problem(turn, quote) == "too_short"


@pytest.mark.parametrize(("turn", "quote", "expected"), [
    (3, "好的", (3, 0, 2)),           # the whole of a turn shorter than the minimum
    (3, "好的。", (3, 0, 3)),
    (4, "好的", (3, 0, 2)),           # found as a whole turn elsewhere: the turn is corrected
    (5, "ok", (5, 0, 2)),
    (1, "您好，在的", (1, 0, 5)),      # four letters: long enough
    (4, "包裹明天送达", (4, 4, 10)),
])
def test_a_short_quote_verifies_as_a_whole_turn(turn: int, quote: str, expected: tuple[int, int, int]) -> None:
    found = verify_quote(CHAT, turn, quote, speakers=("agent",))
    assert isinstance(found, Evidence), found
    assert (found.turn, found.start_char, found.end_char) == expected
    assert MIN_QUOTE_CHARS == 4


def test_a_cited_turn_out_of_range_is_an_error_not_corrected() -> None:
    # The words are in turn 4; before, citing turn 9 silently moved the quote there.
    assert _problem(9, "包裹明天送达") == "bad_turn"
    assert _problem(0, "包裹明天送达") == "bad_turn"
    assert verify_quote(CHAT, 3, "包裹明天送达").turn == 4  # type: ignore[union-attr]  # in range: corrected


def _format_characters() -> list[str]:
    return [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]


INVISIBLE = ["\u202e", "\u200e", "\u00ad", "\u2066", "\ufe0f", "\u180e", "\u034f", "\u3164", "\U000e0041"]


@pytest.mark.parametrize("mark", INVISIBLE)
def test_invisible_characters_are_ignored_on_both_sides(mark: str) -> None:
    text = f"查到了，包{mark}裹明天{mark}送达"
    conversation = Conversation.model_validate({"id": "x", "channel": "chat",
                                                "turns": [{"speaker": "agent", "text": text}]})
    found = verify_quote(conversation, 1, "包裹明天送达")
    assert isinstance(found, Evidence), (hex(ord(mark)), found)
    # The offsets point into the original text, invisible characters included.
    assert (found.start_char, found.end_char) == (4, 12) and text[4:12] == found.quote
    assert isinstance(verify_quote(CHAT, 4, f"包裹{mark}明天送{mark}达"), Evidence)
    assert _problem(1, f"{mark}。{mark}") in ("no_content", "empty")


def test_every_format_character_is_ignored() -> None:
    marks = _format_characters()
    assert len(marks) > 150
    unmatched = [hex(ord(m)) for m in marks if not isinstance(verify_quote(CHAT, 4, f"包裹{m}明天送达"), Evidence)]
    assert unmatched == []


def test_the_reasons_go_back_to_the_model_in_its_language() -> None:
    cited = [Quote(1, "。"), Quote(1, "您"), Quote(9, "包裹明天送达")]
    assert quote_problems(cited, CHAT, ZH) == (
        "以下引用在对话原文中找不到,请逐字复制原文(包括标点)后重新作答:\n"
        "- turn 1: '。' (引用只有标点或符号,没有实际内容)\n"
        "- turn 1: '您' (引用太短(不足 4 个字),请引用能说明问题的完整原话,或引用整轮发言)\n"
        "- turn 9: '包裹明天送达' (对话没有第 9 轮(共 5 轮))")
    assert quote_problems(cited, CHAT, EN) == (
        "These quotes are not in the transcript; copy the words verbatim (punctuation included) and answer again:\n"
        "- turn 1: '。' (the quote is only punctuation or symbols, with no words)\n"
        "- turn 1: '您' (the quote is too short (under 4 letters or digits); quote the words that show it, "
        "or the whole turn)\n"
        "- turn 9: '包裹明天送达' (the conversation has no turn 9 (it has 5))")
