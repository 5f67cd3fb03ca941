"""Sampling plans for human QA: how many conversations per group to check, and which ones.

:func:`sample_plan` groups scorecards (by ``metadata.agent_id``, say) and says, per group, how
many conversations a person must QA so that the mean total they measure is within ±``margin``
points of the group's true mean at the given confidence:

    n₀ = (z · s / m)²,  n = n₀ / (1 + (n₀ − 1) / N),  rounded up, at least 2 (or N), at most N

with z the normal quantile for the confidence (1.96 at 95 %), s the standard deviation of the
group's complete totals, m the margin and N the group's conversations (the second formula is
the finite-population correction: a group of 12 conversations never needs more than 12).
When a group has fewer than two complete totals its own spread is unknown: the spread of
every complete total (all groups pooled) is used and the plan says so; when even that is
unknown, every conversation of the group is taken (n = N).

The review queue is stratified:

- ``fatal``: every scorecard whose fatal or zero-score override fired;
- ``undetermined``: every scorecard whose fatal or zero-score state is still open;
- ``low_confidence``: every scorecard with an item whose ``confidence`` is below the threshold
  (skipped, with a note, when the scorecards' items carry no ``confidence``);
- ``control``: per group, a random sample of n conversations drawn with a seeded generator
  from *all* the group's conversations, whatever the model graded them.

The control sample keeps calibration unbiased: it is drawn independently of the model's
grade, so the agreement measured on it (and the mean a person scores on it) estimates the
agreement over every conversation. The other strata are chosen *because* of the grade —
agreement measured there is agreement on the hard cases, and counting them in would inflate
(or deflate) it by selection. A conversation may fall in several strata; each selected
scorecard carries its strata in ``metadata.review_sample``.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

from ._views import id_order
from .errors import LLMGraderError
from .scoring import Scorecard

Spread = Literal["group", "pooled", "unknown"]
NO_GROUP = "(none)"
"""The group of a scorecard without the grouping field."""


def sample_size(spread: float | None, margin: float, population: int, confidence: float = 0.95) -> int:
    """Conversations to QA for a ±``margin`` estimate of the mean: see the module docstring.

    ``spread`` None (unknown) takes the whole population.
    """
    if margin <= 0 or not 0 < confidence < 1:
        raise LLMGraderError(f"margin must be > 0 and confidence in (0, 1), not {margin} and {confidence}")
    if population <= 0:
        return 0
    if spread is None or math.isnan(spread):
        return population
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    n0 = (z * spread / margin) ** 2
    corrected = n0 / (1 + (n0 - 1) / population) if n0 > 0 else 0.0
    return min(population, max(2, math.ceil(corrected - 1e-9)))


def group_key(field_path: str) -> str:
    """The metadata key of ``--by``: ``metadata.agent_id`` and ``agent_id`` both mean ``agent_id``."""
    key = field_path.removeprefix("metadata.")
    if not key or "." in key:
        raise LLMGraderError(f"--by {field_path!r}: expected a metadata field, e.g. metadata.agent_id")
    return key


@dataclass(frozen=True)
class GroupPlan:
    """One group's plan: its spread, the conversations to QA, and the strata drawn from it."""

    group: str
    conversations: int
    complete: int
    """Scorecards with a final total (the spread is measured on these)."""
    mean: float | None
    spread: float | None
    """The standard deviation used (the group's, or the pooled one: see ``spread_source``)."""
    spread_source: Spread
    needed: int
    """Conversations to QA for the margin (the size of the control sample)."""
    control: tuple[str, ...]
    fatal: tuple[str, ...]
    undetermined: tuple[str, ...]
    low_confidence: tuple[str, ...]


@dataclass(frozen=True)
class SamplePlan:
    """The plan for every group and the scorecards to review, each tagged with its strata."""

    by: str
    margin: float
    confidence: float
    seed: int
    groups: list[GroupPlan]
    cards: list[Scorecard]
    """The selected scorecards in id order; ``metadata.review_sample`` lists each one's strata."""
    notes: list[str] = field(default_factory=list)


