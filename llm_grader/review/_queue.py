"""The review queue: which items are flagged and why, per conversation, filtered and sorted.

An item is *flagged* for review when it needs review (the grader said so; unscored items
always do), when its samples agreed less than a threshold (self-consistency), or when it
fired a fatal or zero-score override. Pure functions over a :class:`ReviewBatch` and the
latest verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlencode

from .._views import id_order
from ..scoring import ItemResult, Scorecard
from ._review_batch import ReviewBatch
from ._store import StoredVerdict

SORTS = ("id", "total", "fatal", "review", "pending", "confidence", "field")
"""What the list can be sorted by."""

_Latest = Mapping[tuple[str, str], StoredVerdict]


def flag_reasons(card: Scorecard, result: ItemResult, *, low_agreement: float = 0.8) -> tuple[str, ...]:
    """Why an item is flagged: ``needs_review``, ``unscored``, ``low_agreement``, ``fatal``; or ()."""
    reasons = []
    if result.needs_review:
        reasons.append("needs_review")
    if result.unscored:
        reasons.append("unscored")
    if result.audit.agreement is not None and result.audit.agreement < low_agreement:
        reasons.append("low_agreement")
    severe = ("fatal", "zero_score")
    # An item that fired a fatal or zero-score override, or blocks one from being decided.
    pending = getattr(card, "pending_overrides", [])
    if any(result.item_id in o.items for o in card.overrides if o.kind in severe) or any(
        result.item_id in p.blocking for p in pending if p.kind in severe
    ):
        reasons.append("fatal")
    return tuple(reasons)


@dataclass(frozen=True, kw_only=True)
class ConversationRow:
    """One conversation in the list: its total, its flagged items and how far review got."""

    card: Scorecard
    flagged: Mapping[str, tuple[str, ...]]
    """Flagged item id → why."""
    reviewed: frozenset[str]
    """Items with a verdict."""
    overridden: frozenset[str]
    """Items whose latest verdict is an override."""

    @property
    def conversation_id(self) -> str:
        """The conversation's id."""
        return self.card.conversation_id

    def count(self, reason: str) -> int:
        """How many items are flagged for ``reason``."""
        return sum(reason in r for r in self.flagged.values())

    @property
    def pending(self) -> list[str]:
        """Flagged items with no verdict yet."""
        return [i for i in self.flagged if i not in self.reviewed]

    @property
    def partial(self) -> bool:
        """Whether the total is missing, counts only part of the items, or fatal is undetermined."""
        card = self.card
        return card.total_score is None or not card.complete or card.fatal is None or card.zero_score is None

    @property
    def confidence(self) -> float | None:
        """The lowest confidence of the conversation's flagged model items (None when none has one)."""
        found = [
            i.confidence for i in self.card.items if i.item_id in self.flagged and i.confidence is not None
        ]
        return min(found) if found else None

    def value(self, field: str) -> str:
        """A metadata field as text ('' when absent)."""
        value = self.card.metadata.get(field)
        return "" if value is None else str(value)


def summarise(batch: ReviewBatch, latest: _Latest, *, low_agreement: float = 0.8) -> list[ConversationRow]:
    """A row per conversation of the batch, in id order."""
    by_conversation: dict[str, dict[str, StoredVerdict]] = {}
    for (conversation_id, item_id), stored in latest.items():
        by_conversation.setdefault(conversation_id, {})[item_id] = stored
    rows = []
    for card in batch.cards:
        flagged = {}
        for result in card.items:
            reasons = flag_reasons(card, result, low_agreement=low_agreement)
            if reasons:
                flagged[result.item_id] = reasons
        mine = by_conversation.get(card.conversation_id, {})
        rows.append(
            ConversationRow(
                card=card,
                flagged=flagged,
                reviewed=frozenset(mine),
                overridden=frozenset(i for i, s in mine.items() if s.verdict.decision == "override"),
            )
        )
    return rows


