"""The review pages as HTML: the queue and one conversation, rendered from jinja2 templates.

Every template is autoescaped (transcripts, rationales and metadata are untrusted input), and
every page carries a nonce for its one inline style and script (the server sends a CSP that
allows nothing else). Totals, tiers, points and the transcript come from :mod:`llm_grader._views`,
so a partial card shows its range and evidence is highlighted exactly as on the results page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from .._messages import text
from .._templating import render
from .._views import card_transcript, points_text, total_text
from ..errors import LLMGraderError
from ..scoring import ItemResult, Scorecard
from ..types import ReviewVerdict
from ._apply import apply_verdicts
from ._blind import Reveal, blind_filters, hidden_item, progress, reveal
from ._queue import SORTS, ConversationRow, Filters, flag_reasons, metadata_fields, select
from ._review_batch import ReviewBatch, current_tier, tier_choices
from ._store import StoredVerdict

_DISPLAY_FIELDS = ("agent", "agent_id", "agent_name", "staff_id")


_COLUMNS = {
    "conversation": "review.col.conversation",
    "total": "review.col.total",
    "flags": "review.col.flags",
    "needs_review": "review.col.needs_review",
    "low_agreement": "review.col.low_agreement",
    "pending": "review.col.pending",
    "reviewed": "review.col.reviewed",
    "mine": "review.col.mine",
}
"""The queue's columns (but the metadata field's), as the message naming each."""

_SORT_NAMES = {
    "id": "review.sort.id",
    "total": "review.sort.total",
    "fatal": "review.sort.fatal",
    "review": "review.sort.review",
    "pending": "review.sort.pending",
    "confidence": "review.sort.confidence",
    "field": "review.sort.field",
}
"""Each way the queue sorts (:data:`~llm_grader.review._queue.SORTS`), as the message naming it."""

_REASONS = {
    "needs_review": "review.reason.needs_review",
    "unscored": "review.reason.unscored",
    "low_agreement": "review.reason.low_agreement",
    "fatal": "review.reason.fatal",
}
"""Why an item is flagged (:func:`~llm_grader.review._queue.flag_reasons`), as the message saying it."""

_LATEST = {
    ("review", "accept"): "review.latest.accept",
    ("review", "override"): "review.latest.override",
    ("appeal", "accept"): "review.latest.appeal_rejected",
    ("appeal", "override"): "review.latest.appeal_upheld",
}
"""A verdict's kind and decision, as the message saying what it did."""


@dataclass(frozen=True, kw_only=True)
class PageContext:
    """What every page needs: the batch, its verdicts, the reviewer and the page's secrets."""

    batch: ReviewBatch
    rows: Sequence[ConversationRow]
    """Every conversation with its flags and the latest verdicts' progress."""
    verdict_count: int
    low_agreement: float
    nonce: str
    csrf: str = ""
    reviewer: str = ""
    blind: bool = False
    """Blind mode: each item's grade hidden until the reviewer has labelled it."""
    mine: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Conversation id → the items this reviewer has given a verdict on (blind mode)."""

    def reveal(self, card: Scorecard) -> Reveal:
        """What of the card's grade this reviewer may see."""
        mine = self.mine.get(card.conversation_id, frozenset())
        return reveal(self.batch, card, mine, blind=self.blind)

    @property
    def language(self) -> str:
        """The rubric's language, which the pages speak."""
        return self.batch.rubric.language

    def t(self, key: str, /, **values: Any) -> str:
        """The message ``key`` in the page's language."""
        return text(key, self.language, **values)

    def render(self, template: str, **values: Any) -> str:
        """Render a review template with the common values."""
        common = {"t": self.t, "language": self.language, "nonce": self.nonce, "blind": self.blind}
        return render(f"review/{template}", **common, **values)


def href(conversation_id: str, query: str = "") -> str:
    """The conversation page's path (the id quoted), with a query string."""
    return f"/c/{quote(conversation_id, safe='')}" + (f"?{query}" if query else "")


def _with_display_field(filters: Filters, cards: Sequence[Scorecard]) -> Filters:
    if filters.field:
        return filters
    found = set(metadata_fields(cards))
    field = next((f for f in _DISPLAY_FIELDS if f in found), "")
    return replace(filters, field=field) if field else filters


