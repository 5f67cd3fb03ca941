"""Grading through a provider's Batch API (about half the price of ordinary calls).

    state = grader.submit_batch(conversations, state="cards.jsonl.batch.json")
    cards = grader.collect_batch(conversations, state="cards.jsonl.batch.json", output="cards.jsonl")

- :mod:`.state` — :class:`BatchState`, the state file that makes a run resumable;
- :mod:`.run` — submit (:func:`asubmit_batch`), wait and download (:func:`await_batch`),
  grade from the results (:func:`batch_grader`, :func:`acollect_batch`).

The requests and answers themselves are :mod:`llm_grader.model.batch`'s.
"""

from .run import acollect_batch, asubmit_batch, await_batch, batch_grader, finish_batch
from .state import BatchPart, BatchPending, BatchState, state_path

__all__ = [
    "BatchPart",
    "BatchPending",
    "BatchState",
    "acollect_batch",
    "asubmit_batch",
    "await_batch",
    "batch_grader",
    "finish_batch",
    "state_path",
]
