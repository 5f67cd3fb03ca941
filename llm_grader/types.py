"""Plain data shared by every stage: evidence, occurrences, usage, judgements, audit trails.

This module sits at the bottom of the package: it imports nothing from llm-grader, so the
rules, the evidence checker, the model adapter, scoring and the results writer can all use
these types without importing one another. What is written to disk (evidence, usage, the
audit trail) is pydantic; a :class:`Judgement`, passed between pure functions, is a frozen
dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CANNOT_DETERMINE",
    "NOT_APPLICABLE",
    "Audit",
    "CheckResult",
    "Evidence",
    "FailureKind",
    "Inconsistency",
    "Judgement",
    "NaPolicy",
    "NaSource",
    "Occurrence",
    "Record",
    "ReviewVerdict",
    "RuleConflict",
    "Usage",
]

NOT_APPLICABLE: Final = "not_applicable"
"""The tier id a model answers when an item does not apply (where the item allows it)."""

CANNOT_DETERMINE: Final = "cannot_determine"
"""The tier a model answers when it cannot determine the grade (with its reason): the item is
left unscored and sent to review, never guessed."""

NaPolicy = Literal["full", "exclude"]
"""How a not-applicable item counts: its full points, or left out of the total."""

NaSource = Literal["applicability", "model"]
"""Who decided that an item does not apply: the rubric's applicability rule, or the model."""

FailureKind = Literal["transport", "validation", "truncated", "refusal"]
"""Why a model call gave no usable answer."""


class Record(BaseModel):
    """Base of everything written to disk: unknown fields are an error, docstrings describe."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Evidence(Record):
    """A quote from the transcript, located in it."""

    turn: int
    """1-based turn number, as shown to the model."""
    speaker: str
    """Speaker of that turn."""
    quote: str
    """The quoted text, exactly as in the transcript."""
    start_char: int
    """Offset of the quote's first character in the turn's text."""
    end_char: int
    """Offset just past the quote's last character."""
    verified: bool = True
    """Whether the quote was found in the transcript, in a turn of a speaker the item accepts."""
    cited_turn: int | None = None
    """The turn the model cited, when the quote was found in another turn (``turn``)."""


class Occurrence(Evidence):
    """One occurrence counted by a deduction item."""

    severe: bool = False
    """Whether the occurrence is severe (the severity multiplier applies)."""


class Usage(Record):
    """Model usage for an item, a conversation or a run."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float | None = 0.0
    """Estimated USD for the calls (prices: :mod:`llm_grader.llm._prices`); None when any call
    is unpriced — so a sum over calls of which some are unpriced is None, never a partial figure."""
    unpriced_calls: int = 0
    """Calls whose price is unknown (a model not in the price table, or recorded without a cost)."""

    @model_validator(mode="before")
    @classmethod
    def _calls_without_cost_are_unpriced(cls, data: Any) -> Any:
        # Calls recorded with no cost (a scorecard written before costs were, a judge that does
        # not price) are unpriced: never counted as free.
        if isinstance(data, dict) and "cost" not in data:
            calls = data.get("calls")
            if isinstance(calls, int) and calls > 0:
                return {**data, "cost": None, "unpriced_calls": data.get("unpriced_calls", calls)}
        return data

    def __add__(self, other: Usage) -> Usage:
        counts = {k: getattr(self, k) + getattr(other, k) for k in Usage.model_fields if k != "cost"}
        cost = None if self.cost is None or other.cost is None else round(self.cost + other.cost, 10)
        return Usage(**counts, cost=cost)


class ReviewVerdict(Record):
    """A human reviewer's verdict on a graded item (复核), or the outcome of an agent's appeal (申诉)."""

    reviewer: str
    """Who reviewed."""
    decision: Literal["accept", "override"]
    """``accept``: the grade stands; ``override``: the reviewer's tier (or N/A) replaces it."""
    tier: str | None = None
    """The reviewer's tier id (``not_applicable`` allowed where the item allows it), for overrides."""
    original_tier: str | None = None
    """The tier the grader gave."""
    flags: dict[str, bool] | None = None
    """For overrides: the item's flags as the reviewer found them (e.g. clearing a service
    taboo on appeal, which lifts the fatal override it fired); None keeps the grader's."""
    reason: str = ""
    kind: Literal["review", "appeal"] = "review"
    """A QA reviewer's check, or the outcome of an agent's appeal."""
    at: str = ""
    """When, as an ISO-8601 timestamp."""
    blind: bool = False
    """Whether the reviewer gave this label blind: the AI grade was hidden from them until they
    had submitted it (the review page's blind mode). Only blind labels measure agreement
    without anchoring on the model."""


