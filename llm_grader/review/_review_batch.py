"""What is under review: a batch of scorecards, the rubric they were graded with, the transcripts.

:class:`ReviewBatch` checks once that the rubric is the one the scorecards were graded with
(each item's fingerprint), so that the tiers offered to a reviewer are the item's tiers. It
also says which tiers a reviewer may give an item and turns a reviewer's input into a
:class:`~llm_grader.types.ReviewVerdict`, refusing anything unknown with a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._results import load_results
from .._views import id_order
from ..conversation import Conversation
from ..errors import LLMGraderError
from ..rubric import Item, Rubric, item_fingerprint, load_rubric
from ..scoring import ItemResult, Scorecard
from ..types import NOT_APPLICABLE, ReviewVerdict

MAX_REVIEWER = 100
"""Longest reviewer name accepted."""
MAX_REASON = 4000
"""Longest reason accepted."""


class ReviewError(LLMGraderError):
    """A verdict or a review file that cannot be accepted; ``field`` names what is wrong."""

    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field
        super().__init__(message)


def current_tier(result: ItemResult) -> str | None:
    """The tier the grader gave: a tier id, ``not_applicable``, or None (unscored, deduction)."""
    if result.not_applicable:
        return NOT_APPLICABLE
    return result.tier


def tier_choices(item: Item) -> list[tuple[str, str]]:
    """The (id, label) pairs a reviewer may give: the item's tiers, and N/A where it is allowed."""
    choices = [(t.id, t.display) for t in item.tiers]
    if item.not_applicable is not None or item.applicability is not None:
        choices.append((NOT_APPLICABLE, "N/A"))
    return choices


def _scorecards(source: object) -> list[Scorecard]:
    """The scorecards given, as a list (a generator is read once), each checked to be one."""
    if isinstance(source, (str, Path)):
        return load_results(source)
    if not isinstance(source, Iterable) or isinstance(source, (bytes, Mapping, Scorecard)):
        raise ReviewError(
            "scorecards must be an iterable of Scorecard (e.g. read_results(path)) or a results "
            f"file path, not {type(source).__name__}",
            field="cards",
        )
    cards = list(source)
    for index, card in enumerate(cards):
        if not isinstance(card, Scorecard):
            raise ReviewError(f"cards[{index}] is a {type(card).__name__}, not a Scorecard", field="cards")
    return cards


