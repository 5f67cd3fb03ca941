"""Calibrate: how far the grader agrees with human QA graders, item by item.

Per item: pairs are (model, human) for every rater who scored the conversation, pooled.
Ordinal items (three or more tiers) use quadratic-weighted kappa, binary items unweighted
kappa; exact and adjacent agreement, Gwet's AC1 and the confusion matrix come alongside.
Where two or more humans scored a conversation, the same figures between humans give the
ceiling to compare against. Confidence intervals come from a seeded bootstrap that
resamples conversations. ``not_applicable`` is a category of its own placed above the top
tier when it keeps full points (it is "no deduction"), and left out of the comparison when
the item is then excluded from the total. Where an item has blind labels (given with the AI
grade hidden), only those are used, for the model–human figures and for the ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import agreement as ag
from .._results import load_results
from ..errors import LLMGraderError
from ..rubric import Item, Rubric, load_rubric
from ..scoring import ItemResult, Scorecard
from ..types import NOT_APPLICABLE
from ._coverage import coverage_curves
from ._human import HumanScore, load_human_scores, prefer_blind
from ._models import (
    CalibrationReport,
    Disagreement,
    FatalAgreement,
    Interval,
    ItemAgreement,
    RaterAgreement,
    TotalsAgreement,
)
from ._shared import (
    HumanValues,
    Pairs,
    Weights,
    bootstrap,
    bootstrap_draws,
    human_values,
    interval,
    item_scale,
    model_value,
    pool,
)

_FATAL_NAME = "致命差错 / fatal error"


def calibrate(
    rubric: Rubric | str | Path,
    scorecards: Iterable[Scorecard] | str | Path,
    human_scores: Iterable[HumanScore] | str | Path | Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_disagreements: int = 200,
    target_kappa: float = 0.8,
) -> CalibrationReport:
    """Agreement of the scorecards with the human scores, per item, totals and fatal flags.

    Blind labels (``HumanScore.blind``) are preferred: an item with any is measured on its
    blind labels alone, model–human and human–human (:func:`~.human.prefer_blind`); the
    report's ``blind_labels`` counts them.

    ``coverage``: the coverage–agreement curves (:mod:`.coverage`), their sentence aiming at
    ``target_kappa``.

    Each argument may be given in the form the other functions take: ``rubric`` a
    :class:`Rubric`, a built-in name or a YAML path (:func:`~llm_grader.load_rubric`);
    ``scorecards`` any iterable of scorecards (e.g. ``read_results(path)``) or a results
    file path (:func:`~llm_grader._results.load_results`); ``human_scores`` a list of
    :class:`HumanScore`, or anything :func:`load_human_scores` reads (a CSV/JSONL path, a
    DataFrame, a ``datasets.Dataset``, dicts). Anything else is refused with an
    :class:`~llm_grader.errors.LLMGraderError` saying what is expected.
    """
    rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
    cards = {c.conversation_id: c for c in _scorecards(scorecards)}
    human_scores, blind = prefer_blind(_human_scores(human_scores))
    humans = human_values(rubric, human_scores)
    ids, notes = _conversations(cards, humans)
    draws = bootstrap_draws(n_boot, seed, len(ids))
    items, item_disagreements = _items(rubric, cards, humans.tiers, ids, draws, level)
    fatal, fatal_disagreements = _fatal(cards, ids, humans.fatal, rubric)
    disagreements = sorted([*item_disagreements, *fatal_disagreements], key=_largest_first)
    return CalibrationReport(
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        model=next((c.model for c in cards.values() if c.model), None),
        conversations=len(ids),
        raters=sorted({s.rater for s in human_scores}),
        items=items,
        totals=_totals(cards, ids, humans.totals),
        fatal=fatal,
        disagreements=disagreements[:max_disagreements],
        bootstrap={"draws": n_boot, "seed": seed, "level": level},
        notes=notes,
        language=rubric.language,
        coverage=coverage_curves(
            rubric, cards, humans.tiers, ids, draws, level=level, target_kappa=target_kappa
        ),
        blind_labels=blind,
    )


def _scorecards(source: object) -> Iterator[Scorecard]:
    if isinstance(source, (str, Path)):
        yield from load_results(source)
        return
    if not isinstance(source, Iterable) or isinstance(source, (bytes, Mapping, Scorecard)):
        raise LLMGraderError(
            "calibrate: scorecards must be an iterable of Scorecard (e.g. read_results(path)) "
            f"or a results file path, not {type(source).__name__}"
        )
    for index, card in enumerate(source):
        if not isinstance(card, Scorecard):
            raise LLMGraderError(
                f"calibrate: scorecards[{index}] is a {type(card).__name__}, not a Scorecard"
            )
        yield card


def _human_scores(source: object) -> list[HumanScore]:
    """The human scores as a list (they are read more than once), loaded when not yet scores."""
    if isinstance(source, (list, tuple)) and all(isinstance(s, HumanScore) for s in source):
        return list(source)
    if isinstance(source, Iterator):  # a generator: read it once
        source = list(source)
        if all(isinstance(s, HumanScore) for s in source):
            return source
    try:
        return load_human_scores(source)
    except TypeError as exc:  # not a path, a table or dicts
        raise LLMGraderError(
            "calibrate: human_scores must be HumanScore objects, a CSV/JSONL path, a DataFrame, "
            f"a datasets.Dataset or dicts ({exc})"
        ) from None


def _conversations(cards: Mapping[str, Scorecard], humans: HumanValues) -> tuple[list[str], list[str]]:
    """The conversations with both a scorecard and human scores, and a note on those without a card."""
    scored = {cid for per_item in humans.tiers.values() for cid in per_item} | set(humans.totals)
    scored |= set(humans.fatal)
    ids = sorted(cid for cid in scored if cid in cards)
    notes = []
    missing = sorted(scored - set(cards))
    if missing:
        notes.append(
            f"{len(missing)} conversation(s) scored by humans have no scorecard: {', '.join(missing[:10])}"
        )
    if not ids:
        raise LLMGraderError(
            "no conversation has both a scorecard and human scores; check the conversation ids"
        )
    return ids, notes


def _largest_first(d: Disagreement) -> tuple[int, int, str, str]:
    return (-d.distance, -len(d.humans), d.conversation_id, d.item_id)


# ----------------------------------------------------------------------------- items


@dataclass(frozen=True)
class _Scale:
    """An item's categories in order, whether not_applicable is compared, and kappa weights."""

    labels: list[str]
    na_compared: bool
    weights: Weights