class RuleConflict(Record):
    """A hybrid item whose rule decided the tier while the model, asked for the flags, answered another."""

    rule_tier: str
    """The tier the firing rule decided (the grade that stands)."""
    model_tier: str
    """The tier the model answered (``not_applicable`` included)."""


class Inconsistency(Record):
    """A rubric ``consistency`` rule the items' answers break: facts that should agree do not."""

    id: str
    """The rule's id."""
    reason: str
    """What the facts have in common (the rule's reason)."""
    holds: list[str]
    """The facts that hold, as ``item: flag X`` / ``item: tier in [a, b]``."""
    fails: list[str]
    """The facts that do not."""


class CheckResult(Record):
    """The model's answer to one check of a decomposed item (``checks``), kept for audit."""

    id: str
    """The check's id."""
    passed: bool
    """Whether the model found the check passed."""
    evidence: list[Evidence] = []
    """The verified quotes it gave for this check."""


class Audit(Record):
    """How an item's grade came about: enough to reproduce, rescore or question it."""

    item_hash: str | None = None
    """Fingerprint of the item's wording, tiers, flags and rule when it was graded."""
    na_source: NaSource | None = None
    """For a not-applicable item: whether the rubric's applicability rule or the model decided."""
    decided_by: Literal["rule"] | None = None
    """``rule`` for a hybrid (model-judged) item that one of its ``decide_by_rule`` rules decided."""
    prompt_hash: str | None = None
    """Short hash of the messages and response schema sent (model-judged items)."""
    model: str | None = None
    mode: str | None = None
    """Structured-output mode used (tools, json_schema, json, md_json)."""
    rubric_version: str | None = None
    raw: str | list[str | None] | None = None
    """The answer JSON as the model gave it; one per sample when sampled more than once."""
    attempts: int | None = None
    """Model calls made, re-asks included."""
    failure: FailureKind | None = None
    """Why no usable answer came back, for a failed model item."""
    agreement: float | None = None
    """Share of samples that gave the chosen verdict — the tier and every flag as kept, or the
    occurrences as kept (self-consistency)."""
    tiers: dict[str, int] | None = None
    """Votes per tier across samples (self-consistency)."""
    flag_votes: dict[str, int] | None = None
    """Samples that raised each flag of the item (self-consistency; a flag is raised by majority)."""
    tier_probs: dict[str, float] | None = None
    """The model's probability of each tier at the tier token (token logprobs), averaged over
    the samples that returned logprobs; None when the endpoint returned none."""
    review: ReviewVerdict | None = None
    """A reviewer's verdict applied to this item (the grade above is then the reviewer's)."""
    group: list[str] | None = None
    """Grouped judging: the items answered by the same call (its usage is booked on the first)."""
    model_rationale: str | None = None
    """A hybrid item its rule decided, asked of the model for its flags: the model's rationale,
    kept apart from the item's rationale (which is the rule's)."""
    rule_conflict: RuleConflict | None = None
    """A hybrid item whose model answer contradicts the rule that decided it (the rule's tier stands)."""
    inconsistent: list[Inconsistency] | None = None
    """The rubric's consistency rules this item's answer takes part in and that the answers
    break (e.g. 推诿 raised in one item and not in another): the item needs review."""
    checks: list[CheckResult] | None = Field(default=None, exclude_if=lambda v: v is None)
    """A decomposed item: each check as the model answered it (of the sample kept); the tier
    was computed from the failed ones by the item's thresholds."""


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """What a judge (rule or model) found for one item; the input to scoring."""

    item_id: str
    tier: str | None = None
    """The tier id, for scored items."""
    occurrences: tuple[Occurrence, ...] = ()
    """What a deduction or counting rule found."""
    not_applicable: bool = False
    """The item does not apply to this conversation."""
    na_policy: NaPolicy | None = None
    """How the not-applicable item counts; None: the item's ``not_applicable.policy``."""
    flags: Mapping[str, bool] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    rationale: str = ""
    measured: float | None = None
    """The value a rule measured (seconds, count, characters per second)."""
    error: str | None = None
    """Why the item could not be graded; makes it unscored."""
    abstained: bool = False
    """The model answered ``cannot_determine`` (``error`` gives its reason): unscored, for review."""
    needs_review: bool = False
    confidence: float | None = None
    """How sure the model was, in [0, 1] (:mod:`llm_grader._confidence`); None for rule
    decisions and for a single sample without token logprobs."""
    usage: Usage = field(default_factory=Usage)
    audit: Audit = field(default_factory=Audit)
    """Prompt hash, raw model answer and the like, kept on the scorecard."""

    @staticmethod
    def unscored(item_id: str, reason: str) -> Judgement:
        """A judgement for an item that could not be graded."""
        return Judgement(item_id=item_id, error=reason, needs_review=True)
