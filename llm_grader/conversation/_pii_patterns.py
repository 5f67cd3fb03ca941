"""The patterns, tables and digit checks :mod:`.masking` detects personal data with (kept apart).

Digits as written (Arabic, full-width, Chinese and ASR's ``幺``/``两``/``叉``), the separators
that join groups of digits into one number, the labels that name a number, and the e-mail
address shapes. See :mod:`.masking` for what each kind of personal data is.
"""

from __future__ import annotations

import re
from datetime import date

CN_DIGITS = "零〇一二三四五六七八九幺两"
VALUE = dict(
    zip(
        "0123456789０１２３４５６７８９零一二三四五六七八九〇幺两Xx叉",
        "0123456789" * 3 + "012XXX",
        strict=True,
    )
)
"""Each character that can be a digit of a number, and its value."""
_DIGIT = f"0-9０-９{CN_DIGITS}"
_SPACE = "[ \t\u3000]"
CHUNK = re.compile(f"[{_DIGIT}]+(?:[Xx](?![A-Za-z0-9]))?")
GAP = re.compile(rf"{_SPACE}{{1,3}}|{_SPACE}*[-－—–)）]{_SPACE}*|[.．]|[，,、。]{_SPACE}?")
TRAILING_X = re.compile(rf"{_SPACE}?[Xx叉](?![A-Za-z0-9])")
"""The check character of an ID number written apart from its 17 digits (``… 018 x``, ``…018叉``)."""
ORDER_NUMBER = re.compile(
    r"(?:单号|编号|流水号|交易号|合同号|保单号|order\s*(?:no\.?|number|id|#))(?:[\s:：#]|是|为){0,4}$",
    re.IGNORECASE,
)
"""An order-number label right before a number: then 11 digits are that number, not a mobile."""
MAX_DIGITS = 24  # no kind is longer (an ID with separators is 18, a card 19)
AMOUNT_BEFORE = "¥￥$€£"
AMOUNT_AFTER = ("元", "块", "万", "亿", "角", "%", "％")
EXTENSION = re.compile(rf"{_SPACE}*(?:转|分机|[Ee][Xx][Tt]\.?){_SPACE}*[{_DIGIT}]{{1,5}}(?![{_DIGIT}])")
MOBILE = re.compile(r"(?:0086|86)?1[3-9][0-9]{9}")
AREA = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})")
_REGIONS = frozenset(map(str, (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44,
                                45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83)))  # fmt: skip
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
LABELS = {
    "id_card": ("身份证", "证件号", "身份号"),
    "bank_card": ("卡号", "银行卡", "信用卡", "储蓄卡", "借记卡", "银行账号", "card"),
    "phone": ("电话", "手机", "座机", "固话", "联系方式", "tel", "phone"),
    "other": ("订单", "单号", "快递", "物流", "包裹", "流水号", "交易号", "编号", "发票", "序列号", "批次",
              "券码", "兑换码", "合同号", "保单号", "工号", "order", "tracking", "invoice", "ticket", "isbn"),
}  # fmt: skip
SENTENCE_END = re.compile(r"[。！？；;!?\n]")
EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*"
    r"(?P<at>\s?(?:@|＠|艾特)\s?)"
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:(?:\.|．|点)[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
    r"(?:\.|．|点)[A-Za-z]{2,}(?![A-Za-z0-9])"
)
_SPELT = r"[A-Za-z0-9](?: [A-Za-z0-9]){1,63}"
"""A name spelt out a character at a time (``z h a n g``)."""
_WORD = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_SPACED_DOT = r"(?:\s*[．点]\s*|\.| \. )"
SPACED_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9._%+\-])(?:{_SPELT}|[A-Za-z0-9][A-Za-z0-9._%+\-]*)(?P<at>\s*(?:@|＠|艾特)\s*)"
    rf"(?:{_SPELT}|{_WORD})(?:{_SPACED_DOT}(?:{_SPELT}|{_WORD}))*"
    rf"{_SPACED_DOT}(?:[A-Za-z](?: [A-Za-z]){{1,9}}|[A-Za-z]{{2,}})(?![A-Za-z0-9])"
    # In words only when every part is: "amy at gmail dot com" (not "us at example.com").
    rf"|(?<![A-Za-z0-9._%+\-])(?:{_SPELT}|{_WORD})(?P<at_word>\s+(?:at|AT)\s+)"
    rf"(?:{_SPELT}|{_WORD})(?:\s+(?:dot|DOT)\s+(?:{_SPELT}|{_WORD}))*"
    r"\s+(?:dot|DOT)\s+(?:com|cn|net|org|edu|gov|COM|CN|NET|ORG|EDU|GOV|c o m|c n)(?![A-Za-z0-9])"
)
"""An address spelt out with spaces (``z h a n g @ q q . c o m``, ``zhang at qq dot com``)."""


def valid_birth(region: str, birth: str) -> bool:
    if region[:2] not in _REGIONS:
        return False
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        return False
    return 1900 <= born.year <= 2100


def id_check(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn(digits: str) -> bool:
    doubled = (int(char) * (1 + position % 2) for position, char in enumerate(reversed(digits)))
    return sum(value - 9 if value > 9 else value for value in doubled) % 10 == 0
