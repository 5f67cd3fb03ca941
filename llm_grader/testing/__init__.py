"""Test doubles for the model: an in-process judge and a scripted OpenAI-compatible server.

- :class:`FakeJudge` — implements :class:`~llm_grader.llm.Judge` in process, for unit
  tests of grading that need no sockets;
- :class:`FakeOpenAIServer` — a localhost HTTP server that the real ``openai`` SDK and
  ``instructor`` talk to, with scripted answers and injected faults, and a Batch API
  (``/v1/files``, ``/v1/batches``) scripted by :class:`BatchScript`;
- responders for it: :func:`top_tier_responder`, :func:`simulated_responder`.
"""

from ._fake_batches import BatchScript, FakeBatches
from ._fake_judge import FakeJudge, top_tier_answer
from ._fake_server import FakeOpenAIServer, Reply, Responder, answer, error, raw, refusal
from ._logprobs import openai_logprobs, scripted_logprobs
from ._responders import confusion_probabilities, item_of, items_of, simulated_responder, top_tier_responder

__all__ = [
    "BatchScript",
    "FakeBatches",
    "FakeJudge",
    "FakeOpenAIServer",
    "Reply",
    "Responder",
    "answer",
    "confusion_probabilities",
    "error",
    "item_of",
    "items_of",
    "openai_logprobs",
    "raw",
    "refusal",
    "scripted_logprobs",
    "simulated_responder",
    "top_tier_answer",
    "top_tier_responder",
]