@dataclass(frozen=True)
class _Aligned:
    """One item's human ratings lined up with the model's, conversation by conversation."""

    model_pairs: dict[str, Pairs]
    human_pairs: dict[str, Pairs]
    per_rater: dict[str, dict[str, str]]
    """rater → conversation id → label (for Krippendorff's alpha)."""
    unscored: int
    needs_review: int
    disagreements: list[Disagreement]


def _items(
    rubric: Rubric,
    cards: Mapping[str, Scorecard],
    tiers: Mapping[str, Mapping[str, Mapping[str, str]]],
    ids: list[str],
    draws: NDArray[np.int64],
    level: float,
) -> tuple[list[ItemAgreement], list[Disagreement]]:
    """Agreement on every tiered item the humans scored, and the disagreements found."""
    items: list[ItemAgreement] = []
    disagreements: list[Disagreement] = []
    for _, item in rubric.items():
        if item.is_deduction or item.id not in tiers:
            continue
        scale = _Scale(*item_scale(item))
        aligned = _align(item, scale, tiers[item.id], cards, ids)
        items.append(_item_agreement(item, scale, aligned, tiers[item.id], ids, draws, level))
        disagreements.extend(aligned.disagreements)
    return items, disagreements


def _align(
    item: Item,
    scale: _Scale,
    ratings: Mapping[str, Mapping[str, str]],
    cards: Mapping[str, Scorecard],
    ids: list[str],
) -> _Aligned:
    """Pairs, per-rater labels, counts and disagreements of one item over the conversations."""
    model_pairs: dict[str, Pairs] = {}
    human_pairs: dict[str, Pairs] = {}
    per_rater: dict[str, dict[str, str]] = {}
    unscored = needs_review = 0
    disagreements: list[Disagreement] = []
    for cid in ids:
        humans = {r: v for r, v in ratings.get(cid, {}).items() if scale.na_compared or v != NOT_APPLICABLE}
        if not humans:
            continue
        result = cards[cid].item(item.id)
        needs_review += result.needs_review
        model = model_value(cards[cid], item.id)
        unscored += model is None
        compared = model is None or scale.na_compared or model != NOT_APPLICABLE
        if model is not None and compared:
            model_pairs[cid] = [(model, v) for v in humans.values()]
        for r, v in humans.items():
            per_rater.setdefault(r, {})[cid] = v
        between = [(x, y) for (_, x), (_, y) in combinations(sorted(humans.items()), 2)]
        if between:
            human_pairs[cid] = between
        found = _disagreement(item, scale.labels, cid, model, humans, result) if compared else None
        if found is not None:
            disagreements.append(found)
    return _Aligned(model_pairs, human_pairs, per_rater, unscored, needs_review, disagreements)


