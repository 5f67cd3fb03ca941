"""Calibration: how far the grader agrees with human QA graders, item by item.

- :mod:`.human` — :class:`HumanScore` and :func:`load_human_scores` (CSV, JSONL,
  a ``datasets.Dataset`` or dicts in the long format ``conversation_id, rater, item_id, value``)
- :mod:`.run` — :func:`calibrate`: per-item, totals and fatal-flag agreement with bootstrap
  intervals, and the largest disagreements
- :mod:`.compare` — :func:`compare_variants`: two wordings of a rubric, paired bootstrap
- :mod:`.models` — the report models (:class:`CalibrationReport`, :class:`VariantComparison`, ...)

Human scores are aligned with scorecards by conversation and item; the statistics come from
:mod:`llm_grader.agreement`.
"""

from .compare import compare_variants
from .human import HumanScore, load_human_scores
from .models import (
    CalibrationReport,
    Disagreement,
    FatalAgreement,
    Interval,
    ItemAgreement,
    ItemComparison,
    RaterAgreement,
    TotalsAgreement,
    VariantComparison,
)
from .run import calibrate

__all__ = [
    "CalibrationReport",
    "Disagreement",
    "FatalAgreement",
    "HumanScore",
    "Interval",
    "ItemAgreement",
    "ItemComparison",
    "RaterAgreement",
    "TotalsAgreement",
    "VariantComparison",
    "calibrate",
    "compare_variants",
    "load_human_scores",
]