def _strata(card: Scorecard, threshold: float) -> tuple[bool, bool, bool | None]:
    """(fatal, undetermined, low confidence — None when no item carries a confidence)."""
    fired = bool(card.fatal) or bool(card.zero_score)
    open_ = card.fatal is None or card.zero_score is None
    values = [getattr(i, "confidence", None) for i in card.items]
    known = [v for v in values if isinstance(v, (int, float))]
    return fired, open_, (any(v < threshold for v in known) if known else None)


def _spread(totals: Sequence[float]) -> float | None:
    return statistics.stdev(totals) if len(totals) >= 2 else None


def sample_plan(
    cards: Iterable[Scorecard],
    *,
    by: str = "metadata.agent_id",
    margin: float = 3.0,
    confidence: float = 0.95,
    seed: int = 0,
    low_confidence: float = 0.5,
) -> SamplePlan:
    """The sampling plan and the stratified review queue of ``cards`` (see the module docstring)."""
    key = group_key(by)
    groups: dict[str, list[Scorecard]] = {}
    for card in cards:
        value = card.metadata.get(key)
        groups.setdefault(NO_GROUP if value in (None, "") else str(value), []).append(card)
    versions = sorted({f"{c.rubric_id} v{c.rubric_version}" for g in groups.values() for c in g})
    if len(versions) > 1:
        mixed = ", ".join(versions)
        raise LLMGraderError(f"the results mix rubric versions ({mixed}): plan one version at a time")
    totals = {
        g: [c.total_score for c in cs if c.complete and c.total_score is not None] for g, cs in groups.items()
    }
    pooled = _spread([t for ts in totals.values() for t in ts])
    plans: list[GroupPlan] = []
    chosen: dict[str, list[str]] = {}
    by_id: dict[str, Scorecard] = {}
    confidence_seen = False
    for name in sorted(groups, key=id_order):
        members = sorted(groups[name], key=lambda c: id_order(c.conversation_id))
        own = _spread(totals[name])
        source: Spread = "group" if own is not None else "pooled" if pooled is not None else "unknown"
        spread = own if own is not None else pooled
        needed = sample_size(spread, margin, len(members), confidence)
        rng = random.Random(f"{seed}:{name}")  # one stream per group: adding a group changes no other
        control = sorted(rng.sample([c.conversation_id for c in members], needed), key=id_order)
        strata: dict[str, list[str]] = {"fatal": [], "undetermined": [], "low_confidence": []}
        for card in members:
            fired, open_, low = _strata(card, low_confidence)
            confidence_seen = confidence_seen or low is not None
            for stratum, hit in (("fatal", fired), ("undetermined", open_), ("low_confidence", bool(low))):
                if hit:
                    strata[stratum].append(card.conversation_id)
        for stratum, ids in [("control", control), *strata.items()]:
            for cid in ids:
                chosen.setdefault(cid, []).append(stratum)
        by_id |= {c.conversation_id: c for c in members}
        mean = statistics.fmean(totals[name]) if totals[name] else None
        plans.append(GroupPlan(
            name, len(members), len(totals[name]), mean, spread, source, needed, tuple(control),
            tuple(strata["fatal"]), tuple(strata["undetermined"]), tuple(strata["low_confidence"]),
        ))  # fmt: skip
    notes = []
    if not confidence_seen:
        notes.append("no item carries a confidence: the low-confidence stratum is skipped")
    pooled_groups = [p.group for p in plans if p.spread_source != "group"]
    if pooled_groups:
        how = "the pooled spread" if pooled is not None else "every conversation (spread unknown)"
        notes.append(f"fewer than 2 complete totals in {', '.join(pooled_groups)}: planned with {how}")
    selected = [
        by_id[cid].model_copy(update={"metadata": {**by_id[cid].metadata, "review_sample": ",".join(tags)}})
        for cid, tags in sorted(chosen.items(), key=lambda kv: id_order(kv[0]))
    ]
    return SamplePlan(by, margin, confidence, seed, plans, selected, notes)
