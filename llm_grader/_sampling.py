"""Self-consistency: combine k sampled answers for one item — pure functions.

Nothing here depends on the order of the samples. A tiered item takes the majority tier (a
tie goes to the lower tier), and each of its flags is raised when a majority of the samples
raise it (:func:`majority_verdict`); its evidence is pooled from the samples behind that
verdict. A deduction item keeps an occurrence when a majority of the samples report it at
the same turn: at turn *t* it counts *c* occurrences, where *c* is the largest count that
more than half of the samples reach at *t*, and *s* of them severe, by the same rule
(:func:`majority_occurrences`). Agreement is the share of samples that said exactly what was
kept (tier and every flag, or occurrences and their severity); low agreement, or any flag the
samples disagree on, marks the item for review.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .types import Evidence, Occurrence


def _by_turn(occurrences: Sequence[Occurrence]) -> dict[int, list[Occurrence]]:
    out: dict[int, list[Occurrence]] = {}
    for occurrence in occurrences:
        out.setdefault(occurrence.turn, []).append(occurrence)
    return out


def _span(e: Evidence) -> tuple[int, int, int, str, int]:
    return (e.turn, e.start_char, e.end_char, e.quote, e.cited_turn or 0)


def _at_turn(
    grouped: list[dict[int, list[Occurrence]]], turn: int, count: int, severe: int
) -> list[Occurrence]:
    """``count`` occurrences at ``turn``, ``severe`` of them severe, from one sample that reports them."""
    candidates = [g[turn][:count] for g in grouped if len(g.get(turn, [])) >= count]
    exact = [c for c in candidates if sum(o.severe for o in c) == severe]
    source = min(exact or candidates, key=lambda c: [(*_span(o), o.severe) for o in c])
    if exact:
        return source
    return [o.model_copy(update={"severe": k < severe}) for k, o in enumerate(source)]


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
            severe = sorted((sum(o.severe for o in g.get(turn, [])) for g in grouped), reverse=True)[need - 1]
            kept.extend(_at_turn(grouped, turn, count, min(severe, count)))
    final = Counter((o.turn, o.severe) for o in kept)
    agreeing = sum(1 for s in samples if Counter((o.turn, o.severe) for o in s) == final)
    return tuple(kept), agreeing / len(samples)


@dataclass(frozen=True)
class Vote:
    """One sample's answer to a tiered item, as the vote sees it."""

    tier: str
    flags: Mapping[str, bool]
    """Every flag of the item, answered."""
    evidence: tuple[Evidence, ...] = ()
    """The located evidence of the answer."""
    key: str = ""
    """The answer's content (its JSON): picks the sample whose rationale is kept, in any order."""


@dataclass(frozen=True)
class Verdict:
    """What the samples of a tiered item agree on."""

    tier: str
    flags: dict[str, bool]
    tier_votes: dict[str, int]
    flag_votes: dict[str, int]
    """Samples that raised each flag."""
    agreeing: int
    """Samples that gave the kept tier and every flag as kept."""
    agreeing_samples: tuple[int, ...]
    """Their indices in the votes."""
    split: tuple[str, ...]
    """The flags the samples disagree on."""
    evidence: tuple[Evidence, ...]
    chosen: int
    """Index (in the votes) of the sample whose rationale stands for the verdict."""


def _pooled(evidence: Sequence[tuple[Evidence, ...]]) -> tuple[Evidence, ...]:
    """One sample's evidence as it gave it; several samples' in transcript order, each span once."""
    if len(evidence) == 1:
        return evidence[0]
    spans: dict[tuple[int, int, int], Evidence] = {}
    for found in sorted((e for sample in evidence for e in sample), key=_span):
        spans.setdefault((found.turn, found.start_char, found.end_char), found)
    return tuple(spans.values())


def majority_verdict(votes: Sequence[Vote], points: Mapping[str, float]) -> Verdict:
    """The majority tier (ties: fewest ``points``, a tier without points last), each flag by majority.

    The evidence is pooled from the samples behind the verdict — those that gave the kept tier
    and flags (or, when none did, the kept tier) — and, for each raised flag, from the samples
    that raised it.
    """
    tiers = Counter(v.tier for v in votes)
    tier = min(tiers, key=lambda t: (-tiers[t], t not in points, points.get(t, 0.0), t))
    raised = {
        f: sum(bool(v.flags.get(f)) for v in votes) for f in dict.fromkeys(f for v in votes for f in v.flags)
    }
    flags = {f: 2 * n > len(votes) for f, n in raised.items()}
    agreeing = [
        i for i, v in enumerate(votes) if v.tier == tier and {f: bool(v.flags.get(f)) for f in flags} == flags
    ]
    backing = agreeing or [i for i, v in enumerate(votes) if v.tier == tier]
    raisers = [i for i, v in enumerate(votes) if any(up and v.flags.get(f) for f, up in flags.items())]
    return Verdict(
        tier=tier,
        flags=flags,
        tier_votes=dict(tiers),
        flag_votes=raised,
        agreeing=len(agreeing),
        agreeing_samples=tuple(agreeing),
        split=tuple(f for f, n in raised.items() if 0 < n < len(votes)),
        evidence=_pooled([votes[i].evidence for i in sorted({*backing, *raisers})]),
        chosen=min(backing, key=lambda i: votes[i].key),
    )
