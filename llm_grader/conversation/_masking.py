"""Masking of personal data — phone numbers, ID cards, bank cards, e-mail — in a conversation.

Detection survives speech recognition: numbers grouped with spaces, dashes or dots, with a
``+86`` / ``0086`` / ``86-`` prefix, in Chinese digits (``一三八``, ``幺三八``, ``两``) alone or
mixed with Arabic ones. Each kind has a detector, a :data:`Masker` (text → :class:`Span`
objects); teams add their own (names, addresses) to :data:`DEFAULT_MASKERS`. Overlaps are
resolved the same way every time: the longest span wins, then the earliest, then the masker
listed first. Masking keeps every text's length (one ``*`` per masked character), so offsets
found in the masked text are valid in the original. Numbers keep their last four digits, their
separators and an extension (``*** **** 5678``, ``****-***8666-123``); e-mail keeps ``@domain``.

What counts. A *label* is the word nearest before a number (within twelve characters and its
sentence): ID (身份证, 证件号), card (卡号, 银行卡...), phone (电话, 手机...) or order (订单,
单号, 快递, 流水号, 编号, 发票...).

- ``mobile``: 11 digits ``1[3-9]…``, country prefix allowed; masked after a loose order label
  (``订单``: a miss leaks a phone number), not right after ``订单号``, ``编号``, ``order no.``….
- ``landline``: area code (``010``, ``02x``, ``0[3-9]xx``; parentheses allowed), a 7–8 digit
  number, an optional extension (``-123``, ``转123``); not after an order label.
- ``id_card``: 18 digits (or 17 and ``X``/``x``/``叉``, spaced or not) with a valid region, birth
  date and ISO 7064 MOD 11-2 check digit, whatever the label; 15 legacy digits with a valid
  region and birth date, not after an order label. After an ID label the shape is enough (a
  mistyped ID is still personal), 17 digits too.
- ``bank_card``: a whole written number or an unbroken block of 13–19 digits passing Luhn, or
  of 16–19 digits starting ``62`` (UnionPay: not every domestic card passes Luhn), or of 13–19
  digits after a card label; never after an order label.
- ``email``: ``local@domain.tld``, also with ``＠``/``艾特``/``点``, spaced (``z h a n g @ q q . c o m``)
  or in words throughout (``amy at gmail dot com``).

Not personal data: numbers glued to letters (``TK2024…``, ``SF…``), next to a currency sign or
unit (``¥1,380.00``, ``138元``), dates and times (``:``, ``/`` never join digits), thousands
(``，,、。`` join groups, not three digits after at most three: ``13,800,123``), versions and IP
addresses (a dot joins only groups of 3+ digits), service lines and short numbers
(``400-820-8820``, ``95588``), postal codes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from ._pii_patterns import (
    AMOUNT_AFTER,
    AMOUNT_BEFORE,
    AREA,
    CHUNK,
    CN_DIGITS,
    EMAIL,
    EXTENSION,
    GAP,
    LABELS,
    MAX_DIGITS,
    MOBILE,
    ORDER_NUMBER,
    SENTENCE_END,
    SPACED_EMAIL,
    TRAILING_X,
    VALUE,
    id_check,
    luhn,
    valid_birth,
)
from ._turns import Conversation


class Span(NamedTuple):
    """``text[start:end]`` is personal data of kind ``kind``.

    The last ``keep`` characters stay visible; before them every letter (Han characters too) or
    digit becomes ``*`` while spaces and punctuation stay, so the masked text has the same length.
    """

    start: int
    end: int
    kind: str
    keep: int = 0


Masker = Callable[[str], Iterable[Span]]
"""Finds the spans of one kind of personal data in a text (a built-in detector or your own)."""


class _Candidate(NamedTuple):
    """A stretch of a digit run that may be one number."""

    start: int
    end: int
    digits: str
    """Normalised to ``0-9`` (and ``X``)."""
    positions: tuple[int, ...]
    """Where each digit is in the text."""
    solid: bool
    """The whole written run, or one chunk without separators."""


# ----------------------------------------------------------------------------- digit runs


def _joins(text: str, left: tuple[int, int], right: tuple[int, int]) -> bool:
    """Whether the text between two chunks of digits is a separator inside one number."""
    gap = text[left[1] : right[0]]
    if not GAP.fullmatch(gap):
        return False
    if gap in (".", "．"):
        return left[1] - left[0] >= 3 and right[1] - right[0] >= 3
    if gap[0] in "，,、。":
        if text[left[1] - 1] in CN_DIGITS or text[right[0]] in CN_DIGITS:
            return True
        # Arabic digits: a comma between groups (138，1234，5678) joins them, except thousands
        # grouping (13,800,123): a group of three after a group of at most three.
        return not (right[1] - right[0] == 3 and left[1] - left[0] <= 3)
    return True


def _glued(text: str, at: int, step: int) -> bool:
    """Whether the character at ``at`` (or one more ``-``/``_`` away) is an ASCII letter."""
    if 0 <= at < len(text) and text[at] in "-_":
        at += step
    return 0 <= at < len(text) and text[at].isascii() and text[at].isalpha()


def _runs(text: str) -> Iterator[list[tuple[int, int]]]:
    """Chunks of digits joined by separators, as lists of (start, end) character offsets."""
    run: list[tuple[int, int]] = []
    for match in CHUNK.finditer(text):
        chunk = match.span()
        if run and not _joins(text, run[-1], chunk):
            yield run
            run = []
        run.append(chunk)
    if run:
        yield run


def _candidate(text: str, chunks: list[tuple[int, int]], solid: bool) -> _Candidate:
    positions = tuple(at for start, end in chunks for at in range(start, end))
    digits = "".join(VALUE[text[at]] for at in positions)
    return _Candidate(chunks[0][0], chunks[-1][1], digits, positions, solid)


def _trimmed(text: str, chunks: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """The chunks without a Chinese digit at either end (``…五六七八一下``: 一 starts a word)."""
    (first_start, first_end), (last_start, last_end) = chunks[0], chunks[-1]
    if first_end - first_start > 1 and text[first_start] in CN_DIGITS:
        yield [(first_start + 1, first_end), *chunks[1:]]
    if last_end - last_start > 1 and text[last_end - 1] in CN_DIGITS:
        yield [*chunks[:-1], (last_start, last_end - 1)]


def _is_amount(text: str, start: int, end: int) -> bool:
    before, after = text[max(0, start - 3) : start].rstrip(), text[end : end + 3].lstrip()
    return (bool(before) and before[-1] in AMOUNT_BEFORE) or after.startswith(AMOUNT_AFTER)


def _candidates(text: str) -> Iterator[_Candidate]:
    """Every run, every stretch of whole chunks in it, and those without a stray Chinese digit."""
    for run in _runs(text):
        glued_left, glued_right = _glued(text, run[0][0] - 1, -1), _glued(text, run[-1][1], 1)
        for i in range(len(run)):
            size = 0
            for j in range(i, len(run)):
                size += run[j][1] - run[j][0]
                if size > MAX_DIGITS:
                    break
                if (i == 0 and glued_left) or (j == len(run) - 1 and glued_right):
                    continue
                chunks = run[i : j + 1]
                for stretch in (chunks, *_trimmed(text, chunks)):
                    solid = stretch is chunks and (i == j or len(chunks) == len(run))
                    found = _candidate(text, stretch, solid)
                    if not _is_amount(text, found.start, found.end):
                        yield found
                        yield from _with_check_x(text, found)


def _with_check_x(text: str, found: _Candidate) -> Iterator[_Candidate]:
    """17 digits followed by a separate ``X`` (or ASR's ``叉``): also the 18-character ID number."""
    if len(found.digits) != 17 or not found.digits.isdigit():
        return
    check = TRAILING_X.match(text, found.end)
    if check is not None:
        digits, positions = found.digits + "X", (*found.positions, check.end() - 1)
        yield _Candidate(found.start, check.end(), digits, positions, found.solid)


# ----------------------------------------------------------------------------- checks


def _label(text: str, start: int) -> str | None:
    """The kind named by the nearest label before ``start`` in its sentence (``other``: an order...)."""
    window = text[max(0, start - 12) : start]
    window = SENTENCE_END.split(window)[-1].lower()
    best: tuple[int, int, str] | None = None
    for kind, words in LABELS.items():
        for word in words:
            at = window.rfind(word)
            if at >= 0 and (best is None or (at + len(word), len(word)) > best[:2]):
                best = (at + len(word), len(word), kind)
    return None if best is None else best[2]


def _is_mobile(text: str, found: _Candidate) -> bool:
    if MOBILE.fullmatch(found.digits) is None:
        return False
    return ORDER_NUMBER.search(text, max(0, found.start - 16), found.start) is None


def _is_id_card(text: str, found: _Candidate) -> bool:
    digits, label = found.digits, _label(text, found.start)
    if len(digits) == 18 and digits[:17].isdigit() and (digits[17].isdigit() or digits[17] == "X"):
        checked = valid_birth(digits[:6], digits[6:14]) and id_check(digits[:17]) == digits[17]
        return label == "id_card" or checked
    if len(digits) == 17 and digits.isdigit():  # the check character left out, after its label
        return label == "id_card"
    if len(digits) == 15 and digits.isdigit():
        return label == "id_card" or (label != "other" and valid_birth(digits[:6], "19" + digits[6:12]))
    return False


def _landline_digits(found: _Candidate) -> int | None:
    """How many digits make the landline number (the rest is an extension), or None."""
    digits = found.digits
    area = AREA.match(digits)
    if area is None or not digits.isdigit() or len(digits) <= area.end() or digits[area.end()] == "0":
        return None
    at = found.positions  # a separator between two digits may start an extension
    breaks = [i for i in range(len(at) - 5, len(at)) if i > 0 and at[i] != at[i - 1] + 1]
    for end in (len(digits), *breaks):
        if 7 <= end - area.end() <= 8:
            return end
    return None


def _is_landline(text: str, found: _Candidate) -> bool:
    return _landline_digits(found) is not None and _label(text, found.start) != "other"


def _is_bank_card(text: str, found: _Candidate) -> bool:
    digits = found.digits
    if not (found.solid and digits.isdigit() and 13 <= len(digits) <= 19 and digits[0] != "0"):
        return False
    label = _label(text, found.start)
    if label in ("bank_card", "other"):
        return label == "bank_card"
    return len(set(digits)) > 1 and (luhn(digits) or (digits.startswith("62") and len(digits) >= 16))


# ----------------------------------------------------------------------------- detectors


def _keep_last_digits(piece: str, count: int = 4) -> int:
    """How many characters at the end of ``piece`` hold its last ``count`` digits."""
    seen = 0
    for back, char in enumerate(reversed(piece), start=1):
        seen += char in VALUE
        if seen == count:
            return back
    return 0


def _numbers(text: str, kind: str, test: Callable[[str, _Candidate], bool]) -> list[Span]:
    spans = []
    for found in _candidates(text):
        if not test(text, found):
            continue
        start, number_end, end = found.start, found.end, found.end
        if start > 0 and text[start - 1] in "+＋":
            start -= 1
        if start > 0 and text[start - 1] in "(（" and any(c in ")）" for c in text[start:end]):
            start -= 1
        if kind == "landline":  # an extension stays visible, with the number's last four digits
            number_end = found.positions[(_landline_digits(found) or len(found.digits)) - 1] + 1
            extension = EXTENSION.match(text, end)
            end = extension.end() if extension else end
        keep = _keep_last_digits(text[start:number_end]) + end - number_end
        spans.append(Span(start, end, kind, keep))
    return spans


def find_mobiles(text: str) -> list[Span]:
    """Chinese mobile numbers, ``138 1234 5678``, ``+86-138…``, ``幺三八…`` (kind ``mobile``)."""
    return _numbers(text, "mobile", _is_mobile)


def find_landlines(text: str) -> list[Span]:
    """Landlines with an area code, ``(0755) 8888 6666``, ``0571-8888666-123`` (``landline``)."""
    return _numbers(text, "landline", _is_landline)


def find_id_cards(text: str) -> list[Span]:
    """Resident ID numbers, 18 digits with a valid check digit or 15 legacy ones (``id_card``)."""
    return _numbers(text, "id_card", _is_id_card)


def find_bank_cards(text: str) -> list[Span]:
    """Bank cards, 13–19 digits passing Luhn or with the UnionPay prefix 62 (``bank_card``)."""
    return _numbers(text, "bank_card", _is_bank_card)


def find_emails(text: str) -> list[Span]:
    """E-mail addresses; the ``@domain`` stays visible (kind ``email``)."""
    return [
        Span(m.start(), m.end(), "email", m.end() - m.start("at" if m.group("at") else "at_word"))
        for pattern in (EMAIL, SPACED_EMAIL)
        for m in pattern.finditer(text)
    ]


DEFAULT_MASKERS: tuple[Masker, ...] = (
    find_emails,
    find_mobiles,
    find_id_cards,
    find_landlines,
    find_bank_cards,
)
"""The built-in detectors; on spans of equal length and start, the one listed first wins."""


# ----------------------------------------------------------------------------- masking


def _checked(given: Any, text: str, masker: Masker) -> Span:
    span = given if isinstance(given, Span) else Span(*given)
    if not (0 <= span.start < span.end <= len(text) and 0 <= span.keep <= span.end - span.start):
        raise ValueError(
            f"masker {getattr(masker, '__name__', masker)!r} returned {tuple(span)!r} for a text of "
            f"{len(text)} characters; a span needs 0 <= start < end <= len(text) and 0 <= keep <= end - start"
        )
    return span


def _listed(maskers: Iterable[Masker]) -> tuple[Masker, ...]:
    if callable(maskers):  # one masker given where a list is expected
        raise TypeError(f"maskers must be a list of maskers, e.g. [{getattr(maskers, '__name__', 'masker')}]")
    return tuple(maskers)


def find_personal_data(text: str, maskers: Iterable[Masker] = DEFAULT_MASKERS) -> list[Span]:
    """The spans to mask in ``text``, in order, without overlaps (the longest span wins)."""
    found = [(_checked(span, text, m), rank) for rank, m in enumerate(_listed(maskers)) for span in m(text)]
    found.sort(key=lambda pair: (pair[0].start - pair[0].end, pair[0].start, pair[1]))
    taken = bytearray(len(text))
    chosen = []
    for span, _ in found:
        if not any(taken[span.start : span.end]):
            taken[span.start : span.end] = b"\x01" * (span.end - span.start)
            chosen.append(span)
    return sorted(chosen)


def mask_text(text: str, maskers: Iterable[Masker] = DEFAULT_MASKERS) -> tuple[str, list[Span]]:
    """``text`` with its personal data masked (same length), and the spans that were masked."""
    spans = find_personal_data(text, maskers)
    chars = list(text)
    for span in spans:
        for at in range(span.start, span.end - span.keep):
            if chars[at].isalnum():
                chars[at] = "*"
    return "".join(chars), spans


def _mask_value(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _mask_value(item, mask) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_value(item, mask) for item in value]
    return value


def mask_conversation(
    conversation: Conversation, maskers: Iterable[Masker] = DEFAULT_MASKERS, *, metadata: bool = False
) -> tuple[Conversation, dict[str, int]]:
    """The conversation with personal data masked in its turns, notes and knowledge, and counts per kind.

    ``metadata=True`` masks the string values in ``metadata`` too (off by default: metadata
    is not sent to the model, and rules read it). Counts only list kinds that were found,
    e.g. ``{"email": 1, "mobile": 2}``. The given conversation is not changed.
    """
    chosen = _listed(maskers)
    counts: Counter[str] = Counter()

    def mask(text: str) -> str:
        masked, spans = mask_text(text, chosen)
        counts.update(span.kind for span in spans)
        return masked

    update: dict[str, Any] = {
        "turns": [turn.model_copy(update={"text": mask(turn.text)}) for turn in conversation.turns],
        "notes": mask(conversation.notes) if conversation.notes else conversation.notes,
        "knowledge": mask(conversation.knowledge) if conversation.knowledge else conversation.knowledge,
    }
    if metadata:
        update["metadata"] = _mask_value(conversation.metadata, mask)
    return conversation.model_copy(update=update), dict(sorted(counts.items()))


def mask_personal_data(conversation: Conversation) -> Conversation:
    """The conversation with the built-in kinds of personal data masked (see :func:`mask_conversation`)."""
    return mask_conversation(conversation)[0]
