"""Calibration: how far the grader agrees with human QA graders, item by item.

Human scores come in the long format ``conversation_id, rater, item_id, value`` (CSV,
JSONL, a ``datasets.Dataset`` or any iterable of dicts), where ``value`` is a tier id or
tier label, ``not_applicable``, a number for ``item_id = total`` and 0/1 for
``item_id = fatal``. They are aligned with scorecards by conversation and item.

Per item: pairs are (model, human) for every rater who scored the conversation, pooled.
Ordinal items (three or more tiers) use quadratic-weighted kappa, binary items unweighted
kappa; exact and adjacent agreement, Gwet's AC1 and the confusion matrix come alongside.
Where two or more humans scored a conversation, the same figures between humans give the
ceiling to compare against. Confidence intervals come from a seeded bootstrap that
resamples conversations. ``not_applicable`` is a category of its own placed above the top
tier when it keeps full points (it is "no deduction"), and left out of the comparison when
the item is then excluded from the total.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from . import agreement as ag
from .errors import InputError, LLMGraderError, Problem
from .rubric import Item, Rubric
from .scoring import Scorecard
from .types import Evidence

__all__ = [
    "CalibrationReport",
    "Disagreement",
    "FatalAgreement",
    "HumanScore",
    "ItemAgreement",
    "ItemComparison",
    "RaterAgreement",
    "TotalsAgreement",
    "VariantComparison",
    "calibrate",
    "compare_variants",
    "load_human_scores",
]

NA = "not_applicable"
_Weights = Literal["quadratic"] | None
_NA_WORDS = {"not_applicable", "n/a", "na", "不适用", "不涉及"}


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HumanScore(_Out):
    """One human grade: a rater's value for one item of one conversation."""

    conversation_id: str
    rater: str
    item_id: str
    value: str


# ----------------------------------------------------------------------------- loading

_COLUMNS = ("conversation_id", "rater", "item_id", "value")


def _row(data: Mapping[str, Any], *, file: str, line: int | None) -> HumanScore:
    missing = [c for c in _COLUMNS if data.get(c) in (None, "")]
    if missing:
        raise InputError.at(file, line, missing[0], f"is missing; each row needs {', '.join(_COLUMNS)}")
    value = data["value"]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return HumanScore(
        conversation_id=str(data["conversation_id"]).strip(),
        rater=str(data["rater"]).strip(),
        item_id=str(data["item_id"]).strip(),
        value=str(value).strip(),
    )


def load_human_scores(source: str | Path | Iterable[Mapping[str, Any]]) -> list[HumanScore]:
    """Read human scores from a CSV or JSONL file, a ``datasets.Dataset`` or dicts.

    Every malformed row is reported at once as ``file:line: field: message``.
    """
    rows: list[tuple[Mapping[str, Any], str, int | None]] = []
    problems: list[Problem] = []
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise LLMGraderError(f"human scores file {str(path)!r} does not exist")
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() == ".jsonl":
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    rows.append((json.loads(line), str(path), number))
                except json.JSONDecodeError as exc:
                    problems.append(
                        Problem(file=str(path), line=number, field="", message=f"invalid JSON: {exc.msg}")
                    )
        else:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            absent = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
            if absent:
                raise InputError.at(
                    str(path), 1, "", f"header lacks {', '.join(absent)}; expected {','.join(_COLUMNS)}"
                )
            for row in reader:
                rows.append((row, str(path), reader.line_num))
    else:
        name = type(source).__name__
        rows = [(dict(row), f"<{name}>", i) for i, row in enumerate(source, start=1)]
    scores = []
    for data, where, at in rows:
        try:
            scores.append(_row(data, file=where, line=at))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return scores


# ----------------------------------------------------------------------------- results


class Interval(_Out):
    """A bootstrap confidence interval (NaN bounds when undefined)."""

    low: float
    high: float
    undefined: int = 0
    """Bootstrap draws on which the statistic was undefined (NaN) and so left out."""