def metadata_fields(cards: Sequence[Scorecard]) -> list[str]:
    """The metadata keys with plain values (text, numbers) found on the scorecards."""
    keys = {
        k for c in cards for k, v in c.metadata.items() if isinstance(v, (str, int, float)) and k != "channel"
    }
    return sorted(keys | ({"channel"} if any("channel" in c.metadata for c in cards) else set()))


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "on", "true", "yes")


@dataclass(frozen=True, kw_only=True)
class Filters:
    """What the list shows; read from and written to the page's query string."""

    needs_review: bool = False
    fatal: bool = False
    """Fatal or zero-score conversations."""
    partial: bool = False
    """Undetermined or partial totals (unscored items)."""
    low_agreement: bool = False
    pending: bool = False
    """Flagged items not reviewed yet."""
    item: str = ""
    """Restrict the item tests above (and 'flagged') to one item."""
    field: str = ""
    """A metadata field (``agent_id``) to show, match and sort by."""
    value: str = ""
    """The value ``field`` must have (exact match); empty: any."""
    text: str = ""
    """Text the conversation id or a metadata value contains."""
    sort: str = "id"
    descending: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Filters from a query string (unknown sorts fall back to id)."""

        def given(name: str) -> str:
            return str(query.get(name, "")).strip()[:200]

        sort = given("sort")
        return cls(
            needs_review=_flag(given("needs_review")),
            fatal=_flag(given("fatal")),
            partial=_flag(given("partial")),
            low_agreement=_flag(given("low_agreement")),
            pending=_flag(given("pending")),
            item=given("item"),
            field=given("field"),
            value=given("value"),
            text=given("text"),
            sort=sort if sort in SORTS else "id",
            descending=_flag(given("descending")),
        )

    def query(self, **changes: Any) -> str:
        """The query string of these filters (with ``changes``), defaults left out."""
        values = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        kept = {k: ("1" if v is True else v) for k, v in values.items() if v not in (False, "", None)}
        if kept.get("sort") == "id":
            del kept["sort"]
        return urlencode(kept)

    def _item_test(self, row: ConversationRow, reason: str) -> bool:
        if self.item:
            return reason in row.flagged.get(self.item, ())
        return row.count(reason) > 0

    def keeps(self, row: ConversationRow) -> bool:
        """Whether the row passes every filter set."""
        tests = [
            not self.needs_review or self._item_test(row, "needs_review"),
            not self.low_agreement or self._item_test(row, "low_agreement"),
            not self.fatal or row.card.fatal or row.card.zero_score,
            not self.partial or (self._item_test(row, "unscored") if self.item else row.partial),
            not self.pending or any(not self.item or i == self.item for i in row.pending),
            not self.item or self.item in row.flagged,
            not (self.field and self.value) or row.value(self.field) == self.value,
            not self.text or self.text.lower() in _haystack(row),
        ]
        return all(tests)

    def key(self, row: ConversationRow) -> tuple[Any, ...]:
        """Sort key of a row (id breaks ties)."""
        card, ident = row.card, id_order(row.conversation_id)
        if self.sort == "total":
            return (card.total_score is None, card.total_score or 0.0, ident)
        if self.sort == "fatal":
            return (not (card.fatal or card.zero_score), ident)
        if self.sort == "review":
            return (-row.count("needs_review"), ident)
        if self.sort == "pending":
            return (-len(row.pending), ident)
        if self.sort == "confidence":  # the least sure first; rows without a confidence last
            low = row.confidence
            return (low is None, low if low is not None else 0.0, ident)
        if self.sort == "field":
            return (row.value(self.field), ident)
        return (ident,)


def _haystack(row: ConversationRow) -> str:
    return " ".join([row.conversation_id, *map(str, row.card.metadata.values())]).lower()


def select(rows: Sequence[ConversationRow], filters: Filters) -> list[ConversationRow]:
    """The rows the filters keep, sorted."""
    kept = sorted((r for r in rows if filters.keeps(r)), key=filters.key)
    return kept[::-1] if filters.descending else kept
