"""Self-consistency: combine k sampled answers for one item — pure functions.

A tiered item takes the majority tier. A deduction item keeps an occurrence when a majority
of the samples report it at the same turn: at turn *t* it counts *c* occurrences, where *c*
is the largest count that more than half of the samples reach at *t*. Agreement is the share
of samples that said exactly what was kept; low agreement marks the item for review.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .types import Occurrence

__all__ = ["majority_occurrences"]


def _by_turn(occurrences: Sequence[Occurrence]) -> dict[int, list[Occurrence]]:
    out: dict[int, list[Occurrence]] = {}
    for occurrence in occurrences:
        out.setdefault(occurrence.turn, []).append(occurrence)
    return out


def majority_occurrences(samples: Sequence[Sequence[Occurrence]]) -> tuple[tuple[Occurrence, ...], float]:
    """The occurrences a majority of ``samples`` report, turn by turn, and the agreement share."""
    if not samples:
        return (), 1.0
    grouped = [_by_turn(s) for s in samples]
    need = len(samples) // 2 + 1
    kept: list[Occurrence] = []
    for turn in sorted({t for g in grouped for t in g}):
        counts = sorted((len(g.get(turn, [])) for g in grouped), reverse=True)
        count = counts[need - 1]  # the largest count reached by a majority of the samples
        if count:
            source = next(g[turn] for g in grouped if len(g.get(turn, [])) >= count)
            kept.extend(source[:count])
    final = Counter(o.turn for o in kept)
    agreeing = sum(1 for s in samples if Counter(o.turn for o in s) == final)
    return tuple(kept), agreeing / len(samples)