class RaterAgreement(_Out):
    """Agreement figures for one set of pairs."""

    n: int = 0
    exact: float = math.nan
    adjacent: float = math.nan
    kappa: float = math.nan
    kappa_ci: Interval | None = None
    ac1: float = math.nan
    alpha: float = math.nan
    """Krippendorff's alpha over the raters (human–human only)."""


class ItemAgreement(_Out):
    """Model–human (and human–human) agreement on one item."""

    item_id: str
    name: str
    scale: Literal["ordinal", "binary"]
    weights: Literal["quadratic"] | None
    labels: list[str]
    """Categories in order, worst first (``not_applicable`` last when it keeps full points)."""
    conversations: int
    unscored: int
    """Model answers missing (item failed or not graded) where humans scored."""
    needs_review: int
    model_human: RaterAgreement
    human_human: RaterAgreement | None = None
    confusion: list[list[int]]
    """Rows: the model's label; columns: the humans' label; in ``labels`` order."""


class TotalsAgreement(_Out):
    """Agreement on total scores (complete scorecards only)."""

    n: int
    incomplete: int
    mae: float
    rmse: float
    pearson: float
    spearman: float
    human_human_mae: float = math.nan
    human_human_pearson: float = math.nan


class FatalAgreement(_Out):
    """The model's fatal flag against the humans' (humans as truth)."""

    n: int
    precision: float
    recall: float
    f1: float
    ac1: float
    model_positive: int
    human_positive: int


class Disagreement(_Out):
    """A conversation where the model and a human differ on an item."""

    conversation_id: str
    item_id: str
    item_name: str
    model: str | None
    humans: dict[str, str]
    distance: int
    """Largest gap in tier steps between the model and a human (fatal: the number of tiers)."""
    evidence: list[Evidence] = Field(default_factory=list)
    rationale: str = ""


class CalibrationReport(_Out):
    """Everything ``calibrate`` measured; rendered by :mod:`llm_grader.report`."""

    rubric_id: str
    rubric_version: str
    model: str | None
    conversations: int
    raters: list[str]
    items: list[ItemAgreement]
    totals: TotalsAgreement | None
    fatal: FatalAgreement | None
    disagreements: list[Disagreement]
    bootstrap: dict[str, float]
    notes: list[str] = Field(default_factory=list)


# ----------------------------------------------------------------------------- alignment


def _scale(item: Item) -> tuple[list[str], bool, _Weights]:
    """Labels, whether not_applicable is compared, and the kappa weights of an item."""
    labels, na_compared = _labels(item)
    return labels, na_compared, "quadratic" if len(item.tiers) >= 3 else None


def _pool(by_conversation: Mapping[str, list[tuple[str, str]]], ids: Sequence[str]) -> list[tuple[str, str]]:
    """All pairs of the given conversations, in order (a conversation may repeat: bootstrap)."""
    return [p for cid in ids for p in by_conversation.get(cid, ())]


def _labels(item: Item) -> tuple[list[str], bool]:
    """Tier ids worst → best; and whether not_applicable is compared (as a top category)."""
    order = [t.id for t in sorted(item.tiers, key=item.tier_points)]
    policy = None
    if item.not_applicable is not None:
        policy = item.not_applicable.policy
    elif item.applicability is not None:
        policy = item.applicability.policy
    if policy == "full":
        return [*order, NA], True
    return order, False


def _normaliser(rubric: Rubric) -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for _, item in rubric.items():
        names = {t.id: t.id for t in item.tiers}
        names.update({t.label: t.id for t in item.tiers if t.label})
        names.update({w: NA for w in _NA_WORDS})
        table[item.id] = {k.lower(): v for k, v in names.items()}
    return table


