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
    from .batching import collect_batch, submit_batch
    from .calibration import calibrate, compare_variants
    from .conversation import Conversation, load_conversations
    from .grader import Grader
    from .model import ModelSettings
    from .results import read_results
    from .rubric import Rubric, load_rubric
    from .scoring import Scorecard, rescore

__version__ = "0.1.0"

_LAZY = {
    "Conversation": "conversation",
    "Grader": "grader",
    "ModelSettings": "model",
    "Rubric": "rubric",
    "Scorecard": "scoring",
    "calibrate": "calibration",
    "collect_batch": "batching",
    "compare_variants": "calibration",
    "load_conversations": "conversation",
    "load_rubric": "rubric",
    "read_results": "results",
    "rescore": "scoring",
    "submit_batch": "batching",
}

__all__ = [
    "Conversation",
    "ConversationError",
    "Grader",
    "InputError",
    "LLMGraderError",
    "ModelSettings",
    "NotFoundError",
    "Rubric",
    "RubricError",
    "Scorecard",
    "__version__",
    "calibrate",
    "collect_batch",
    "compare_variants",
    "load_conversations",
    "load_rubric",
    "read_results",
    "rescore",
    "submit_batch",
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
