"""The review pages as HTML: the queue and one conversation, rendered from jinja2 templates.

Every template is autoescaped (transcripts, rationales and metadata are untrusted input), and
every page carries a nonce for its one inline style and script (the server sends a CSP that
allows nothing else). The transcript is segmented by :mod:`llm_grader.report`'s helper, so
evidence is highlighted exactly as on the batch report page.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import LLMGraderError
from ..messages import text
from ..report import _transcript
from ..scoring import ItemResult, Scorecard
from ..types import ReviewVerdict
from .apply import apply_verdicts
from .batch import ReviewBatch, current_tier, tier_choices
from .queue import SORTS, ConversationRow, Filters, flag_reasons, metadata_fields, select
from .store import StoredVerdict

if TYPE_CHECKING:
    import jinja2

__all__ = ["PageContext", "conversation_page", "error_page", "href", "list_page"]

_DISPLAY_FIELDS = ("agent", "agent_id", "agent_name", "staff_id")


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("llm_grader", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


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

    @property
    def language(self) -> str:
        """The rubric's language, which the pages speak."""
        return self.batch.rubric.language

    def t(self, key: str, /, **values: Any) -> str:
        """A review message in the page's language."""
        return text(f"review.{key}", self.language, **values)

    def render(self, template: str, **values: Any) -> str:
        """Render a review template with the common values."""
        return (
            _environment()
            .get_template(f"review/{template}")
            .render(t=self.t, language=self.language, nonce=self.nonce, **values)
        )


def href(conversation_id: str, query: str = "") -> str:
    """The conversation page's path (the id quoted), with a query string."""
    return f"/c/{quote(conversation_id, safe='')}" + (f"?{query}" if query else "")


def _with_display_field(filters: Filters, cards: Sequence[Scorecard]) -> Filters:
    if filters.field:
        return filters
    found = set(metadata_fields(cards))
    field = next((f for f in _DISPLAY_FIELDS if f in found), "")
    return replace(filters, field=field) if field else filters


def _total(card: Scorecard) -> str:
    if card.total_score is None:
        return "—"
    return f"{round(card.total_score, 1):g} / {card.max_score:g}"


def _headers(ctx: PageContext, filters: Filters, given: Filters) -> list[dict[str, str]]:
    """The column headers; a sortable one links to the list sorted by it (again: reversed)."""
    columns = [("conversation", "id"), ("field", "field"), ("total", "total"), ("flags", "fatal")]
    columns += [("needs_review", "review"), ("low_agreement", ""), ("pending", "pending"), ("reviewed", "")]
    headers = []
    for name, sort in columns:
        if name == "field":
            if not filters.field:
                continue
            label = f"metadata.{filters.field}"
        else:
            label = ctx.t(f"col.{name}")
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
    filters = _with_display_field(given, ctx.batch.cards)
    shown = select(ctx.rows, filters)
    # The field shown by default stays out of the links, unless the list is sorted by it.
    back = (filters if given.sort == "field" else given).query()
    rows = [
        {
            "id": r.conversation_id,
            "href": href(r.conversation_id, back),
            "field_value": r.value(filters.field) if filters.field else "",
            "total": _total(r.card),
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
        title=f"{ctx.t('list.heading')} — {ctx.batch.rubric.name}",
        rubric_name=ctx.batch.rubric.name,
        summary=summary,
        filters=filters,
        field=filters.field,
        items=[(i.id, i.name) for _, i in ctx.batch.rubric.items()],
        fields=metadata_fields(ctx.batch.cards),
        sorts=[(s, ctx.t(f"sort.{s}")) for s in SORTS],
        low_agreement=ctx.low_agreement,
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
    key = {
        ("review", "accept"): "latest.accept",
        ("review", "override"): "latest.override",
        ("appeal", "accept"): "latest.appeal_rejected",
        ("appeal", "override"): "latest.appeal_upheld",
    }[(v.kind, v.decision)]
    by = ctx.t("latest.by", reviewer=v.reviewer, at=v.at) + (f" — {v.reason}" if v.reason else "")
    return {"decision": v.decision, "label": ctx.t(key, tier=tier), "text": by}


def _history(ctx: PageContext, entries: Sequence[StoredVerdict], labels: Mapping[str, str]) -> list[str]:
    lines = []
    for stored in reversed(entries):
        view = _latest_view(ctx, stored, labels)
        assert view is not None
        lines.append(f"{view['label']}{view['text']}")
    return lines


def _points(result: ItemResult) -> str:
    points = "—" if result.points is None else f"{round(result.points, 2):g}"
    return f"{points} / {result.max_points:g}"


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
        "reasons": flag_reasons(card, result, low_agreement=ctx.low_agreement),
        "tier_text": tier_text,
        "points_text": _points(result),
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


def _turns(ctx: PageContext, card: Scorecard) -> list[dict[str, Any]]:
    evidence = [e for i in card.items for e in i.evidence] + [e for o in card.overrides for e in o.evidence]
    turns = _transcript(ctx.batch.conversations.get(card.conversation_id), evidence)
    citing: dict[int, list[str]] = {}
    for result in card.items:
        for e in result.evidence:
            if e.verified and result.item_id not in citing.get(e.turn, []):
                citing.setdefault(e.turn, []).append(result.item_id)
    return [{**turn, "items": citing.get(turn["number"], [])} for turn in turns]


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
        return _total(apply_verdicts(card, verdicts, ctx.batch.rubric))
    except LLMGraderError as exc:
        return str(exc)


def conversation_page(
    ctx: PageContext, conversation_id: str, query: Mapping[str, str], history: Sequence[StoredVerdict]
) -> str:
    """One conversation: the transcript with evidence highlighted, and a verdict form per item."""
    card = ctx.batch.card(conversation_id)
    filters = Filters.from_query(query)
    before, after, position = _neighbours(ctx, filters, conversation_id)
    by_item: dict[str, list[StoredVerdict]] = {}
    for stored in history:
        by_item.setdefault(stored.item_id, []).append(stored)
    saved = str(query.get("saved", ""))
    reviewed = _reviewed_total(ctx, card, {s.item_id: s.verdict for s in history})
    items = [_item_view(ctx, card, r, by_item.get(r.item_id, []), saved) for r in card.items]
    metadata = [(k, str(v)) for k, v in card.metadata.items() if isinstance(v, (str, int, float))]
    return ctx.render(
        "conversation.html.j2",
        title=f"{conversation_id} — {ctx.t('list.heading')}",
        card=card,
        total=_total(card),
        reviewed_total=reviewed,
        partial=next(r.partial for r in ctx.rows if r.conversation_id == conversation_id),
        metadata=metadata,
        turns=_turns(ctx, card),
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
