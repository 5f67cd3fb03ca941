"""Compare two wordings of a rubric: per-item kappa difference with a paired bootstrap."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..errors import LLMGraderError
from ..rubric import Item, Rubric
from ..scoring import Scorecard
from ..types import NOT_APPLICABLE
from ._human import HumanScore, prefer_blind
from ._models import Interval, ItemComparison, VariantComparison
from ._shared import (
    Pairs,
    bootstrap,
    bootstrap_draws,
    human_values,
    interval,
    item_scale,
    kappa,
    model_value,
    pool,
)

_Verdict = Literal["better", "worse", "not distinguishable", "undefined"]


def compare_variants(
    rubric_a: Rubric,
    cards_a: Iterable[Scorecard],
    rubric_b: Rubric,
    cards_b: Iterable[Scorecard],
    human_scores: Sequence[HumanScore],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> VariantComparison:
    """Per-item kappa difference (B − A) with a paired bootstrap interval over conversations.

    The same resampled conversation sets serve both variants, so the interval reflects the
    change in wording, not which conversations happened to be drawn. B is ``better`` when
    the whole interval is above 0, ``worse`` when below, else ``not distinguishable``. An
    item with blind labels is measured on those alone, as in :func:`~.run.calibrate`.
    ``overall`` compares the mean of the items' kappas the same way.
    """
    a = {c.conversation_id: c for c in cards_a}
    b = {c.conversation_id: c for c in cards_b}
    tiers = human_values(rubric_a, prefer_blind(human_scores)[0]).tiers
    ids = sorted(set(a) & set(b) & {cid for per in tiers.values() for cid in per})
    if not ids:
        raise LLMGraderError("the two variants and the human scores share no conversation")
    draws = bootstrap_draws(n_boot, seed, len(ids))
    item_ids_b = {i.id for _, i in rubric_b.items()}
    compared = [
        _compare_item(item, tiers[item.id], (a, b), ids, draws, level)
        for _, item in rubric_a.items()
        if not item.is_deduction and item.id in tiers and item.id in item_ids_b
    ]
    return VariantComparison(
        conversations=len(ids),
        items=[c.result for c in compared],
        bootstrap={"draws": n_boot, "seed": seed, "level": level},
        overall=_overall(compared, level),
    )


class _Compared(NamedTuple):
    """One item's comparison and its kappas on every bootstrap draw (A's, B's)."""

    result: ItemComparison
    boot_a: list[float]
    boot_b: list[float]


def _mean(values: Iterable[float]) -> float:
    """The mean of the defined values; NaN when none is."""
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else math.nan


def _overall(compared: Sequence[_Compared], level: float) -> ItemComparison | None:
    """The mean kappa over the items, B − A, with the paired bootstrap of that mean."""
    if not compared:
        return None
    ka = _mean(c.result.kappa_a for c in compared)
    kb = _mean(c.result.kappa_b for c in compared)
    per_draw_a = [_mean(draw) for draw in zip(*(c.boot_a for c in compared), strict=True)]
    per_draw_b = [_mean(draw) for draw in zip(*(c.boot_b for c in compared), strict=True)]
    diffs = interval([y - x for x, y in zip(per_draw_a, per_draw_b, strict=True)], level)
    return ItemComparison(
        item_id="overall", kappa_a=ka, kappa_b=kb, difference=kb - ka, interval=diffs, verdict=_verdict(diffs)
    )


def _variant_pairs(
    item: Item,
    na_compared: bool,
    ratings: Mapping[str, Mapping[str, str]],
    cards: Mapping[str, Scorecard],
    ids: list[str],
) -> dict[str, Pairs]:
    """One variant's (model, human) pairs of an item, per conversation."""
    pairs: dict[str, Pairs] = {}
    for cid in ids:
        humans = [v for v in ratings.get(cid, {}).values() if na_compared or v != NOT_APPLICABLE]
        model = model_value(cards[cid], item.id)
        if model is not None and (na_compared or model != NOT_APPLICABLE):
            pairs[cid] = [(model, v) for v in humans]
    return pairs


def _compare_item(
    item: Item,
    ratings: Mapping[str, Mapping[str, str]],
    variants: tuple[Mapping[str, Scorecard], Mapping[str, Scorecard]],
    ids: list[str],
    draws: NDArray[np.int64],
    level: float,
) -> _Compared:
    """Kappa of both variants on one item and the bootstrap interval of B − A."""
    labels, na_compared, weights = item_scale(item)
    pairs_a, pairs_b = (_variant_pairs(item, na_compared, ratings, cards, ids) for cards in variants)
    ka = kappa(pool(pairs_a, ids), labels, weights)
    kb = kappa(pool(pairs_b, ids), labels, weights)
    boot_a = bootstrap(pairs_a, labels, weights, draws, ids)
    boot_b = bootstrap(pairs_b, labels, weights, draws, ids)
    diffs = interval([y - x for x, y in zip(boot_a, boot_b, strict=True)], level)
    result = ItemComparison(
        item_id=item.id, kappa_a=ka, kappa_b=kb, difference=kb - ka, interval=diffs, verdict=_verdict(diffs)
    )
    return _Compared(result, boot_a, boot_b)


def _verdict(diffs: Interval) -> _Verdict:
    """``better`` when the whole interval is above 0, ``worse`` when below, NaN: ``undefined``."""
    if math.isnan(diffs.low):
        return "undefined"
    if diffs.low > 0:
        return "better"
    if diffs.high < 0:
        return "worse"
    return "not distinguishable"