def _by_id(source: object) -> dict[str, Conversation]:
    """The conversations by id, from a mapping by id or an iterable of conversations."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(source, Mapping):
        pairs = list(source.items())
    elif isinstance(source, Iterable) and not isinstance(source, (str, bytes, Path, Conversation)):
        pairs = [(getattr(c, "id", None), c) for c in source]
    elif source is not None:
        pairs = [(None, source)]
    if all(isinstance(c, Conversation) for _, c in pairs):
        return dict(pairs)
    raise ReviewError(
        "conversations must be a mapping of id to Conversation or an iterable of Conversation "
        "(e.g. load_conversations(path))",
        field="conversations",
    )


def _clean(value: str) -> str:
    """Text as typed, without control characters other than line breaks and tabs."""
    return "".join(ch for ch in value if ch in "\n\t" or (ch >= " " and ch != "\x7f")).strip()


@dataclass(frozen=True)
class ReviewBatch:
    """Scorecards in id order, their rubric, and the conversations found for them."""

    rubric: Rubric
    cards: tuple[Scorecard, ...]
    conversations: Mapping[str, Conversation] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        rubric: Rubric | str | Path,
        cards: Iterable[Scorecard] | str | Path,
        conversations: Mapping[str, Conversation] | Iterable[Conversation] | None = None,
    ) -> ReviewBatch:
        """Check the scorecards against the rubric (ids unique, same items and fingerprints).

        ``rubric``: a :class:`Rubric`, a built-in name or a YAML path. ``cards``: any iterable
        of scorecards, read once (e.g. ``read_results(path)``), or a results file path.
        ``conversations``: a mapping by id or any iterable of conversations (e.g. what
        ``load_conversations`` returns). Anything else is a :class:`ReviewError`.
        """
        rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
        cards = _scorecards(cards)
        seen: set[str] = set()
        for card in cards:
            if card.conversation_id in seen:
                raise ReviewError(f"conversation {card.conversation_id!r} is in the results more than once")
            seen.add(card.conversation_id)
            _check_card(rubric, card)
        ordered = tuple(sorted(cards, key=lambda c: id_order(c.conversation_id)))
        return cls(rubric, ordered, _by_id(conversations))

    def card(self, conversation_id: str) -> Scorecard:
        """The scorecard of a conversation (ReviewError when unknown)."""
        for card in self.cards:
            if card.conversation_id == conversation_id:
                return card
        raise ReviewError(f"unknown conversation {conversation_id!r}", field="conversation_id")

    def result(self, conversation_id: str, item_id: str) -> tuple[Item, ItemResult]:
        """An item of the rubric and its result on a conversation (ReviewError when unknown)."""
        card = self.card(conversation_id)
        for result in card.items:
            if result.item_id == item_id:
                return self.rubric.item(item_id), result
        ids = ", ".join(r.item_id for r in card.items)
        raise ReviewError(f"unknown item {item_id!r}; items: {ids}", field="item_id")

    def verdict(
        self,
        conversation_id: str,
        item_id: str,
        *,
        reviewer: str,
        decision: str,
        tier: str | None = None,
        reason: str = "",
        kind: str = "review",
        blind: bool = False,
    ) -> ReviewVerdict:
        """A reviewer's input as a verdict, checked: known item, one of its tiers, a reason where due.

        An override needs a tier the item allows and a reason; an appeal needs a reason; an
        unscored item has no grade to accept. A ``blind`` label (given with the AI grade
        hidden) is the reviewer's own tier: ``decision`` is ignored and set by comparing it
        with the grader's tier (same: accept, else override), and no reason is required.
        """
        item, result = self.result(conversation_id, item_id)
        reviewer, reason = _clean(reviewer), _clean(reason)
        original = current_tier(result)
        if blind:
            return self._blind_label(item, original, reviewer=reviewer, tier=tier, reason=reason, kind=kind)
        _check_fields(reviewer, decision, kind, reason)
        chosen = None
        if decision == "override":
            choices = [c for c, _ in tier_choices(item)]
            if not choices:
                raise ReviewError(f"item {item_id!r} has no tiers to give (a deduction item)", field="tier")
            if tier not in choices:
                raise ReviewError(f"tier {tier!r} is not one of {', '.join(choices)}", field="tier")
            if tier == original:
                raise ReviewError(f"{tier!r} is the grader's tier already: accept it instead", field="tier")
            chosen = tier
        elif result.unscored:
            raise ReviewError(
                f"item {item_id!r} is unscored: there is no grade to accept; override it with a tier",
                field="decision",
            )
        return ReviewVerdict(
            reviewer=reviewer,
            decision="override" if decision == "override" else "accept",
            tier=chosen,
            original_tier=original,
            reason=reason,
            kind="appeal" if kind == "appeal" else "review",
        )

    def _blind_label(
        self, item: Item, original: str | None, *, reviewer: str, tier: str | None, reason: str, kind: str
    ) -> ReviewVerdict:
        """A label given blind: the reviewer's tier, compared with the grader's afterwards."""
        choices = [c for c, _ in tier_choices(item)]
        if not choices:
            raise ReviewError(f"item {item.id!r} has no tiers to give (a deduction item)", field="tier")
        if tier not in choices:
            raise ReviewError(f"tier {tier!r} is not one of {', '.join(choices)}", field="tier")
        decision = "accept" if tier == original else "override"
        _check_fields(reviewer, decision, kind, reason, reason_due=False)
        if kind != "review":
            raise ReviewError("a blind label is a review, not an appeal's outcome", field="kind")
        return ReviewVerdict(
            reviewer=reviewer,
            decision=decision,
            tier=tier if decision == "override" else None,
            original_tier=original,
            reason=reason,
            kind="review",
            blind=True,
        )


def _check_fields(reviewer: str, decision: str, kind: str, reason: str, *, reason_due: bool = True) -> None:
    if not reviewer:
        raise ReviewError("a reviewer name is required", field="reviewer")
    if len(reviewer) > MAX_REVIEWER:
        raise ReviewError(f"the reviewer name is longer than {MAX_REVIEWER} characters", field="reviewer")
    if decision not in ("accept", "override"):
        raise ReviewError(f"decision {decision!r} is not one of accept, override", field="decision")
    if kind not in ("review", "appeal"):
        raise ReviewError(f"kind {kind!r} is not one of review, appeal", field="kind")
    if len(reason) > MAX_REASON:
        raise ReviewError(f"the reason is longer than {MAX_REASON} characters", field="reason")
    if reason_due and not reason and (decision == "override" or kind == "appeal"):
        what = "an override" if decision == "override" else "an appeal's outcome"
        raise ReviewError(f"{what} needs a reason", field="reason")


def _check_card(rubric: Rubric, card: Scorecard) -> None:
    """The card was graded with this rubric: same id, same items, same fingerprints."""
    fix = "pass the rubric the results were graded with (-r)"
    if card.rubric_id != rubric.id:
        raise ReviewError(
            f"{card.conversation_id}: graded with rubric {card.rubric_id!r} v{card.rubric_version}, "
            f"not {rubric.id!r} v{rubric.version}; {fix}",
            field="rubric",
        )
    stored = {r.item_id: r for r in card.items}
    items = [item for _, item in rubric.items()]
    differ = [
        i.id
        for i in items
        if i.id not in stored or stored[i.id].audit.item_hash not in (None, item_fingerprint(i))
    ]
    differ += sorted(set(stored) - {i.id for i in items})
    if differ:
        raise ReviewError(
            f"{card.conversation_id}: items {', '.join(differ)} differ from rubric {rubric.id!r} "
            f"v{rubric.version} (new, gone, or their wording, tiers, flags or rule changed since "
            f"grading); {fix}",
            field="rubric",
        )
