"""The calibration report models: what calibrate and compare_variants measured.

:func:`~llm_grader.calibration.calibrate` returns a :class:`CalibrationReport`,
:func:`~llm_grader.calibration.compare_variants` a :class:`VariantComparison`.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..types import Evidence

__all__ = [
    "CalibrationReport",
    "CoverageCurve",
    "CoveragePoint",
    "Disagreement",
    "FatalAgreement",
    "Interval",
    "ItemAgreement",
    "ItemComparison",
    "RaterAgreement",
    "TotalsAgreement",
    "VariantComparison",
]


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
