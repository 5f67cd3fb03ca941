"""Helpers shared by :func:`calibrate` and :func:`compare_variants` (package-internal).

Human scores are checked against the rubric and normalised to tier ids; an item's scale
fixes its categories and kappa weights; (model, human) pairs are kept per conversation so
that a seeded bootstrap can resample conversations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .. import agreement as ag
from ..errors import LLMGraderError
from ..rubric import Item, Rubric
from ..scoring import Scorecard
from ..types import NOT_APPLICABLE
from ._human import HumanScore
from ._models import Interval

Weights = Literal["quadratic"] | None
Pairs = list[tuple[str, str]]
"""(first rater's label, second rater's label) pairs of one conversation."""

_NA_WORDS = {"not_applicable", "n/a", "na", "不适用", "不涉及"}


class HumanValues(NamedTuple):
    """Human scores normalised against a rubric."""

    tiers: dict[str, dict[str, dict[str, str]]]
    """item id → conversation id → rater → tier id (or ``not_applicable``)."""
    totals: dict[str, dict[str, float]]
    """conversation id → rater → total score."""
    fatal: dict[str, dict[str, int]]
    """conversation id → rater → fatal flag (0 or 1)."""


# ----------------------------------------------------------------------------- human scores


def _normaliser(rubric: Rubric) -> dict[str, dict[str, str]]:
    """Item id → lower-cased tier id, tier label or not-applicable word → tier id."""
    table: dict[str, dict[str, str]] = {}
    for _, item in rubric.items():
        names = {t.id: t.id for t in item.tiers}
        names.update({t.label: t.id for t in item.tiers if t.label})
        names.update({w: NOT_APPLICABLE for w in _NA_WORDS})
        table[item.id] = {k.lower(): v for k, v in names.items()}
    return table


def _problem(score: HumanScore, table: Mapping[str, Mapping[str, str]]) -> str | None:
    """What is wrong with one human score, or None when it fits the rubric."""
    where = f"{score.conversation_id}/{score.rater}/{score.item_id}"
    if score.item_id == "total":
        try:
            float(score.value)
        except ValueError:
            return f"{where}: total {score.value!r} is not a number"
        return None
    if score.item_id == "fatal":
        return None if score.value in ("0", "1") else f"{where}: fatal must be 0 or 1, not {score.value!r}"
    if score.item_id not in table:
        return f"{where}: unknown item {score.item_id!r}"
    if score.value.lower() not in table[score.item_id]:
        valid = sorted({k for k in table[score.item_id] if k not in _NA_WORDS} | {NOT_APPLICABLE})
        return f"{where}: {score.value!r} is not a tier of {score.item_id!r}; valid: {', '.join(valid)}"
    return None


def human_values(rubric: Rubric, scores: Sequence[HumanScore]) -> HumanValues:
    """The human scores as tier ids, totals and fatal flags; values that do not fit fail.

    Raises:
        LLMGraderError: listing the first ten problems (unknown item, tier or value).
    """
    table = _normaliser(rubric)
    problems = [p for p in (_problem(s, table) for s in scores) if p is not None]
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise LLMGraderError("human scores do not fit the rubric:\n" + "\n".join(problems[:10]) + more)
    tiers: dict[str, dict[str, dict[str, str]]] = {}
    totals: dict[str, dict[str, float]] = {}
    fatal: dict[str, dict[str, int]] = {}
    for s in scores:
        if s.item_id == "total":
            totals.setdefault(s.conversation_id, {})[s.rater] = float(s.value)
        elif s.item_id == "fatal":
            fatal.setdefault(s.conversation_id, {})[s.rater] = int(s.value)
        else:
            tier = table[s.item_id][s.value.lower()]
            tiers.setdefault(s.item_id, {}).setdefault(s.conversation_id, {})[s.rater] = tier
    return HumanValues(tiers, totals, fatal)


# ----------------------------------------------------------------------------- items and pairs


def item_scale(item: Item) -> tuple[list[str], bool, Weights]:
    """An item's labels (tier ids worst → best), whether not_applicable is compared, and weights.

    ``not_applicable`` is compared, as a category above the top tier, when it keeps full
    points; ordinal items (three or more tiers) use quadratic weights, binary items none.
    """
    labels = [t.id for t in sorted(item.tiers, key=item.tier_points)]
    policy = None
    if item.not_applicable is not None:
        policy = item.not_applicable.policy
    elif item.applicability is not None:
        policy = item.applicability.policy
    na_compared = policy == "full"
    if na_compared:
        labels = [*labels, NOT_APPLICABLE]
    return labels, na_compared, "quadratic" if len(item.tiers) >= 3 else None


def model_value(card: Scorecard, item_id: str) -> str | None:
    """The model's tier id for an item, ``not_applicable``, or None when it is unscored."""
    result = card.item(item_id)
    if result.unscored:
        return None
    return NOT_APPLICABLE if result.not_applicable else result.tier


def pool(by_conversation: Mapping[str, Pairs], ids: Sequence[str]) -> Pairs:
    """All pairs of the given conversations, in order (a conversation may repeat: bootstrap)."""
    return [p for cid in ids for p in by_conversation.get(cid, ())]


def kappa(pairs: Sequence[tuple[str, str]], labels: list[str], weights: Weights) -> float:
    """Cohen's kappa of the pairs; NaN when there are none."""
    if not pairs:
        return math.nan
    return ag.cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs], weights=weights, labels=labels)


# ----------------------------------------------------------------------------- bootstrap


def bootstrap_draws(n_boot: int, seed: int, conversations: int) -> NDArray[np.int64]:
    """``n_boot`` resamples (with replacement) of conversation positions, seeded."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, conversations, size=(n_boot, conversations))


def bootstrap(
    by_conversation: Mapping[str, Pairs],
    labels: list[str],
    weights: Weights,
    draws: NDArray[np.int64],
    ids: list[str],
) -> list[float]:
    """Kappa on each resample of conversations."""
    return [kappa(pool(by_conversation, [ids[i] for i in row]), labels, weights) for row in draws]


def interval(values: Sequence[float], level: float) -> Interval:
    """The percentile interval of the bootstrap values; NaN bounds when too few are defined."""
    finite = np.asarray([v for v in values if not math.isnan(v)])
    undefined = len(values) - int(finite.size)
    if finite.size < max(10, len(values) // 2):
        return Interval(low=math.nan, high=math.nan, undefined=undefined)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(low=round(float(low), 4), high=round(float(high), 4), undefined=undefined)