def _human_values(
    rubric: Rubric, scores: Sequence[HumanScore]
) -> tuple[dict[str, dict[str, dict[str, str]]], dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """(item → conversation → rater → tier id), totals and fatal flags; unknown values fail."""
    table = _normaliser(rubric)
    tiers: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    totals: dict[str, dict[str, float]] = defaultdict(dict)
    fatal: dict[str, dict[str, int]] = defaultdict(dict)
    problems = []
    for s in scores:
        where = f"{s.conversation_id}/{s.rater}/{s.item_id}"
        if s.item_id == "total":
            try:
                totals[s.conversation_id][s.rater] = float(s.value)
            except ValueError:
                problems.append(f"{where}: total {s.value!r} is not a number")
        elif s.item_id == "fatal":
            if s.value not in ("0", "1"):
                problems.append(f"{where}: fatal must be 0 or 1, not {s.value!r}")
            else:
                fatal[s.conversation_id][s.rater] = int(s.value)
        elif s.item_id not in table:
            problems.append(f"{where}: unknown item {s.item_id!r}")
        elif s.value.lower() not in table[s.item_id]:
            valid = sorted({k for k in table[s.item_id] if k not in _NA_WORDS} | {NA})
            problems.append(f"{where}: {s.value!r} is not a tier of {s.item_id!r}; valid: {', '.join(valid)}")
        else:
            tiers[s.item_id][s.conversation_id][s.rater] = table[s.item_id][s.value.lower()]
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise LLMGraderError("human scores do not fit the rubric:\n" + "\n".join(problems[:10]) + more)
    return tiers, totals, fatal


def _model_value(card: Scorecard, item_id: str) -> str | None:
    result = card.item(item_id)
    if result.unscored:
        return None
    return NA if result.not_applicable else result.tier


# ----------------------------------------------------------------------------- statistics


def _pairs_stats(pairs: Sequence[tuple[str, str]], labels: list[str], weights: _Weights) -> RaterAgreement:
    if not pairs:
        return RaterAgreement()
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    return RaterAgreement(
        n=len(pairs),
        exact=ag.percent_agreement(a, b, labels=labels),
        adjacent=ag.percent_agreement(a, b, tolerance=1, labels=labels),
        kappa=ag.cohen_kappa(a, b, weights=weights, labels=labels),
        ac1=ag.gwet_ac1(a, b, labels=labels),
    )


def _kappa(pairs: Sequence[tuple[str, str]], labels: list[str], weights: _Weights) -> float:
    if not pairs:
        return math.nan
    return ag.cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs], weights=weights, labels=labels)


