"""The calibration report models: what calibrate and compare_variants measured.

:func:`~llm_grader.calibration.calibrate` returns a :class:`CalibrationReport`,
:func:`~llm_grader.calibration.compare_variants` a :class:`VariantComparison`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..types import Evidence

if TYPE_CHECKING:
    import pandas as pd

Verdict = Literal[
    "at_ceiling",
    "below_ceiling",
    "model_one_tier",
    "humans_one_tier",
    "kappa_undefined",
    "no_pairs",
    "agrees",
    "weak",
]
"""What an item's agreement says to do (:attr:`ItemAgreement.verdict`)."""

WEAK_KAPPA = 0.6
"""Without a second grader to compare with: a model–human kappa below this asks for a look."""


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    tier_labels: dict[str, str] = Field(default_factory=dict)
    """What graders call each tier of ``labels`` (``good`` → ``好``), for the report and its plots."""
    conversations: int
    unscored: int
    """Model answers missing (item failed or not graded) where humans scored."""
    needs_review: int
    model_human: RaterAgreement
    human_human: RaterAgreement | None = None
    confusion: list[list[int]]
    """Rows: the model's label; columns: the humans' label; in ``labels`` order."""

    @property
    def verdict(self) -> Verdict:
        """What the figures say, in one word.

        - ``no_pairs``: no conversation scored by both the model and a human;
        - ``model_one_tier`` / ``humans_one_tier``: the model (or the humans) gave one tier to
          every conversation: kappa is undefined or 0 by construction, and says nothing;
        - ``kappa_undefined``: kappa is undefined otherwise (too few pairs);
        - ``at_ceiling``: the model agrees with the humans about as well as they agree with each
          other — its kappa is at least the human–human kappa, or that kappa is inside the
          model's confidence interval;
        - ``below_ceiling``: below the human–human kappa, out of the model's interval;
        - without a human–human figure: ``agrees`` (kappa ≥ :data:`WEAK_KAPPA`) or ``weak``.
        """
        mh = self.model_human
        if mh.n == 0:
            return "no_pairs"
        by_model = [sum(row) for row in self.confusion]
        by_humans = [sum(column) for column in zip(*self.confusion, strict=False)]
        if sum(1 for n in by_model if n) == 1:  # kappa is 0 or NaN whatever the humans said
            return "model_one_tier"
        if sum(1 for n in by_humans if n) == 1:
            return "humans_one_tier"
        if math.isnan(mh.kappa):
            return "kappa_undefined"
        ceiling = self.human_human.kappa if self.human_human is not None else math.nan
        if math.isnan(ceiling):
            return "agrees" if mh.kappa >= WEAK_KAPPA else "weak"
        high = mh.kappa_ci.high if mh.kappa_ci is not None and not math.isnan(mh.kappa_ci.high) else mh.kappa
        return "at_ceiling" if max(mh.kappa, high) >= ceiling else "below_ceiling"

    @property
    def one_tier(self) -> str | None:
        """The tier the model (or, failing that, the humans) gave to every conversation, if one did."""
        by_model = [sum(row) for row in self.confusion]
        by_humans = [sum(column) for column in zip(*self.confusion, strict=False)]
        for sums in (by_model, by_humans):
            used = [label for label, n in zip(self.labels, sums, strict=False) if n]
            if len(used) == 1:
                return used[0]
        return None


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
    undetermined: int = 0
    """Conversations the humans flagged or cleared whose model fatal flag is undetermined
    (an item a fatal override needs is unscored): left out of the figures above, counted here."""


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


class CoveragePoint(_Out):
    """Grades with confidence at or above ``threshold`` auto-accepted, the rest sent to review."""

    threshold: float
    accepted: int
    """Grades (conversation × item) accepted."""
    coverage: float
    """Share of the graded conversations' grades accepted (unscored ones never are)."""
    coverage_ci: Interval
    kappa: float
    """Kappa of the accepted grades against the humans (overall: the mean over items)."""
    kappa_ci: Interval


class CoverageCurve(_Out):
    """The coverage–agreement curve of one item, or of every item (``item_id`` ``overall``)."""

    item_id: str
    target_kappa: float
    confident: bool
    """Whether any grade carries a confidence above 0 (else the curve is flat: nothing to route)."""
    points: list[CoveragePoint]
    recommended: CoveragePoint | None = None
    """The lowest threshold whose accepted grades reach ``target_kappa`` (most auto-accepted)."""
    sentence: str = ""
    """The plain sentence, in the rubric's language."""


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
    language: Literal["zh", "en"] = "en"
    """The rubric's language, which the report is written in (reports made before it was kept: English)."""
    coverage: list[CoverageCurve] = Field(default_factory=list)
    """Coverage–agreement curves: overall first, then per item."""
    blind_labels: dict[str, int] = Field(default_factory=dict)
    """Item id → the blind labels it was measured on (items with any use only those)."""

    @property
    def blind_total(self) -> int:
        """How many blind labels were used."""
        return sum(self.blind_labels.values())

    def to_frame(self) -> pd.DataFrame:
        """The per-item table as a pandas DataFrame, one row per item (pandas imported here).

        Columns: ``item_id``, ``name``, ``scale``, ``verdict`` (:attr:`ItemAgreement.verdict`),
        ``n`` (conversations with a model and a human score), ``unscored``, ``needs_review``,
        ``exact``, ``adjacent``, ``kappa``, ``kappa_low``, ``kappa_high``, ``ac1``, ``hh_n``,
        ``hh_kappa``, ``hh_kappa_low``, ``hh_kappa_high``, ``hh_alpha``, ``disagreements``
        (listed in the report); NaN where a figure is undefined.
        """
        import pandas as pd

        def bounds(agreement: RaterAgreement | None) -> tuple[float, float]:
            ci = agreement.kappa_ci if agreement is not None else None
            return (ci.low, ci.high) if ci is not None else (math.nan, math.nan)

        listed: dict[str, int] = {}
        for d in self.disagreements:
            listed[d.item_id] = listed.get(d.item_id, 0) + 1
        rows: list[dict[str, Any]] = []
        for i in self.items:
            mh, hh = i.model_human, i.human_human
            rows.append({
                "item_id": i.item_id, "name": i.name, "scale": i.scale, "verdict": i.verdict,
                "n": mh.n, "unscored": i.unscored, "needs_review": i.needs_review,
                "exact": mh.exact, "adjacent": mh.adjacent, "kappa": mh.kappa,
                "kappa_low": bounds(mh)[0], "kappa_high": bounds(mh)[1], "ac1": mh.ac1,
                "hh_n": hh.n if hh else 0, "hh_kappa": hh.kappa if hh else math.nan,
                "hh_kappa_low": bounds(hh)[0], "hh_kappa_high": bounds(hh)[1],
                "hh_alpha": hh.alpha if hh else math.nan, "disagreements": listed.get(i.item_id, 0),
            })  # fmt: skip
        columns = ["item_id", "name", "scale", "verdict", "n", "unscored", "needs_review", "exact",
                   "adjacent", "kappa", "kappa_low", "kappa_high", "ac1", "hh_n", "hh_kappa", "hh_kappa_low",
                   "hh_kappa_high", "hh_alpha", "disagreements"]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)


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
    overall: ItemComparison | None = None
    """The mean of the compared items' kappas (``item_id`` ``overall``), B − A with the same
    paired bootstrap (each draw's mean over the items defined in it); None without items."""