def _disagreement(
    item: Item, labels: list[str], cid: str, model: str | None, humans: dict[str, str], result: ItemResult
) -> Disagreement | None:
    """The model against the humans on one conversation; None when every human agrees."""
    differing = [v for v in humans.values() if v != model]
    if not differing:
        return None
    return Disagreement(
        conversation_id=cid,
        item_id=item.id,
        item_name=item.name,
        model=model,
        humans=humans,
        distance=max(_distance(labels, model, v) for v in differing),
        evidence=result.evidence,
        rationale=result.error or result.rationale,
    )


def _distance(labels: list[str], x: str | None, y: str) -> int:
    if x is None:
        return len(labels)
    return abs(labels.index(x) - labels.index(y))


def _item_agreement(
    item: Item,
    scale: _Scale,
    aligned: _Aligned,
    ratings: Mapping[str, Mapping[str, str]],
    ids: list[str],
    draws: NDArray[np.int64],
    level: float,
) -> ItemAgreement:
    """The model–human and human–human figures of one item."""
    labels, weights = scale.labels, scale.weights
    pooled = pool(aligned.model_pairs, ids)
    ci = interval(bootstrap(aligned.model_pairs, labels, weights, draws, ids), level)
    return ItemAgreement(
        item_id=item.id,
        name=item.name,
        scale="ordinal" if weights else "binary",
        weights="quadratic" if weights else None,
        labels=labels,
        tier_labels={t.id: t.display for t in item.tiers},
        conversations=sum(1 for cid in ids if ratings.get(cid)),
        unscored=aligned.unscored,
        needs_review=aligned.needs_review,
        model_human=_pairs_stats(pooled, labels, weights, kappa_ci=ci),
        human_human=_human_human(aligned, labels, weights, ids, draws, level),
        confusion=ag.confusion_matrix([p[0] for p in pooled], [p[1] for p in pooled], labels=labels),
    )


def _human_human(
    aligned: _Aligned,
    labels: list[str],
    weights: Weights,
    ids: list[str],
    draws: NDArray[np.int64],
    level: float,
) -> RaterAgreement | None:
    """Agreement between the humans (the ceiling); None when no conversation has two raters."""
    pooled = pool(aligned.human_pairs, ids)
    if not pooled:
        return None
    ci = interval(bootstrap(aligned.human_pairs, labels, weights, draws, ids), level)
    matrix = [[aligned.per_rater[r].get(cid) for cid in ids] for r in sorted(aligned.per_rater)]
    alpha = ag.krippendorff_alpha(matrix, level="ordinal" if weights else "nominal", labels=labels)
    return _pairs_stats(pooled, labels, weights, kappa_ci=ci, alpha=alpha)