def _interval(values: Sequence[float], level: float) -> Interval:
    finite = np.asarray([v for v in values if not math.isnan(v)])
    undefined = len(values) - int(finite.size)
    if finite.size < max(10, len(values) // 2):
        return Interval(low=math.nan, high=math.nan, undefined=undefined)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(low=round(float(low), 4), high=round(float(high), 4), undefined=undefined)


def _bootstrap(
    by_conversation: Mapping[str, list[tuple[str, str]]],
    labels: list[str],
    weights: _Weights,
    draws: np.ndarray,
    ids: list[str],
) -> list[float]:
    return [_kappa(_pool(by_conversation, [ids[i] for i in row]), labels, weights) for row in draws]


def _distance(labels: list[str], x: str | None, y: str) -> int:
    if x is None:
        return len(labels)
    return abs(labels.index(x) - labels.index(y))


def calibrate(
    rubric: Rubric,
    scorecards: Iterable[Scorecard],
    human_scores: Sequence[HumanScore],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_disagreements: int = 200,
) -> CalibrationReport:
    """Agreement of the scorecards with the human scores, per item, totals and fatal flags."""
    cards = {c.conversation_id: c for c in scorecards}
    tiers, totals, fatal = _human_values(rubric, human_scores)
    scored = {cid for per_item in tiers.values() for cid in per_item} | set(totals) | set(fatal)
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
    raters = sorted({s.rater for s in human_scores})
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ids), size=(n_boot, len(ids)))
    items: list[ItemAgreement] = []
    disagreements: list[Disagreement] = []
    for _, item in rubric.items():
        if item.is_deduction or item.id not in tiers:
            continue
        labels, na_compared, weights = _scale(item)
        model_pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        human_pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        unscored = needs_review = 0
        per_rater: dict[str, dict[str, str]] = defaultdict(dict)
        for cid in ids:
            humans = {r: v for r, v in tiers[item.id].get(cid, {}).items() if na_compared or v != NA}
            if not humans:
                continue
            card = cards[cid]
            result = card.item(item.id)
            needs_review += result.needs_review
            model = _model_value(card, item.id)
            if model is None:
                unscored += 1
            elif na_compared or model != NA:
                model_pairs[cid] = [(model, v) for v in humans.values()]
            for r, v in humans.items():
                per_rater[r][cid] = v
            for (_, x), (_, y) in combinations(sorted(humans.items()), 2):
                human_pairs[cid].append((x, y))
            if model is None or (na_compared or model != NA):
                differing = {r: v for r, v in humans.items() if v != model}
                if differing:
                    disagreements.append(
                        Disagreement(
                            conversation_id=cid,
                            item_id=item.id,
                            item_name=item.name,
                            model=model,
                            humans=humans,
                            distance=max(_distance(labels, model, v) for v in differing.values()),
                            evidence=result.evidence,
                            rationale=result.error or result.rationale,
                        )
                    )
        pooled = _pool(model_pairs, ids)
        mh = _pairs_stats(pooled, labels, weights)
        mh.kappa_ci = _interval(_bootstrap(model_pairs, labels, weights, draws, ids), level)
        hh = None
        human_pooled = _pool(human_pairs, ids)
        if human_pooled:
            hh = _pairs_stats(human_pooled, labels, weights)
            hh.kappa_ci = _interval(_bootstrap(human_pairs, labels, weights, draws, ids), level)
            matrix = [[per_rater[r].get(cid) for cid in ids] for r in sorted(per_rater)]
            hh.alpha = ag.krippendorff_alpha(matrix, level="ordinal" if weights else "nominal", labels=labels)
        confusion = ag.confusion_matrix([p[0] for p in pooled], [p[1] for p in pooled], labels=labels)
        items.append(
            ItemAgreement(
                item_id=item.id,
                name=item.name,
                scale="ordinal" if weights else "binary",
                weights="quadratic" if weights else None,
                labels=labels,
                conversations=sum(1 for cid in ids if tiers[item.id].get(cid)),
                unscored=unscored,
                needs_review=needs_review,
                model_human=mh,
                human_human=hh,
                confusion=confusion,
            )
        )
    totals_report = _totals(cards, ids, totals)
    fatal_report = _fatal(cards, ids, fatal, rubric, disagreements)
    disagreements.sort(key=lambda d: (-d.distance, -len(d.humans), d.conversation_id, d.item_id))
    return CalibrationReport(
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        model=next((c.model for c in cards.values() if c.model), None),
        conversations=len(ids),
        raters=raters,
        items=items,
        totals=totals_report,
        fatal=fatal_report,
        disagreements=disagreements[:max_disagreements],
        bootstrap={"draws": n_boot, "seed": seed, "level": level},
        notes=notes,
    )


