"""Rubrics (QA scorecards): the format, loading from YAML with line numbers, and checks.

Modules, bottom to top: :mod:`.rule_model` (the deterministic rules), :mod:`.model` (tiers,
items, categories, overrides, the :class:`Rubric`), :mod:`.lint` (checks across fields),
:mod:`.load` (name or path → text → data → a checked Rubric, every problem at once).
"""

from __future__ import annotations

from .lint import lint_rubric
from .load import (
    builtin_rubrics,
    check_rubric,
    item_fingerprint,
    load_rubric,
    resolve_rubric,
    rubric_from_dict,
    rubric_from_text,
    rubric_json_schema,
)
from .model import (
    Applicability,
    Category,
    Condition,
    DataKind,
    Deduction,
    Flag,
    Item,
    LevelScale,
    NotApplicable,
    Override,
    Rubric,
    Tier,
)
from .rule_model import (
    RULE_TYPES,
    FirstResponseRule,
    ForbiddenWordsRule,
    InterruptionRule,
    LongestGapRule,
    PhraseRule,
    Rule,
    Speakers,
    SpeakingRateRule,
    Threshold,
    Window,
)

__all__ = [
    "RULE_TYPES",
    "Applicability",
    "Category",
    "Condition",
    "DataKind",
    "Deduction",
    "FirstResponseRule",
    "Flag",
    "ForbiddenWordsRule",
    "InterruptionRule",
    "Item",
    "LevelScale",
    "LongestGapRule",
    "NotApplicable",
    "Override",
    "PhraseRule",
    "Rubric",
    "Rule",
    "Speakers",
    "SpeakingRateRule",
    "Threshold",
    "Tier",
    "Window",
    "builtin_rubrics",
    "check_rubric",
    "item_fingerprint",
    "lint_rubric",
    "load_rubric",
    "resolve_rubric",
    "rubric_from_dict",
    "rubric_from_text",
    "rubric_json_schema",
]
