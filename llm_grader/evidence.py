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
from dataclasses import dataclass
from typing import Literal

from .conversation import Conversation
from .types import Evidence

__all__ = ["QuoteNotFound", "QuoteProblem", "normalise", "verify_quote"]

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


QuoteProblem = Literal["empty", "bad_turn", "missing"]
"""Why a quote was not found: it is empty, cites a turn that does not exist, or is not there."""


@dataclass(frozen=True)
class QuoteNotFound:
    """A quote that is not in the transcript; ``code`` says why (the words are prompt text)."""

    turn: int
    quote: str
    code: QuoteProblem
    turns: int
    """How many turns the conversation has (for the ``bad_turn`` message)."""


def verify_quote(conversation: Conversation, turn: int, quote: str) -> Evidence | QuoteNotFound:
    """Locate ``quote`` (cited at 1-based ``turn``) in the conversation."""
    needle, _ = normalise(quote)
    turns = conversation.turns
    if not needle:
        return QuoteNotFound(turn, quote, "empty", len(turns))
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
    return QuoteNotFound(turn, quote, "missing" if 1 <= turn <= len(turns) else "bad_turn", len(turns))
