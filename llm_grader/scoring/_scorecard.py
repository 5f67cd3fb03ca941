"""The scorecard written for each conversation, and its parts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..types import Audit, Evidence, Occurrence, Record, Usage


class ItemResult(Record):
    """One item on the scorecard."""

    item_id: str
    name: str
    category_id: str
    judge: Literal["model", "rule"]
    tier: str | None = None
    """Tier id; None when unscored, not applicable or a deduction item."""
    tier_label: str | None = None
    points: float | None = None
    """Points earned (negative for a deduction); None when unscored or excluded."""
    max_points: float
    """Most the item can add (0 for a deduction item)."""
    not_applicable: bool = False
    evidence: list[Evidence] = Field(default_factory=list)
    rationale: str = ""
    flags: dict[str, bool] = Field(default_factory=dict)
    needs_review: bool = False
    confidence: float | None = None
    """How sure the model was of this grade, in [0, 1]: the share of samples agreeing on the
    tier and every flag, times the tier token's probability where the endpoint returns
    logprobs; None for rule decisions and for one sample without logprobs."""
    error: str | None = None
    abstained: bool = False
    """The model could not determine this item (it answered ``cannot_determine``): the item is
    unscored and needs review; ``error`` gives the model's reason. Never a guess."""
    occurrences: list[Occurrence] | None = None
    """Occurrences of a deduction item (None for scored items)."""
    deduction: float | None = None
    """Deduction before a group penalty's limit (deduction items)."""
    measured: float | None = None
    usage: Usage = Field(default_factory=Usage)
    audit: Audit = Field(default_factory=Audit)

    @property
    def unscored(self) -> bool:
        """Whether the item could not be graded."""
        return self.error is not None


class OverrideHit(Record):
    """An override that fired, with what fired it."""

    id: str
    kind: Literal["fatal", "zero_score", "cap"]
    reason: str
    items: list[str]
    """Items whose facts fired it."""
    evidence: list[Evidence] = Field(default_factory=list)


class PendingOverride(Record):
    """An override that may fire once the items blocking it are graded (or their evidence verified)."""

    id: str
    kind: Literal["fatal", "zero_score", "cap"]
    reason: str
    blocking: list[str]
    """The items whose grade is missing (or whose evidence is unverified)."""


class CategoryScore(Record):
    """A category's subtotal."""

    id: str
    name: str
    score: float
    max_points: float
    """The category's maximum after excluded items are taken out."""
    unscored_items: list[str] = Field(default_factory=list)


class Scorecard(Record):
    """The grade of one conversation (one JSON object per line in results)."""

    conversation_id: str
    rubric_id: str
    rubric_version: str
    model: str | None = None
    total_score: float | None
    """The total after rescaling and overrides; None only when no item could count."""
    max_score: float
    fatal: bool | None = False
    """True: a fatal override fired; False: none can; None: undetermined (see ``pending_overrides``)."""
    zero_score: bool | None = False
    """As ``fatal``, for zero-score overrides (0分录音)."""
    overrides: list[OverrideHit] = Field(default_factory=list)
    pending_overrides: list[PendingOverride] = Field(default_factory=list)
    """Overrides that cannot be decided yet, with the items blocking them."""
    items: list[ItemResult]
    categories: list[CategoryScore] = Field(default_factory=list)
    complete: bool = True
    """False when any item is unscored or an override is pending: the total is then partial."""
    unscored_points: float = 0.0
    """Maximum points of the unscored scored items (deduction items not checked are open too)."""
    total_min: float | None = None
    """For a partial scorecard: the lowest total the rubric allows once every open item is graded."""
    total_max: float | None = None
    """For a partial scorecard: the highest total the rubric allows once every open item is graded."""
    usage: Usage = Field(default_factory=Usage)
    masked: dict[str, int] = Field(default_factory=dict)
    """Personal data masked before the text was sent to the model, counted per kind (e.g.
    ``{"mobile": 2}``); empty when nothing was sent or masking was off."""
    errors: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def item(self, item_id: str) -> ItemResult:
        """The result for one item (raises KeyError)."""
        for result in self.items:
            if result.item_id == item_id:
                return result
        raise KeyError(item_id)
