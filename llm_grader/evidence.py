"""Evidence verification: find a model's quote in the transcript, with offsets.

Both sides are normalised before matching — Unicode NFKC (full/half-width forms),
whitespace removed, zero-width characters dropped, quotation marks and a few CJK
punctuation marks unified — and the match is mapped back to character offsets in the
original turn text. A quote found in another turn than the one cited is accepted with
the turn corrected; a quote found nowhere is an error whose message goes back to the
model (a re-ask).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .types import Evidence
from .transcript import Conversation

__all__ = ["QuoteNotFound", "normalise", "verify_quote", "verify_quotes"]

_QUOTES = dict.fromkeys(map(ord, "“”„‟〝〞「」『』﹁﹂﹃﹄'‘’‚‛`´"), '"')
_PUNCT = {ord("。"): ".", ord("、"): ",", ord("～"): "~", ord("—"): "-", ord("–"): "-"}
_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


def _fold(ch: str) -> str:
    if ch in _ZERO_WIDTH or ch.isspace():
        return ""
    return unicodedata.normalize("NFKC", ch).translate(_QUOTES).translate(_PUNCT).lower()


def normalise(text: str) -> tuple[str, list[int]]:
    """Return the normalised text and, for each of its characters, the original offset."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        folded = "".join(c for c in _fold(ch) if not c.isspace())
        out.append(folded)
        index.extend([i] * len(folded))
    return "".join(out), index


@dataclass(frozen=True)
class QuoteNotFound:
    """A quote that is not in the transcript."""

    turn: int
    quote: str
    reason: str


_REASONS = {
    "zh": {
        "empty": "引用为空",
        "bad_turn": "对话没有第 {turn} 轮(共 {n} 轮)",
        "missing": "原文中找不到这句引用",
    },
    "en": {
        "empty": "the quote is empty",
        "bad_turn": "the conversation has no turn {turn} (it has {n})",
        "missing": "this quote is not in the transcript",
    },
}


def verify_quote(
    conversation: Conversation, turn: int, quote: str, *, language: str = "zh"
) -> Evidence | QuoteNotFound:
    """Locate ``quote`` (cited at 1-based ``turn``) in the conversation."""
    reasons = _REASONS.get(language, _REASONS["zh"])
    needle, _ = normalise(quote)
    if not needle:
        return QuoteNotFound(turn, quote, reasons["empty"])
    turns = conversation.turns
    order = list(range(len(turns)))
    if 1 <= turn <= len(turns):
        # The cited turn first, then the others by distance from it.
        order.sort(key=lambda i: (abs(i - (turn - 1)), i))
    for i in order:
        haystack, index = normalise(turns[i].text)
        at = haystack.find(needle)
        if at < 0:
            continue
        start = index[at]
        end = index[at + len(needle) - 1] + 1
        return Evidence(
            turn=i + 1,
            speaker=turns[i].speaker,
            quote=turns[i].text[start:end],
            start_char=start,
            end_char=end,
            verified=True,
        )
    if not 1 <= turn <= len(turns):
        return QuoteNotFound(turn, quote, reasons["bad_turn"].format(turn=turn, n=len(turns)))
    return QuoteNotFound(turn, quote, reasons["missing"])


def verify_quotes(
    conversation: Conversation, cited: Sequence[tuple[int, str]], *, language: str = "zh"
) -> tuple[list[Evidence], list[QuoteNotFound]]:
    """Verify every (turn, quote); return the located evidence and the failures."""
    found: list[Evidence] = []
    failed: list[QuoteNotFound] = []
    for turn, quote in cited:
        result = verify_quote(conversation, turn, quote, language=language)
        if isinstance(result, Evidence):
            found.append(result)
        else:
            failed.append(result)
    return found, failed
