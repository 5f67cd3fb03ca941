"""Evidence verification: find a model's quote in the transcript, with offsets.

Both sides are normalised before matching — Unicode NFKC (full/half-width forms),
whitespace removed, zero-width characters dropped, quotation marks and a few CJK
punctuation marks unified — and the match is mapped back to character offsets in the
original turn text. A quote found in another turn than the one cited is accepted with the
turn corrected (the cited turn is kept beside it); a quote found nowhere, or only in the turns
of a speaker the item does not accept, is an error whose message goes back to the model (a
re-ask).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
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


QuoteProblem = Literal["empty", "bad_turn", "missing", "wrong_speaker"]
"""Why a quote was not verified: it is empty, cites a turn that does not exist, is not in the
transcript, or is only in turns of a speaker the item does not accept (e.g. the customer's
words cited as the agent's)."""


@dataclass(frozen=True)
class QuoteNotFound:
    """A quote that could not be verified; ``code`` says why (the words are prompt text)."""

    turn: int
    quote: str
    code: QuoteProblem
    turns: int
    """How many turns the conversation has (for the ``bad_turn`` message)."""
    found_turn: int | None = None
    """For ``wrong_speaker``: the turn the text was found in."""
    found_speaker: str | None = None
    """For ``wrong_speaker``: who said it."""


def _find(text: str, needle: str) -> tuple[int, int] | None:
    haystack, index = normalise(text)
    at = haystack.find(needle)
    if at < 0:
        return None
    return index[at], index[at + len(needle) - 1] + 1


def verify_quote(
    conversation: Conversation, turn: int, quote: str, *, speakers: Collection[str] | None = None
) -> Evidence | QuoteNotFound:
    """Locate ``quote`` (cited at 1-based ``turn``) in a turn of one of ``speakers``.

    The cited turn is searched first, then the others by distance from it; a quote found in
    another turn keeps the cited one in ``cited_turn``. With ``speakers`` (default: anyone), a
    quote found only in other speakers' turns is ``wrong_speaker`` — never moved there.
    """
    needle, _ = normalise(quote)
    turns = conversation.turns
    if not needle:
        return QuoteNotFound(turn, quote, "empty", len(turns))
    order = sorted(range(len(turns)), key=lambda i: (abs(i - (turn - 1)), i))
    elsewhere: tuple[int, str] | None = None
    for i in order:
        span = _find(turns[i].text, needle)
        if span is None:
            continue
        if speakers is not None and turns[i].speaker not in speakers:
            elsewhere = elsewhere or (i + 1, turns[i].speaker)
            continue
        start, end = span
        return Evidence(
            turn=i + 1,
            speaker=turns[i].speaker,
            quote=turns[i].text[start:end],
            start_char=start,
            end_char=end,
            verified=True,
            cited_turn=None if i + 1 == turn else turn,
        )
    if elsewhere is not None:
        return QuoteNotFound(turn, quote, "wrong_speaker", len(turns), *elsewhere)
    return QuoteNotFound(turn, quote, "missing" if 1 <= turn <= len(turns) else "bad_turn", len(turns))
