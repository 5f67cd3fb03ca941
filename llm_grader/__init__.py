"""llm-grader: grade customer-service conversations against QA scorecards with an LLM."""

from .errors import ConversationError, LLMGraderError, NotFoundError, Problem, RubricError
from .grader import Grader, read_results
from .rubric import Rubric, builtin_rubrics, load_rubric
from .rubric_check import check_rubric
from .scoring import Evidence, ItemResult, Judgement, Scorecard, score
from .transcript import Conversation, Turn, load_conversations

__version__ = "0.1.0"

__all__ = [
    "Conversation",
    "ConversationError",
    "Evidence",
    "Grader",
    "ItemResult",
    "Judgement",
    "LLMGraderError",
    "NotFoundError",
    "Problem",
    "Rubric",
    "RubricError",
    "Scorecard",
    "Turn",
    "__version__",
    "builtin_rubrics",
    "check_rubric",
    "load_conversations",
    "load_rubric",
    "read_results",
    "score",
]
