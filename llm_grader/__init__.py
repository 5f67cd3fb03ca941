"""llm-grader: grade customer-service conversations against QA scorecards with an LLM.

The top level is the small API most users need; everything else is importable from its
module (``llm_grader.agreement``, ``llm_grader.scoring``, ``llm_grader.types``, ...).
Names are imported on first use (PEP 562), so ``import llm_grader`` stays fast and does not
load the model client (openai, instructor) until a :class:`Grader` is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ConversationError, InputError, LLMGraderError, NotFoundError, RubricError

if TYPE_CHECKING:
    from ._answers import answer_model, located
    from ._coaching import coaching_rows, write_coaching
    from ._config import GraderConfig
    from ._dashboard import dashboard_html
    from ._estimate import estimate
    from ._evidence import MIN_QUOTE_CHARS, verify_quote
    from ._export import export_results, results_to_dataset, results_to_frame, results_to_records
    from ._grader import Grader
    from ._groups import group_summary, summarise
    from ._planning import Planner
    from ._progress import Progress
    from ._results import load_results, read_results
    from ._spreadsheet import neutralise, restore
    from .batch import collect_batch, submit_batch
    from .calibration import calibrate, compare_variants
    from .conversation import Conversation, load_conversations
    from .llm import ModelSettings
    from .rubric import Rubric, load_rubric
    from .scoring import Scorecard, rescore

__version__ = "0.1.0"

_LAZY = {
    "export_results": "_export",
    "results_to_dataset": "_export",
    "results_to_frame": "_export",
    "results_to_records": "_export",
    "load_results": "_results",
    "group_summary": "_groups",
    "summarise": "_groups",
    "coaching_rows": "_coaching",
    "write_coaching": "_coaching",
    "dashboard_html": "_dashboard",
    "neutralise": "_spreadsheet",
    "restore": "_spreadsheet",
    "MIN_QUOTE_CHARS": "_evidence",
    "verify_quote": "_evidence",
    "answer_model": "_answers",
    "located": "_answers",
    "estimate": "_estimate",
    "Progress": "_progress",
    "Planner": "_planning",
    "GraderConfig": "_config",
    "Conversation": "conversation",
    "Grader": "_grader",
    "ModelSettings": "llm",
    "Rubric": "rubric",
    "Scorecard": "scoring",
    "calibrate": "calibration",
    "collect_batch": "batch",
    "compare_variants": "calibration",
    "load_conversations": "conversation",
    "load_rubric": "rubric",
    "read_results": "_results",
    "rescore": "scoring",
    "submit_batch": "batch",
}

__all__ = [
    "MIN_QUOTE_CHARS",
    "Conversation",
    "ConversationError",
    "Grader",
    "GraderConfig",
    "InputError",
    "LLMGraderError",
    "ModelSettings",
    "NotFoundError",
    "Planner",
    "Progress",
    "Rubric",
    "RubricError",
    "Scorecard",
    "__version__",
    "answer_model",
    "calibrate",
    "coaching_rows",
    "collect_batch",
    "compare_variants",
    "dashboard_html",
    "estimate",
    "export_results",
    "group_summary",
    "load_conversations",
    "load_results",
    "load_rubric",
    "located",
    "neutralise",
    "read_results",
    "rescore",
    "restore",
    "results_to_dataset",
    "results_to_frame",
    "results_to_records",
    "submit_batch",
    "summarise",
    "verify_quote",
    "write_coaching",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_grader' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
