"""Evidence verification: find a model's quote in the transcript, with offsets.

Both sides are normalised before matching — Unicode NFKC (full/half-width forms),
whitespace removed, invisible characters dropped (every format character, Unicode category
Cf — zero-width spaces, direction marks and overrides, soft hyphens — and the other
default-ignorable code points such as variation selectors), quotation marks and a few CJK
punctuation marks unified — and the match is mapped back to character offsets in the
original turn text.

A quote must carry content: one made of punctuation, symbols or whitespace alone verifies
nothing, and a quote of fewer than :data:`MIN_QUOTE_CHARS` letters or digits verifies only
as the whole of a turn that short (a bare ``您`` or ``。`` cannot stand for an agent's words).
A quote found in another turn than the one cited is accepted with the turn corrected (the
cited turn is kept beside it); a cited turn the conversation does not have, a quote found
nowhere, or only in the turns of a speaker the item does not accept, is an error whose
message goes back to the model (a re-ask).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final, Literal

from .conversation import Conversation
from .types import Evidence

MIN_QUOTE_CHARS: Final = 4
"""The fewest letters or digits a quote must have (4 Chinese characters, a short English word),
unless it is the whole of a turn that short (``好的。``). Punctuation, symbols and whitespace
do not count."""

_QUOTES = dict.fromkeys(map(ord, "“”„‟〝〞「」『』﹁﹂﹃﹄'‘’‚‛`´"), '"')
_PUNCT = {ord("。"): ".", ord("、"): ",", ord("～"): "~", ord("—"): "-", ord("–"): "-"}
_DEFAULT_IGNORABLE = (
    # Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt) that are not
    # format characters (category Cf, ignored by category): invisible when rendered.
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong / jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors (U+180E is Cf)
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned, reserved as ignorable
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE0FFF),  # tags and variation selectors supplement
)


def _ignorable(ch: str) -> bool:
    """Whether ``ch`` is invisible and ignored when matching quotes.

    Every format character (Unicode category Cf: zero-width spaces and joiners, direction
    marks, embeddings, overrides and isolates, the soft hyphen, U+180E, the BOM …) and the
    other default-ignorable code points (variation selectors, U+034F, Hangul fillers …).
    """
    if unicodedata.category(ch) == "Cf":
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _DEFAULT_IGNORABLE)


@functools.lru_cache(maxsize=8192)
def _fold(ch: str) -> str:
    if ch.isspace() or _ignorable(ch):
        return ""
    folded = unicodedata.normalize("NFKC", ch).translate(_QUOTES).translate(_PUNCT).lower()
    return "".join(c for c in folded if not (c.isspace() or _ignorable(c)))


def normalise(text: str) -> tuple[str, list[int]]:
    """Return the normalised text and, for each of its characters, the original offset."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold(ch)
        out.append(folded)
        index.extend([i] * len(folded))
    return "".join(out), index


def _content(normalised: str) -> str:
    """The letters and digits of a normalised text: what a quote says, without punctuation."""
    return "".join(c for c in normalised if unicodedata.category(c)[0] in "LN")


QuoteProblem = Literal["empty", "bad_turn", "no_content", "too_short", "missing", "wrong_speaker"]
"""Why a quote was not verified: it is empty, cites a turn that does not exist, has no letter
or digit (punctuation or symbols only), is shorter than :data:`MIN_QUOTE_CHARS` without being
a whole turn, is not in the transcript, or is only in turns of a speaker the item does not
accept (e.g. the customer's words cited as the agent's)."""


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


def _find(text: str, needle: str) -> tuple[int, int, bool] | None:
    """Where ``needle`` (normalised) is in ``text``, and whether it is all the text says."""
    haystack, index = normalise(text)
    at = haystack.find(needle)
    if at < 0:
        return None
    return index[at], index[at + len(needle) - 1] + 1, _content(haystack) == _content(needle)


def verify_quote(
    conversation: Conversation, turn: int, quote: str, *, speakers: Collection[str] | None = None
) -> Evidence | QuoteNotFound:
    """Locate ``quote`` (cited at 1-based ``turn``) in a turn of one of ``speakers``.

    A cited turn the conversation does not have is ``bad_turn`` (never corrected); a quote
    without letters or digits is ``no_content``; one shorter than :data:`MIN_QUOTE_CHARS` is
    accepted only as the whole of a turn (else ``too_short``). The cited turn is searched
    first, then the others by distance from it; a quote found in another turn keeps the cited
    one in ``cited_turn``. With ``speakers`` (default: anyone), a quote found only in other
    speakers' turns is ``wrong_speaker`` — never moved there.
    """
    needle, _ = normalise(quote)
    turns = conversation.turns
    if not needle:
        return QuoteNotFound(turn, quote, "empty", len(turns))
    if not 1 <= turn <= len(turns):
        return QuoteNotFound(turn, quote, "bad_turn", len(turns))
    content = len(_content(needle))
    if not content:
        return QuoteNotFound(turn, quote, "no_content", len(turns))
    short = content < MIN_QUOTE_CHARS
    order = sorted(range(len(turns)), key=lambda i: (abs(i - (turn - 1)), i))
    elsewhere: tuple[int, str] | None = None
    partial = False
    for i in order:
        span = _find(turns[i].text, needle)
        if span is None:
            continue
        if speakers is not None and turns[i].speaker not in speakers:
            elsewhere = elsewhere or (i + 1, turns[i].speaker)
            continue
        start, end, whole = span
        if short and not whole:
            partial = True  # a few characters out of a longer turn: they show nothing
            continue
        return Evidence(
            turn=i + 1,
            speaker=turns[i].speaker,
            quote=turns[i].text[start:end],
            start_char=start,
            end_char=end,
            verified=True,
            cited_turn=None if i + 1 == turn else turn,
        )
    if partial:
        return QuoteNotFound(turn, quote, "too_short", len(turns))
    if elsewhere is not None:
        return QuoteNotFound(turn, quote, "wrong_speaker", len(turns), *elsewhere)
    return QuoteNotFound(turn, quote, "missing", len(turns))
