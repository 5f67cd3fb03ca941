"""The coverage–agreement curve: route grades below a confidence to review, measure the rest.

For each threshold *c*, grades with confidence ≥ *c* are auto-accepted and the others go to
human review (复核). Per item, the curve gives the share accepted (coverage) and the kappa the
accepted grades have against the humans; overall, the share of every (conversation, item) grade
accepted and the mean of the items' kappas. Both come with a seeded bootstrap over
conversations (the same draws as the rest of the report). An unscored grade is never accepted;
a grade without a confidence counts as confidence 0. One sentence says where to set the
threshold to keep kappa at a target ("auto-accept 72% at κ ≥ 0.8; send 28% to 复核").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from .._messages import text
from ..rubric import Rubric
from ..scoring import Scorecard
from ..types import NOT_APPLICABLE
from ._models import CoverageCurve, CoveragePoint
from ._shared import interval, item_scale, model_value

OVERALL = "overall"
"""The ``item_id`` of the curve over every item."""

_Array = NDArray[np.float64]
_GRID = 21  # thresholds at most (0, 0.05, …, 1 when there are more distinct confidences)


def _kappas(observed: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Weighted kappa of each confusion matrix in ``observed`` (..., L, L); NaN where undefined."""
    n = observed.sum(axis=(-1, -2))
    expected = observed.sum(axis=-1)[..., :, None] * observed.sum(axis=-2)[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        disagree = (weights * observed).sum(axis=(-1, -2)) / n
        chance = (weights * expected).sum(axis=(-1, -2)) / n**2
        out = 1.0 - disagree / chance
    return np.where((n > 0) & (chance > 0), out, np.nan)


class _Item:
    """One item's grades over the conversations: confusion counts, confidence, whether scored."""

    def __init__(
        self,
        rubric: Rubric,
        item_id: str,
        cards: Mapping[str, Scorecard],
        ratings: Mapping[str, Mapping[str, str]],
        ids: Sequence[str],
    ) -> None:
        item = rubric.item(item_id)
        labels, na_compared, weighted = item_scale(item)
        k = len(labels)
        grid = np.subtract.outer(np.arange(k), np.arange(k))
        self.weights = (grid / (k - 1)) ** 2 if weighted and k > 1 else (grid != 0).astype(float)
        self.counts = np.zeros((len(ids), k, k))
        self.confidence = np.full(len(ids), -1.0)  # -1: not a grade of this item (or unscored)
        self.graded = np.zeros(len(ids), dtype=bool)
        for c, cid in enumerate(ids):
            humans = [v for v in ratings.get(cid, {}).values() if na_compared or v != NOT_APPLICABLE]
            model = model_value(cards[cid], item_id)
            if not humans or (model == NOT_APPLICABLE and not na_compared):
                continue
            self.graded[c] = True
            if model is None:
                continue  # unscored: counted, never accepted
            self.confidence[c] = cards[cid].item(item_id).confidence or 0.0
            for v in humans:
                self.counts[c, labels.index(model), labels.index(v)] += 1

    def at(self, thresholds: _Array, weights: _Array) -> tuple[_Array, _Array, _Array]:
        """Accepted and graded counts and kappa per threshold; ``weights``: draws × conversations."""
        accepted = ((self.confidence[None, :] >= thresholds[:, None]) & (self.confidence >= 0)).astype(float)
        observed = np.einsum("dc,tc,cij->dtij", weights, accepted, self.counts, optimize=True)
        return weights @ accepted.T, weights @ self.graded.astype(float), _kappas(observed, self.weights)


def _thresholds(items: Sequence[_Item]) -> NDArray[np.float64]:
    found = np.unique(np.round(np.concatenate([i.confidence[i.confidence >= 0] for i in items]), 2))
    grid = found if found.size <= _GRID else np.linspace(0.0, 1.0, _GRID)
    return np.unique(np.concatenate([[0.0], grid]))


def _curve(
    item_id: str,
    accepted: NDArray[np.float64],
    graded: NDArray[np.float64],
    kappas: NDArray[np.float64],
    thresholds: NDArray[np.float64],
    level: float,
) -> list[CoveragePoint]:
    """Points from the arrays (row 0: the data itself; rows 1…: bootstrap draws)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = accepted / graded[:, None]
    return [
        CoveragePoint(
            threshold=round(float(t), 4),
            accepted=int(accepted[0, j]),
            coverage=round(float(coverage[0, j]), 4),
            coverage_ci=interval(list(coverage[1:, j]), level),
            kappa=round(float(kappas[0, j]), 4),
            kappa_ci=interval(list(kappas[1:, j]), level),
        )
        for j, t in enumerate(thresholds)
    ]


def coverage_sentence(curve: CoverageCurve, level: float, language: str) -> str:
    """The plain sentence: where to set the threshold to keep kappa at the target, or that none does."""
    if not curve.confident:
        return text("report.cov.no_confidence", language)
    best = curve.recommended
    if best is not None:
        ci = best.kappa_ci
        return text(
            "report.cov.accept", language, cov=best.coverage, t=best.threshold, k=best.kappa, level=level,
            lo=ci.low, hi=ci.high, target=curve.target_kappa, rest=1 - best.coverage,
        )  # fmt: skip
    defined = [p for p in curve.points if not math.isnan(p.kappa)]
    top = max(defined, key=lambda p: (p.kappa, p.coverage), default=curve.points[0])
    return text(
        "report.cov.none_reaches",
        language,
        target=curve.target_kappa,
        k=top.kappa,
        t=top.threshold,
        cov=top.coverage,
    )


def coverage_curves(
    rubric: Rubric,
    cards: Mapping[str, Scorecard],
    tiers: Mapping[str, Mapping[str, Mapping[str, str]]],
    ids: Sequence[str],
    draws: NDArray[np.int64],
    *,
    level: float,
    target_kappa: float,
) -> list[CoverageCurve]:
    """The overall curve, then one per tiered item the humans scored."""
    item_ids = [i.id for _, i in rubric.items() if not i.is_deduction and i.id in tiers]
    items = [_Item(rubric, item_id, cards, tiers[item_id], ids) for item_id in item_ids]
    if not items:
        return []
    thresholds = _thresholds(items)
    # Row 0 weighs each conversation once; each further row is a bootstrap draw's multiplicities.
    weights = np.vstack([np.ones(len(ids)), *(np.bincount(row, minlength=len(ids)) for row in draws)])
    results = [item.at(thresholds, weights) for item in items]
    curves = [
        _finish(item_id, _curve(item_id, *result, thresholds, level), item, target_kappa)
        for item_id, item, result in zip(item_ids, items, results, strict=True)
    ]
    accepted = np.sum([r[0] for r in results], axis=0)
    graded = np.sum([r[1] for r in results], axis=0)
    with warnings.catch_warnings():  # a threshold where no item has a kappa: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_kappa = np.nanmean(np.stack([r[2] for r in results]), axis=0)
    overall = _curve(OVERALL, accepted, graded, mean_kappa, thresholds, level)
    confident = any(bool((i.confidence > 0).any()) for i in items)
    curves.insert(0, _make(OVERALL, overall, confident, target_kappa))
    for curve in curves:
        curve.sentence = coverage_sentence(curve, level, rubric.language)
    return curves


def _finish(item_id: str, points: list[CoveragePoint], item: _Item, target: float) -> CoverageCurve:
    return _make(item_id, points, bool((item.confidence > 0).any()), target)


def _make(item_id: str, points: list[CoveragePoint], confident: bool, target: float) -> CoverageCurve:
    reaching = [p for p in points if not math.isnan(p.kappa) and p.kappa >= target]
    recommended = max(reaching, key=lambda p: (p.coverage, -p.threshold), default=None)
    return CoverageCurve(
        item_id=item_id, target_kappa=target, confident=confident, points=points, recommended=recommended
    )


def coverage_plot(
    curves: Sequence[CoverageCurve], path: Path, title: str, language: Literal["zh", "en"] = "en"
) -> Path | None:
    """The curves as a PNG: coverage on x, kappa on y, the overall curve with its bootstrap band."""
    if not curves or not curves[0].confident:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for curve in curves[1:]:
        xs, ys = [p.coverage for p in curve.points], [p.kappa for p in curve.points]
        ax.plot(xs, ys, color="#bbb", linewidth=0.8, marker=".", markersize=3)
    overall = curves[0]
    xs, ys = [p.coverage for p in overall.points], [p.kappa for p in overall.points]
    low, high = [p.kappa_ci.low for p in overall.points], [p.kappa_ci.high for p in overall.points]
    ax.fill_between(xs, low, high, color="#1f77b4", alpha=0.2, label=text("report.coverage.band", language))
    ax.plot(xs, ys, color="#1f77b4", marker="o", label=text("report.coverage.overall", language))
    ax.axhline(
        overall.target_kappa,
        color="#d62728",
        linestyle="--",
        linewidth=1,
        label=text("report.coverage.target", language),
    )
    best = overall.recommended
    if best is not None:
        label = text("report.coverage.threshold", language, threshold=best.threshold)
        ax.annotate(label, (best.coverage, best.kappa), textcoords="offset points", xytext=(8, -14))
        ax.plot([best.coverage], [best.kappa], marker="*", markersize=14, color="#d62728")
    ax.plot([], [], color="#bbb", label=text("report.coverage.per_item", language))
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(text("report.coverage.x", language))
    ax.set_ylabel(text("report.coverage.y", language))
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