def _totals(
    cards: Mapping[str, Scorecard], ids: list[str], totals: Mapping[str, Mapping[str, float]]
) -> TotalsAgreement | None:
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
    cards: Mapping[str, Scorecard],
    ids: list[str],
    fatal: Mapping[str, Mapping[str, int]],
    rubric: Rubric,
    disagreements: list[Disagreement],
) -> FatalAgreement | None:
    truth, predicted = [], []
    for cid in ids:
        values = fatal.get(cid)
        if not values:
            continue
        card = cards[cid]
        for v in values.values():
            truth.append(v)
            predicted.append(int(card.fatal))
        if any(v != int(card.fatal) for v in values.values()):
            evidence = [e for o in card.overrides if o.kind == "fatal" for e in o.evidence]
            disagreements.append(
                Disagreement(
                    conversation_id=cid,
                    item_id="fatal",
                    item_name="致命差错 / fatal error",
                    model=str(int(card.fatal)),
                    humans={r: str(v) for r, v in values.items()},
                    distance=max(len(i.tiers) for _, i in rubric.items() if i.tiers) + 1,
                    evidence=evidence,
                    rationale="; ".join(o.reason for o in card.overrides if o.kind == "fatal"),
                )
            )
    if not truth:
        return None
    metrics = ag.binary_metrics(truth, predicted)
    return FatalAgreement(
        n=len(truth),
        precision=metrics.precision,
        recall=metrics.recall,
        f1=metrics.f1,
        ac1=ag.gwet_ac1(truth, predicted, labels=[0, 1]),
        model_positive=sum(predicted),
        human_positive=sum(truth),
    )


# ----------------------------------------------------------------------------- variants


class ItemComparison(_Out):
    """Kappa of two variants on one item, and their paired bootstrap difference."""

    item_id: str
    kappa_a: float
    kappa_b: float
    difference: float
    interval: Interval
    verdict: Literal["better", "worse", "not distinguishable", "undefined"]


class VariantComparison(_Out):
    """Variant B against variant A on the same conversations and human scores."""

    conversations: int
    items: list[ItemComparison]
    bootstrap: dict[str, float]


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
    the whole interval is above 0, ``worse`` when below, else ``not distinguishable``.
    """
    a = {c.conversation_id: c for c in cards_a}
    b = {c.conversation_id: c for c in cards_b}
    tiers, _, _ = _human_values(rubric_a, human_scores)
    ids = sorted(set(a) & set(b) & {cid for per in tiers.values() for cid in per})
    if not ids:
        raise LLMGraderError("the two variants and the human scores share no conversation")
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(n_boot, len(ids)))
    out = []
    item_ids_b = {i.id for _, i in rubric_b.items()}
    for _, item in rubric_a.items():
        if item.is_deduction or item.id not in tiers or item.id not in item_ids_b:
            continue
        labels, na_compared, weights = _scale(item)
        pairs: dict[str, dict[str, list[tuple[str, str]]]] = {"a": defaultdict(list), "b": defaultdict(list)}
        for cid in ids:
            humans = [v for v in tiers[item.id].get(cid, {}).values() if na_compared or v != NA]
            for key, cards in (("a", a), ("b", b)):
                model = _model_value(cards[cid], item.id)
                if model is not None and (na_compared or model != NA):
                    pairs[key][cid] = [(model, v) for v in humans]
        ka = _kappa(_pool(pairs["a"], ids), labels, weights)
        kb = _kappa(_pool(pairs["b"], ids), labels, weights)
        diffs = [
            y - x
            for x, y in zip(
                _bootstrap(pairs["a"], labels, weights, draws, ids),
                _bootstrap(pairs["b"], labels, weights, draws, ids),
                strict=True,
            )
        ]
        interval = _interval(diffs, level)
        verdict: Literal["better", "worse", "not distinguishable", "undefined"]
        if math.isnan(interval.low):
            verdict = "undefined"
        elif interval.low > 0:
            verdict = "better"
        elif interval.high < 0:
            verdict = "worse"
        else:
            verdict = "not distinguishable"
        out.append(
            ItemComparison(
                item_id=item.id,
                kappa_a=ka,
                kappa_b=kb,
                difference=kb - ka,
                interval=interval,
                verdict=verdict,
            )
        )
    return VariantComparison(
        conversations=len(ids), items=out, bootstrap={"draws": n_boot, "seed": seed, "level": level}
    )
