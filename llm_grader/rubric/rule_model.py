"""The deterministic rules an item can be judged by, as rubric YAML spells them.

Each rule measures one value from the conversation (phrases found, seconds waited, …) and
maps it to a tier through its thresholds; :mod:`llm_grader.rules` evaluates them.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from ._strict import Strict

__all__ = [
    "RULE_TYPES",
    "FirstResponseRule",
    "ForbiddenWordsRule",
    "InterruptionRule",
    "LongestGapRule",
    "PhraseRule",
    "Rule",
    "Speakers",
    "SpeakingRateRule",
    "Threshold",
    "Window",
]


class Window(Strict):
    """Which of the speaker's turns a rule looks at; neither field means anywhere."""

    first: int | None = Field(default=None, ge=1)
    """Only the first N turns of the speaker."""
    last: int | None = Field(default=None, ge=1)
    """Only the last N turns of the speaker."""

    @model_validator(mode="after")
    def _one(self) -> Window:
        if self.first is not None and self.last is not None:
            raise ValueError("give 'first' or 'last', not both")
        return self


class Threshold(Strict):
    """Maps a measured value to a tier: the first threshold whose bounds hold wins."""

    min: float | None = None
    """The value is at least this (inclusive)."""
    max: float | None = None
    """The value is at most this (inclusive)."""
    tier: str
    """Tier given when the bounds hold."""
    flags: list[str] = Field(default_factory=list)
    """Flags of the item raised when this threshold is the one that matched."""

    def holds(self, value: float) -> bool:
        """Whether ``value`` is within this threshold's bounds."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    @property
    def bounds(self) -> tuple[float, float]:
        """The inclusive range ``(min, max)``, infinite on a side without a bound."""
        return (-math.inf if self.min is None else self.min, math.inf if self.max is None else self.max)


class _RuleBase(Strict):
    thresholds: list[Threshold] = Field(default_factory=list)
    """Value → tier, first match wins; end with one without bounds as the catch-all.
    Not used by deduction items, which count occurrences."""


Speakers = Literal["agent", "customer", "any"]


class PhraseRule(_RuleBase):
    """Counts how many of the required phrases occur (greetings, closings, scripted parts).

    The measured value is the number of ``phrases`` entries found; an entry that is a list
    is satisfied by any of its alternatives.
    """

    type: Literal["phrases"]
    phrases: list[str | list[str]] = Field(min_length=1)
    """Phrases (or lists of alternatives) to look for."""
    regex: bool = False
    """Treat phrases as regular expressions."""
    speaker: Speakers = "agent"
    """Whose turns are searched."""
    window: Window = Window()
    """Which of those turns."""


class ForbiddenWordsRule(_RuleBase):
    """Counts every occurrence of forbidden words (服务禁语); each is one occurrence."""

    type: Literal["forbidden_words"]
    words: list[str] = Field(min_length=1)
    """Words or phrases (or regexes with ``regex: true``)."""
    regex: bool = False
    """Treat words as regular expressions."""
    speaker: Speakers = "agent"
    """Whose turns are searched."""
    window: Window = Window()
    """Which of those turns."""


class FirstResponseRule(_RuleBase):
    """Seconds until the agent's first turn.

    Measured from the customer's first turn when the customer opened the conversation
    (chat), otherwise from the start of the recording (call).
    """

    type: Literal["first_response_time"]


class LongestGapRule(_RuleBase):
    """The longest wait before an agent turn that follows a customer or agent turn.

    Occurrences are the waits of at least ``min_seconds``.
    """

    type: Literal["longest_agent_gap"]
    min_seconds: float = Field(default=0, ge=0)
    """Waits at least this long count as occurrences (for deduction items)."""


class InterruptionRule(_RuleBase):
    """Agent turns that start before the customer's previous turn has ended (needs end times)."""

    type: Literal["interruptions"]
    min_overlap: float = Field(default=0.3, ge=0)
    """Seconds of overlap needed to count, so ASR timing jitter is not an interruption."""


class SpeakingRateRule(_RuleBase):
    """The agent's characters per second over turns with start and end times."""

    type: Literal["speaking_rate"]


Rule = Annotated[
    PhraseRule
    | ForbiddenWordsRule
    | FirstResponseRule
    | LongestGapRule
    | InterruptionRule
    | SpeakingRateRule,
    Field(discriminator="type"),
]


RULE_TYPES: tuple[str, ...] = tuple(
    get_args(cls.model_fields["type"].annotation)[0] for cls in get_args(get_args(Rule)[0])
)
"""The ``type`` of every rule class, in the order of :data:`Rule` (``phrases``, …)."""
