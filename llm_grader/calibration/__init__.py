"""Calibration: how far the grader agrees with human QA graders, item by item.

- :mod:`.human` — :class:`HumanScore` and :func:`load_human_scores` (CSV, JSONL,
  a ``datasets.Dataset`` or dicts in the long format ``conversation_id, rater, item_id, value``)
- :mod:`.run` — :func:`calibrate`: per-item, totals and fatal-flag agreement with bootstrap
  intervals, and the largest disagreements
- :mod:`.compare` — :func:`compare_variants`: two wordings of a rubric, paired bootstrap
- :mod:`.gates` — :func:`assert_agreement` and :func:`agreement_failures`: minimum kappas
  for CI (``llm-grader calibrate --min-kappa``)
- :mod:`.models` — the report models (:class:`CalibrationReport`, :class:`VariantComparison`, ...)

Human scores are aligned with scorecards by conversation and item; the statistics come from
:mod:`llm_grader.agreement`.
"""

from ._compare import compare_variants
from ._gates import agreement_failures, assert_agreement, overall_kappa
from ._human import HumanScore, load_human_scores, prefer_blind
from ._models import (
    CalibrationReport,
    CoverageCurve,
    CoveragePoint,
    Disagreement,
    FatalAgreement,
    Interval,
    ItemAgreement,
    ItemComparison,
    RaterAgreement,
    TotalsAgreement,
    VariantComparison,
)
from ._run import calibrate

__all__ = [
    "CalibrationReport",
    "CoverageCurve",
    "CoveragePoint",
    "Disagreement",
    "FatalAgreement",
    "HumanScore",
    "Interval",
    "ItemAgreement",
    "ItemComparison",
    "RaterAgreement",
    "TotalsAgreement",
    "VariantComparison",
    "agreement_failures",
    "assert_agreement",
    "calibrate",
    "compare_variants",
    "load_human_scores",
    "overall_kappa",
    "prefer_blind",
]