def _pairs_stats(
    pairs: Sequence[tuple[str, str]],
    labels: list[str],
    weights: Weights,
    *,
    kappa_ci: Interval,
    alpha: float = math.nan,
) -> RaterAgreement:
    if not pairs:
        return RaterAgreement(kappa_ci=kappa_ci, alpha=alpha)
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    return RaterAgreement(
        n=len(pairs),
        exact=ag.percent_agreement(a, b, labels=labels),
        adjacent=ag.percent_agreement(a, b, tolerance=1, labels=labels),
        kappa=ag.cohen_kappa(a, b, weights=weights, labels=labels),
        kappa_ci=kappa_ci,
        ac1=ag.gwet_ac1(a, b, labels=labels),
        alpha=alpha,
    )


# ----------------------------------------------------------------------------- totals and fatal


def _totals(
    cards: Mapping[str, Scorecard], ids: list[str], totals: Mapping[str, Mapping[str, float]]
) -> TotalsAgreement | None:
    """Model against human totals (complete scorecards only), and the humans' own spread."""
    model, human, incomplete = [], [], 0
    hh_a, hh_b = [], []
    for cid in ids:
        values = totals.get(cid)
        if not values:
            continue
        for x, y in combinations(sorted(values.values()), 2):
            hh_a.append(x)
            hh_b.append(y)
        card = cards[cid]
        if not card.complete or card.total_score is None:
            incomplete += 1
            continue
        for v in values.values():
            model.append(card.total_score)
            human.append(v)
    if not model and not incomplete:
        return None
    return TotalsAgreement(
        n=len(model),
        incomplete=incomplete,
        mae=ag.mae(model, human),
        rmse=ag.rmse(model, human),
        pearson=ag.pearson(model, human),
        spearman=ag.spearman(model, human),
        human_human_mae=ag.mae(hh_a, hh_b) if hh_a else math.nan,
        human_human_pearson=ag.pearson(hh_a, hh_b) if hh_a else math.nan,
    )


def _fatal(
    cards: Mapping[str, Scorecard], ids: list[str], fatal: Mapping[str, Mapping[str, int]], rubric: Rubric
) -> tuple[FatalAgreement | None, list[Disagreement]]:
    """The model's fatal flag against the humans' (humans as truth), and the mismatches."""
    truth: list[int] = []
    predicted: list[int] = []
    disagreements: list[Disagreement] = []
    undetermined = 0
    for cid in ids:
        values = fatal.get(cid)
        if not values:
            continue
        if cards[cid].fatal is None:  # undetermined is not "no": it is left out and counted
            undetermined += 1
            continue
        flag = int(bool(cards[cid].fatal))
        truth.extend(values.values())
        predicted.extend(flag for _ in values)
        if any(v != flag for v in values.values()):
            disagreements.append(_fatal_disagreement(cards[cid], values, rubric))
    if not truth and not undetermined:
        return None, disagreements
    metrics = ag.binary_metrics(truth, predicted)
    agreement = FatalAgreement(
        n=len(truth),
        precision=metrics.precision,
        recall=metrics.recall,
        f1=metrics.f1,
        ac1=ag.gwet_ac1(truth, predicted, labels=[0, 1]),
        model_positive=sum(predicted),
        human_positive=sum(truth),
        undetermined=undetermined,
    )
    return agreement, disagreements


def _fatal_disagreement(card: Scorecard, values: Mapping[str, int], rubric: Rubric) -> Disagreement:
    """A fatal-flag mismatch, placed above any tier gap: its distance is the most tiers plus one."""
    fatal_hits = [o for o in card.overrides if o.kind == "fatal"]
    return Disagreement(
        conversation_id=card.conversation_id,
        item_id="fatal",
        item_name=_FATAL_NAME,
        model=str(int(bool(card.fatal))),
        humans={r: str(v) for r, v in values.items()},
        distance=max(len(i.tiers) for _, i in rubric.items() if i.tiers) + 1,
        evidence=[e for o in fatal_hits for e in o.evidence],
        rationale="; ".join(o.reason for o in fatal_hits),
    )
