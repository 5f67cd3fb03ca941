"""Blind labels: the AI grade hidden from a reviewer until they have given their own.

Reviewers who see the model's grade tend to adopt it, which inflates measured agreement
(Schroeder et al., ACL 2025). In blind mode (``review serve --blind``, for calibration
samples) an item's tier, points, rationale, evidence, flags and the other verdicts on it are
left out of the page until *this* reviewer has submitted a label for it; then they are shown.
The card's total, its fatal / zero-score overrides and the queue's flag columns stay hidden
until the reviewer has labelled every item with tiers. Two reviewers grading the same items
blind give the human–human ceiling; their labels are stored with ``blind`` set.

Pure functions over the batch and the stored verdicts; the pages and the app use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from ..rubric import Item
from ..scoring import ItemResult, Scorecard
from ._queue import Filters
from ._review_batch import ReviewBatch, tier_choices
from ._store import StoredVerdict

_REVEALING_SORTS = frozenset({"total", "fatal", "review", "pending"})
"""Sorts that order by the grade or its flags, so they would hint at it."""


def labelled(history: Iterable[StoredVerdict], reviewer: str) -> dict[str, frozenset[str]]:
    """Conversation id → the items ``reviewer`` has given a verdict on (none without a name)."""
    found: dict[str, set[str]] = {}
    if reviewer:
        for stored in history:
            if stored.verdict.reviewer == reviewer:
                found.setdefault(stored.conversation_id, set()).add(stored.item_id)
    return {cid: frozenset(items) for cid, items in found.items()}


def labellable(batch: ReviewBatch, card: Scorecard) -> list[str]:
    """The items of a card a reviewer labels blind: those with tiers to give."""
    return [r.item_id for r in card.items if tier_choices(batch.rubric.item(r.item_id))]


@dataclass(frozen=True)
class Reveal:
    """What of a card's grade a reviewer may see."""

    items: frozenset[str]
    """Items whose grade is shown."""
    card: bool
    """Whether the card's total and overrides are shown (every labellable item labelled)."""


def reveal(batch: ReviewBatch, card: Scorecard, mine: frozenset[str], *, blind: bool) -> Reveal:
    """What is shown of ``card`` to a reviewer who has labelled the items ``mine``.

    Not blind: everything. Blind: the items labelled; the card (and the items without tiers,
    whose grade only the card's total would tell) once every item with tiers is labelled.
    """
    every = frozenset(r.item_id for r in card.items)
    if not blind:
        return Reveal(every, True)
    done = set(labellable(batch, card)) <= mine
    return Reveal(every if done else frozenset(mine & every), done)


def hidden_item(item: Item, result: ItemResult) -> dict[str, object]:
    """An item's view with its grade left out: the name, and a form for the reviewer's own tier."""
    return {
        "id": result.item_id,
        "name": result.name,
        "judge": result.judge,
        "hidden": True,
        "choices": tier_choices(item),
    }


def blind_filters(filters: Filters) -> Filters:
    """The queue's filters without those that select or sort by the grade or its flags."""
    sort = "id" if filters.sort in _REVEALING_SORTS else filters.sort
    return replace(
        filters,
        sort=sort,
        item="",
        needs_review=False,
        fatal=False,
        partial=False,
        low_agreement=False,
        pending=False,
    )


def progress(batch: ReviewBatch, mine: Mapping[str, frozenset[str]]) -> dict[str, tuple[int, int]]:
    """Conversation id → (items labelled by the reviewer, items to label)."""
    counts = {}
    for card in batch.cards:
        wanted = labellable(batch, card)
        done = mine.get(card.conversation_id, frozenset())
        counts[card.conversation_id] = (sum(i in done for i in wanted), len(wanted))
    return counts
