"""Grading through a provider's Batch API (about half the price of ordinary calls).

    from llm_grader.batch import collect_batch, submit_batch

    state = submit_batch(grader, conversations, state="cards.jsonl.batch.json")
    cards = collect_batch(grader, conversations, state="cards.jsonl.batch.json", output="cards.jsonl")

The Batch API is a driver above the grader: the grader plans the requests without a model,
and grades the batch's answers through an ordinary :class:`~llm_grader.llm.Judge`.

- :mod:`.state` — :class:`BatchState`, the state file that makes a run resumable;
- :mod:`.run` — submit (:func:`submit_batch`, :func:`asubmit_batch`), wait and download
  (:func:`await_batch`), grade from the results (:func:`collect_batch`, :func:`acollect_batch`,
  :func:`batch_grader`).

The requests and answers themselves are :mod:`llm_grader.llm._batch_api`'s.
"""

from ._driver import (
    acollect_batch,
    asubmit_batch,
    await_batch,
    batch_grader,
    collect_batch,
    finish_batch,
    submit_batch,
)
from ._state import BatchPart, BatchPending, BatchState, state_path

__all__ = [
    "BatchPart",
    "BatchPending",
    "BatchState",
    "acollect_batch",
    "asubmit_batch",
    "await_batch",
    "batch_grader",
    "collect_batch",
    "finish_batch",
    "state_path",
    "submit_batch",
]
