"""Personal-data masking: the detectors on the corpus, the masked format, pluggable maskers, counts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_grader._evidence import QuoteNotFound, verify_quote
from llm_grader.conversation import (
    DEFAULT_MASKERS,
    Conversation,
    Span,
    Turn,
    find_bank_cards,
    find_emails,
    find_id_cards,
    find_landlines,
    find_mobiles,
    find_personal_data,
    mask_conversation,
    mask_personal_data,
    mask_text,
)

CORPUS = Path(__file__).resolve().parent / "data" / "pii" / "cases.jsonl"
CASES = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
DIGITS = set("0123456789０１２３４５６７８９零〇一二三四五六七八九幺两Xx叉")


# ----------------------------------------------------------------------------- the corpus


def test_corpus_has_enough_cases_of_every_kind() -> None:
    positives = [c for c in CASES if c["spans"]]
    negatives = [c for c in CASES if not c["spans"]]
    assert len(positives) >= 100 and len(negatives) >= 100
    assert len({c["id"] for c in CASES}) == len(CASES)
    kinds = {s["kind"] for c in positives for s in c["spans"]}
    assert kinds == {"mobile", "landline", "id_card", "bank_card", "email"}
    assert sum(c["tag"] == "asr" for c in CASES) >= 20
    assert all(c.get("note") for c in negatives)  # every negative says why it is not personal data
    for case in positives:  # the offsets in the file point at the quoted text
        for span in case["spans"]:
            assert case["text"][span["start"] : span["end"]] == span["text"], case["id"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case(case: dict[str, Any]) -> None:
    expected = [(s["start"], s["end"], s["kind"]) for s in case["spans"]]
    found = [(s.start, s.end, s.kind) for s in find_personal_data(case["text"])]
    assert found == expected


@pytest.mark.parametrize("case", [c for c in CASES if c["spans"]], ids=lambda c: c["id"])
def test_corpus_masked_format(case: dict[str, Any]) -> None:
    text = case["text"]
    masked, spans = mask_text(text)
    assert len(masked) == len(text)
    inside = {i for s in spans for i in range(s.start, s.end)}
    assert all(masked[i] == text[i] for i in range(len(text)) if i not in inside)
    for span in spans:
        shown, hidden = masked[span.end - span.keep : span.end], masked[span.start : span.end - span.keep]
        assert shown == text[span.end - span.keep : span.end]
        assert not any(c.isalnum() for c in hidden)  # every letter and digit before the tail is masked
        if span.kind == "email":
            assert shown.lstrip().startswith(("@", "＠", "艾特", "at ", "AT "))  # "at": spelt out in words
        else:
            assert sum(c in DIGITS for c in shown) >= 4  # the last four digits stay
            assert sum(c in DIGITS for c in text[span.start : span.end - span.keep]) >= 6


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13812345678", "*******5678"),  # the format masking always had
        ("110101199003071234", "110101199003071234"),  # wrong check digit and no label: not an ID
        ("身份证110101199003071234", "身份证**************1234"),
        ("6222020200112233445", "***************3445"),
        ("138 1234 5678", "*** **** 5678"),
        ("+86 138-1234-5678", "+** ***-****-5678"),
        ("(+86)13812345678", "(+**)*******5678"),
        ("幺三八幺两三四五六七八", "*******五六七八"),
        ("138一二三四5678", "*******5678"),
        ("一三八一二三四五六七八一下", "*******五六七八一下"),
        ("(0755) 8888 6666", "(****) **** 6666"),
        ("0571-8888666-123", "****-***8666-123"),
        ("0755-88886666转123", "****-****6666转123"),
        ("11010519850612331X", "11010519850612331X"),  # X is the wrong check character here
        ("44030519800229154X", "**************154X"),
        ("6217 0037 8657 9754 321", "**** **** **** ***4 321"),
        ("zhang.san@example.com", "*****.***@example.com"),
        ("wangli88艾特163点com", "********艾特163点com"),
    ],
)
def test_masked_format(text: str, masked: str) -> None:
    assert mask_text(text)[0] == masked


def test_each_detector_finds_only_its_kind() -> None:
    text = "手机13812345678，座机010-62345678，身份证110105198506123315，卡号6225888625276013，邮箱a@qq.com"
    for detector, kind in [
        (find_mobiles, "mobile"),
        (find_landlines, "landline"),
        (find_id_cards, "id_card"),
        (find_bank_cards, "bank_card"),
        (find_emails, "email"),
    ]:
        assert {s.kind for s in detector(text)} == {kind}
    assert [s.kind for s in find_personal_data(text)] == [
        "mobile",
        "landline",
        "id_card",
        "bank_card",
        "email",
    ]


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("身份证号110101199003071234", ["id_card"]),  # an ID label: the shape is enough
        ("订单号2024050112345676", []),  # passes Luhn, but an order label
        ("卡号2024050112345678", ["bank_card"]),  # fails Luhn, but a card label
        ("订单号13812345678", []),  # 11 digits right after an order-number label are that number
        ("订单号是：13812345678", []),
        ("订单13812345678", ["mobile"]),  # otherwise mobiles are masked whatever the label
        ("订单号是多少？手机13812345678", ["mobile"]),  # the nearest label decides
        ("订单号13812345678 13987654321", ["mobile"]),  # only the number right after the label
        ("电话138，1234，5678", ["mobile"]),  # Arabic digit groups split by a comma
        ("电话138,1234,5678", ["mobile"]),
        ("电话138、1234、5678", ["mobile"]),
        ("电话138。1234。5678", ["mobile"]),
        ("身份证号11010519800101018 叉", ["id_card"]),  # the check character apart, as ASR writes it
        ("身份证号11010519800101018x", ["id_card"]),
        ("11010519800101018 x", ["id_card"]),  # a valid check character: no label needed
        ("身份证号11010519900307123", ["id_card"]),  # 17 digits after an ID label
        ("编号11010519900307123", []),  # 17 digits are no ID without its label
        ("z h a n g @ q q . c o m", ["email"]),  # spelt out with spaces
        ("zhangsan @ qq . com", ["email"]),
        ("zhangsan at qq dot com", ["email"]),
        ("look at this. com", []),
        ("My email is Amy.Chen@outlook.com. Thanks", ["email"]),
        ("订单号110105198506123315", ["id_card"]),  # so are checked 18-digit IDs
        ("发票代码044031900111", []),  # landline-shaped, but an invoice label
        ("快递员电话0755-88886666", ["landline"]),  # the nearest label decides
        ("订单号202405011234567。卡号6225888625276013", ["bank_card"]),  # labels stop at a sentence end
        ("9787111123456 这本书", []),  # 13 digits failing Luhn
        ("8888 8888 8888 8888", []),  # passes Luhn but one repeated digit
        ("010123456789", []),  # an area code and nine digits is no landline
        ("预约号620123456789012", []),  # 62 but 15 digits, failing Luhn: too short for UnionPay
        ("页面累计访问13,800,123,456次", []),  # a comma never joins Arabic digits
        ("¥13812345678", []),  # an amount
        ("工单TK13812345678", []),  # glued to letters
        ("工单INC-13812345678", []),  # glued to letters by a dash
        ("13812345678abc", []),  # glued to letters
        ("13812345678x", []),  # an X only ends an ID number
        ("问的是订单号。6225888625276013是我的卡", ["bank_card"]),  # a label stops at its sentence
    ],
)
def test_labels_and_checks(text: str, kinds: list[str]) -> None:
    assert [s.kind for s in find_personal_data(text)] == kinds


def test_a_number_inside_a_longer_run_is_found() -> None:
    spans = find_personal_data("两个号13812345678 13987654321都行")
    assert [(s.start, s.end, s.kind) for s in spans] == [(3, 14, "mobile"), (15, 26, "mobile")]


def test_long_runs_and_long_texts_are_handled() -> None:
    text = "流水 " + " ".join(["1234"] * 500) + " 电话13812345678 " + "a" * 5000 + "@" * 3
    assert [s.kind for s in find_personal_data(text)] == ["mobile"]


# ----------------------------------------------------------------------------- conversations


def conversation(**fields: Any) -> Conversation:
    turns = [
        Turn(speaker="agent", text="请提供手机号和邮箱"),
        Turn(speaker="customer", text="手机138 1234 5678，邮箱li.ming@qq.com"),
        Turn(speaker="customer", text="备用号码幺三九幺二三四五六七八，身份证110105198506123315"),
    ]
    return Conversation(id="c1", turns=turns, **fields)


def test_mask_conversation_masks_turns_and_notes_and_counts_kinds() -> None:
    original = conversation(
        notes="客户手机13812345678，卡号6225888625276013", metadata={"phone": "13812345678"}
    )
    masked, counts = mask_conversation(original)
    assert counts == {"bank_card": 1, "email": 1, "id_card": 1, "mobile": 3}
    assert list(counts) == sorted(counts)
    assert masked.turns[1].text == "手机*** **** 5678，邮箱**.****@qq.com"
    assert masked.turns[2].text == "备用号码*******五六七八，身份证**************3315"
    assert masked.notes == "客户手机*******5678，卡号************6013"
    assert masked.metadata == {"phone": "13812345678"}  # metadata is not sent to the model
    assert [len(t.text) for t in masked.turns] == [len(t.text) for t in original.turns]
    assert original.turns[1].text == "手机138 1234 5678，邮箱li.ming@qq.com"  # the input is unchanged
    assert mask_personal_data(original) == masked


def test_offsets_found_in_the_masked_text_point_into_the_original() -> None:
    original = conversation()
    masked, _ = mask_conversation(original)
    evidence = verify_quote(masked, 2, "邮箱**.****@qq.com")  # what the model saw and quoted
    assert not isinstance(evidence, QuoteNotFound)
    assert original.turns[1].text[evidence.start_char : evidence.end_char] == "邮箱li.ming@qq.com"


def test_metadata_strings_are_masked_on_request() -> None:
    original = conversation(metadata={"caller": "13812345678", "queue": "热线", "n": 3, "tags": ["a@b.cn"]})
    masked, counts = mask_conversation(original, metadata=True)
    assert masked.metadata == {"caller": "*******5678", "queue": "热线", "n": 3, "tags": ["*@b.cn"]}
    assert counts == {"email": 2, "id_card": 1, "mobile": 3}
    assert original.metadata["caller"] == "13812345678"


def test_nothing_to_mask_gives_empty_counts() -> None:
    original = Conversation(
        id="c", turns=[Turn(speaker="agent", text="订单202405011234567已发货，¥1,380.00")]
    )
    masked, counts = mask_conversation(original)
    assert counts == {} and masked == original


def test_shipped_example_keeps_its_masked_form(by_id: dict[str, Conversation]) -> None:
    masked, counts = mask_conversation(by_id["c012"])
    text = "\n".join(t.text for t in masked.turns)
    assert "手机号*******5678,身份证**************1234" in text and "***************3445" in text
    assert counts == {"bank_card": 1, "id_card": 1, "mobile": 1}


# ----------------------------------------------------------------------------- your own maskers


def find_names(text: str) -> Iterator[Span]:
    """A tiny name detector: two or three Han characters after 我叫 / 我是."""
    for match in re.finditer(r"(?<=我[叫是])[\u4e00-\u9fff]{2,3}(?=[，,。 ]|$)", text):
        yield Span(match.start(), match.end(), "name")


def test_a_team_adds_its_own_masker() -> None:
    original = Conversation(
        id="c",
        turns=[
            Turn(speaker="customer", text="我叫王小明，电话13812345678"),
            Turn(speaker="agent", text="好的"),
        ],
    )
    masked, counts = mask_conversation(original, [*DEFAULT_MASKERS, find_names])
    assert masked.turns[0].text == "我叫***，电话*******5678"
    assert counts == {"mobile": 1, "name": 1}
    only_names, counts = mask_conversation(original, [find_names])
    assert only_names.turns[0].text == "我叫***，电话13812345678" and counts == {"name": 1}


def test_overlaps_resolve_longest_first_then_earliest_then_listed_first() -> None:
    def short(text: str) -> list[Span]:
        return [Span(0, 4, "short"), Span(2, 8, "middle")]

    def long(text: str) -> list[tuple[int, int, str]]:  # plain tuples are accepted too
        return [(3, 10, "long")]

    def same(text: str) -> list[Span]:
        return [Span(3, 10, "same")]

    text = "0123456789"
    for maskers in ([short, long], [long, short]):
        assert [s.kind for s in find_personal_data(text, maskers)] == ["long"]
    assert [s.kind for s in find_personal_data(text, [short])] == ["middle"]
    assert [s.kind for s in find_personal_data(text, [same, long])] == ["same"]
    assert [s.kind for s in find_personal_data(text, [long, same])] == ["long"]
    assert mask_text(text, [short, long])[0] == "012*******"


def test_a_bad_span_is_reported_with_its_masker() -> None:
    def broken(text: str) -> list[Span]:
        return [Span(3, 99, "name")]

    with pytest.raises(ValueError, match=r"masker 'broken' returned \(3, 99, 'name', 0\) for a text of 5"):
        mask_text("12345", [broken])


def test_one_masker_instead_of_a_list_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"maskers must be a list of maskers, e.g. \[find_names\]"):
        mask_conversation(conversation(), find_names)  # type: ignore[arg-type]