def _headers(ctx: PageContext, filters: Filters, given: Filters) -> list[dict[str, str]]:
    """The column headers; a sortable one links to the list sorted by it (again: reversed)."""
    columns = [("conversation", "id"), ("field", "field")]
    if ctx.blind:  # nothing that tells the grade or its flags
        columns.append(("mine", ""))
    else:
        columns += [("total", "total"), ("flags", "fatal"), ("needs_review", "review")]
        columns += [("low_agreement", ""), ("pending", "pending"), ("reviewed", "")]
    headers = []
    for name, sort in columns:
        if name == "field":
            if not filters.field:
                continue
            label = f"metadata.{filters.field}"
        else:
            label = ctx.t(_COLUMNS[name])
        sorted_here = bool(sort) and filters.sort == sort
        descending = not filters.descending if sorted_here else False
        headers.append(
            {
                "label": label,
                "href": "/?" + (filters if sort == "field" else given).query(sort=sort, descending=descending)
                if sort
                else "",
                "sorted": ("descending" if filters.descending else "ascending") if sorted_here else "",
            }
        )
    return headers


def list_page(ctx: PageContext, query: Mapping[str, str]) -> str:
    """The queue: filters, exports and the conversations the filters keep."""
    given = Filters.from_query(query)
    if ctx.blind:
        given = blind_filters(given)
    filters = _with_display_field(given, ctx.batch.cards)
    shown = select(ctx.rows, filters)
    if ctx.blind:
        return _blind_list(ctx, filters, given, shown)
    # The field shown by default stays out of the links, unless the list is sorted by it.
    back = (filters if given.sort == "field" else given).query()
    rows = [
        {
            "id": r.conversation_id,
            "href": href(r.conversation_id, back),
            "field_value": r.value(filters.field) if filters.field else "",
            "total": total_text(r.card, ctx.language),
            "fatal": r.card.fatal,
            "zero": r.card.zero_score,
            "partial": r.partial,
            "needs_review": r.count("needs_review"),
            "low_agreement": r.count("low_agreement"),
            "pending": len(r.pending),
            "reviewed": len(r.reviewed & set(r.flagged)),
            "flagged": len(r.flagged),
            "overridden": len(r.overridden),
        }
        for r in shown
    ]
    flagged = sum(len(r.flagged) for r in ctx.rows)
    pending = sum(len(r.pending) for r in ctx.rows)
    summary = {
        "conversations": len(ctx.rows),
        "flagged": flagged,
        "reviewed": flagged - pending,
        "pending": pending,
        "verdicts": ctx.verdict_count,
    }
    return ctx.render(
        "list.html.j2",
        title=f"{ctx.t('review.list.heading')} — {ctx.batch.rubric.name}",
        rubric_name=ctx.batch.rubric.name,
        summary=summary,
        filters=filters,
        field=filters.field,
        items=[(i.id, i.name) for _, i in ctx.batch.rubric.items()],
        fields=metadata_fields(ctx.batch.cards),
        sorts=[(s, ctx.t(_SORT_NAMES[s])) for s in SORTS],
        low_agreement=ctx.low_agreement,
        headers=_headers(ctx, filters, given),
        rows=rows,
    )


def _blind_list(ctx: PageContext, filters: Filters, given: Filters, shown: list[ConversationRow]) -> str:
    """The queue in blind mode: no totals or flags, each conversation's labelling progress."""
    back = (filters if given.sort == "field" else given).query()
    counts = progress(ctx.batch, ctx.mine)
    rows = [
        {
            "id": r.conversation_id,
            "href": href(r.conversation_id, back),
            "field_value": r.value(filters.field) if filters.field else "",
            "mine": counts[r.conversation_id],
        }
        for r in shown
    ]
    done, wanted = (sum(c[k] for c in counts.values()) for k in (0, 1))
    return ctx.render(
        "list.html.j2",
        title=f"{ctx.t('review.list.heading')} — {ctx.batch.rubric.name}",
        rubric_name=ctx.batch.rubric.name,
        summary={"conversations": len(ctx.rows), "done": done, "wanted": wanted, "reviewer": ctx.reviewer},
        filters=filters,
        field=filters.field,
        fields=metadata_fields(ctx.batch.cards),
        sorts=[(s, ctx.t(_SORT_NAMES[s])) for s in SORTS if s in ("id", "field")],
        headers=_headers(ctx, filters, given),
        rows=rows,
    )


def _latest_view(
    ctx: PageContext, stored: StoredVerdict | None, labels: Mapping[str, str]
) -> dict[str, str] | None:
    if stored is None:
        return None
    v = stored.verdict
    tier = labels.get(v.tier or "", v.tier or "")
    key = _LATEST[(v.kind, v.decision)]
    by = ctx.t("review.latest.by", reviewer=v.reviewer, at=v.at) + (f" — {v.reason}" if v.reason else "")
    return {"decision": v.decision, "label": ctx.t(key, tier=tier), "text": by}


