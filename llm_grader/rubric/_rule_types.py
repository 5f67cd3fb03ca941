"""The deterministic rules an item can be judged by, as rubric YAML spells them.

Each rule measures one value from the conversation (phrases found, seconds waited, …) and
maps it to a tier through its thresholds; :mod:`llm_grader._rules` evaluates them. A
``combined`` rule runs several checks — each a rule of its own with the values at which it
passes — and measures how many failed (开头语、结束语: one wrong 1 point, both wrong 0).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from ._strict import IDENTIFIER, Strict


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


class Bounds(Strict):
    """An inclusive range of measured values; a missing side is unbounded."""

    min: float | None = None
    """The value is at least this (inclusive)."""
    max: float | None = None
    """The value is at most this (inclusive)."""

    def holds(self, value: float) -> bool:
        """Whether ``value`` is within these bounds."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    @property
    def bounds(self) -> tuple[float, float]:
        """The inclusive range ``(min, max)``, infinite on a side without a bound."""
        return (-math.inf if self.min is None else self.min, math.inf if self.max is None else self.max)


class Threshold(Bounds):
    """Maps a measured value to a tier: the first threshold whose bounds hold wins."""

    tier: str
    """Tier given when the bounds hold."""
    flags: list[str] = Field(default_factory=list)
    """Flags of the item raised when this threshold is the one that matched."""


class CheckThreshold(Threshold):
    """A threshold on a model item's ``checks``: the number that failed, and which.

    The bounds are on the number of failed checks (as a ``combined`` rule's); ``failed``
    further requires that each of these checks failed (``{failed: [no_shirking], tier: poor}``).
    """

    failed: list[str] = Field(default_factory=list)
    """Check ids that must all have failed for the threshold to hold (none: any)."""

    def matches(self, count: float, failed: Collection[str]) -> bool:
        """Whether ``count`` failed checks, ``failed`` among them, meet this threshold."""
        return self.holds(count) and all(check in failed for check in self.failed)


def first_threshold(
    thresholds: Sequence[Threshold], value: float, failed: Collection[str] = ()
) -> Threshold | None:
    """The first threshold that holds for ``value`` (and, for a check threshold, ``failed``)."""
    for threshold in thresholds:
        if isinstance(threshold, CheckThreshold):
            if threshold.matches(value, failed):
                return threshold
        elif threshold.holds(value):
            return threshold
    return None


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


_Basic = (
    PhraseRule | ForbiddenWordsRule | FirstResponseRule | LongestGapRule | InterruptionRule | SpeakingRateRule
)

BasicRule = Annotated[_Basic, Field(discriminator="type")]
"""A rule that measures one value; what a check of a ``combined`` rule runs."""


class Check(Strict):
    """One check of a ``combined`` rule: a rule and the values at which the check passes."""

    id: str = Field(pattern=IDENTIFIER)
    """Stable id of the check (``opening``)."""
    name: str = ""
    """What the card calls it (开头语); shown in the rationale (default: the id)."""
    rule: BasicRule
    """What is measured; its ``thresholds`` are not used (the check passes or fails)."""
    pass_when: Bounds
    """The measured values at which the check passes (``{min: 2}``: at least two phrases found;
    ``{max: 0}``: no forbidden word found); any other value fails it."""

    @model_validator(mode="after")
    def _decides(self) -> Check:
        if self.pass_when.min is None and self.pass_when.max is None:
            raise ValueError("'pass_when' needs 'min' or 'max' (the values at which the check passes)")
        if self.rule.thresholds:
            raise ValueError("a check's rule has no 'thresholds': 'pass_when' says when the check passes")
        return self

    @property
    def label(self) -> str:
        """The name, or the id when there is none."""
        return self.name or self.id


class CombinedRule(_RuleBase):
    """Several checks as one item; the measured value is the number of checks that failed.

    The thresholds map that count to a tier (0 failed → full points; 1 failed → …), so one
    item can carry the card's points for two checks together (开头语、结束语 3 分: "当中有一项
    不符合标准者扣2分" — 3 / 1 / 0).
    """

    type: Literal["combined"]
    checks: list[Check] = Field(min_length=2)
    """The checks, each with its own rule, window and passing values."""

    @model_validator(mode="after")
    def _unique(self) -> CombinedRule:
        ids = [check.id for check in self.checks]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate check id {', '.join(map(repr, duplicates))}")
        return self


Rule = Annotated[_Basic | CombinedRule, Field(discriminator="type")]


RULE_TYPES: tuple[str, ...] = tuple(
    get_args(cls.model_fields["type"].annotation)[0] for cls in get_args(get_args(Rule)[0])
)
"""The ``type`` of every rule class, in the order of :data:`Rule` (``phrases``, …)."""


# --------------------------------------------------------------------------- threshold ranges

Interval = tuple[float, float]
"""An inclusive range of measured values (``Bounds.bounds``)."""


def merged_intervals(intervals: list[Interval]) -> list[Interval]:
    """The intervals merged where they overlap or touch, in order."""
    merged: list[Interval] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def describe_interval(low: float, high: float) -> str:
    """The values from ``low`` to ``high`` in words (``every value up to 30``)."""
    if low == high:
        return f"the value {low:g}"
    if math.isinf(low) and math.isinf(high):
        return "every value"
    if math.isinf(low):
        return f"every value up to {high:g}"
    return f"every value from {low:g}" + ("" if math.isinf(high) else f" to {high:g}")


def uncovered_intervals(intervals: list[Interval], *, counts: bool) -> list[str]:
    """The values from 0 up (whole numbers for counts) that no interval covers, in words."""
    gaps: list[str] = []
    start, closed = 0.0, True  # below ``start`` all is covered; ``start`` itself too unless closed
    for low, high in [*merged_intervals(intervals), (math.inf, math.inf)]:
        if high < start or (high == start and not closed):
            continue
        first = math.ceil(start) if closed else math.floor(start) + 1  # the lowest uncovered count
        if low > start and (not counts or first < low):
            above = f"{start:g} and above" if closed else f"above {start:g}"
            between = f"below {low:g}" if closed else f"between {start:g} and {low:g}"
            gaps.append(above if math.isinf(low) else between)
        start, closed = high, False
    return gaps