def _history(ctx: PageContext, entries: Sequence[StoredVerdict], labels: Mapping[str, str]) -> list[str]:
    lines = []
    for stored in reversed(entries):
        view = _latest_view(ctx, stored, labels)
        assert view is not None
        lines.append(f"{view['label']}{view['text']}")
    return lines


def _item_view(
    ctx: PageContext, card: Scorecard, result: ItemResult, history: Sequence[StoredVerdict], saved: str
) -> dict[str, Any]:
    item = ctx.batch.rubric.item(result.item_id)
    choices = tier_choices(item)
    labels = dict(choices)
    current = current_tier(result)
    tier_text = "—" if result.unscored else labels.get(current or "", result.tier_label or current or "—")
    agreement = result.audit.agreement
    return {
        "id": result.item_id,
        "name": result.name,
        "judge": result.judge,
        "hidden": False,
        "reasons": flag_reasons(card, result, low_agreement=ctx.low_agreement),
        "tier_text": tier_text,
        "points_text": f"{points_text(result.points)} / {points_text(result.max_points)}",
        "agreement": agreement if agreement is not None and not math.isnan(agreement) else None,
        "evidence": result.evidence,
        "flags": [(f.id, f.description) for f in item.flags if result.flags.get(f.id)],
        "rationale": result.rationale,
        "error": result.error,
        "choices": choices,
        "current": current,
        "can_accept": not result.unscored,
        "latest": _latest_view(ctx, history[-1] if history else None, labels),
        "history": _history(ctx, history, labels),
        "saved": saved == result.item_id,
    }


def _neighbours(ctx: PageContext, filters: Filters, conversation_id: str) -> tuple[str, str, str]:
    """Previous and next conversation in the filtered list, and 'n / total'."""
    ids = [r.conversation_id for r in select(ctx.rows, filters)]
    if conversation_id not in ids:
        return "", "", ""
    at = ids.index(conversation_id)
    query = filters.query()
    before = href(ids[at - 1], query) if at > 0 else ""
    after = href(ids[at + 1], query) if at + 1 < len(ids) else ""
    return before, after, f"{at + 1} / {len(ids)}"


def _reviewed_total(ctx: PageContext, card: Scorecard, verdicts: Mapping[str, ReviewVerdict]) -> str:
    """The total once the latest verdicts are applied ('' when there are none)."""
    if not verdicts:
        return ""
    try:
        return total_text(apply_verdicts(card, verdicts, ctx.batch.rubric), ctx.language)
    except LLMGraderError as exc:
        return str(exc)


def conversation_page(
    ctx: PageContext, conversation_id: str, query: Mapping[str, str], history: Sequence[StoredVerdict]
) -> str:
    """One conversation: the transcript with evidence highlighted, and a verdict form per item."""
    card = ctx.batch.card(conversation_id)
    filters = Filters.from_query(query)
    if ctx.blind:
        filters = blind_filters(filters)
    shown = ctx.reveal(card)
    before, after, position = _neighbours(ctx, filters, conversation_id)
    by_item: dict[str, list[StoredVerdict]] = {}
    for stored in history:
        by_item.setdefault(stored.item_id, []).append(stored)
    saved = str(query.get("saved", ""))
    reviewed = _reviewed_total(ctx, card, {s.item_id: s.verdict for s in history}) if shown.card else ""
    items = [
        _item_view(ctx, card, r, by_item.get(r.item_id, []), saved)
        if r.item_id in shown.items
        else hidden_item(ctx.batch.rubric.item(r.item_id), r)
        for r in card.items
    ]
    metadata = [(k, str(v)) for k, v in card.metadata.items() if isinstance(v, (str, int, float))]
    return ctx.render(
        "conversation.html.j2",
        title=f"{conversation_id} — {ctx.t('review.list.heading')}",
        card=card,
        card_hidden=not shown.card,
        total=total_text(card, ctx.language) if shown.card else "",
        reason_labels={reason: ctx.t(key) for reason, key in _REASONS.items()},
        reviewed_total=reviewed,
        partial=shown.card and next(r.partial for r in ctx.rows if r.conversation_id == conversation_id),
        metadata=metadata,
        turns=card_transcript(card, ctx.batch.conversations.get(card.conversation_id), only=shown.items),
        items=items,
        back_href="/?" + filters.query() if filters.query() else "/",
        back_query=filters.query(),
        prev_href=before,
        next_href=after,
        position=position,
        action="/verdict",
        csrf=ctx.csrf,
        reviewer=ctx.reviewer,
    )


def error_page(ctx: PageContext, title_key: str, message: str, back_href: str = "/") -> str:
    """A page saying what went wrong, with a way back."""
    return ctx.render("error.html.j2", title=ctx.t(title_key), message=message, back_href=back_href)
