"""The results page: a single-file HTML page of a batch of scorecards for a QA lead.

Each conversation's items, tiers, points, overrides and evidence quotes highlighted in the
transcript, with sorting, filtering and a CSV download of the items that need review. The
page's labels are in the rubric's language; totals, tiers and points are written by
:mod:`llm_grader._views`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._messages import catalog, text
from ._templating import render
from ._views import (
    card_transcript,
    for_review,
    id_order,
    item_points_text,
    override_state,
    points_text,
    sort_total,
    tier_text,
    total_text,
)

if TYPE_CHECKING:
    from .conversation import Conversation
    from .scoring import Scorecard
    from .types import Usage


def _review_rows(card: Scorecard) -> list[dict[str, Any]]:
    """The items of a card that need review, as rows of the page's CSV export."""
    return [
        {
            "conversation_id": card.conversation_id,
            "item_id": i.item_id,
            "item": i.name,
            "tier": "not_applicable" if i.not_applicable else i.tier or "",
            "points": None if i.points is None else i.points + 0.0,  # + 0.0: no -0.0 in the sheet
            "reason": i.error or i.rationale,
        }
        for i in card.items
        if for_review(i)
    ]


def _entry(card: Scorecard, conversations: Mapping[str, Conversation], language: str) -> dict[str, Any]:
    """What the page shows of one scorecard, numbers already written out."""
    fatal, zero = override_state(card, "fatal", language), override_state(card, "zero_score", language)
    alarm = 2 if fatal.state or zero.state else 1 if None in (fatal.state, zero.state) else 0
    return {
        "card": card,
        "total": total_text(card, language),
        "sort_total": "" if (low := sort_total(card)) is None else repr(low + 0.0),
        "alarm": alarm,
        "verdicts": [fatal, zero],
        "items": [
            {
                "result": i,
                "tier": tier_text(i, language),
                "points": item_points_text(i, language),
                "review": for_review(i),
            }
            for i in card.items
        ],
        "ungraded": text("report.ungraded_points", language, points=points_text(card.unscored_points)),
        "masked": text(
            "report.masked", language, counts=", ".join(f"{k} {n}" for k, n in card.masked.items())
        ),
        "turns": card_transcript(card, conversations.get(card.conversation_id)),
        "review": sum(1 for i in card.items if for_review(i)),  # not the items left to a model by design
        "cost": _cost(card.usage),
        "search": " ".join([card.conversation_id, *map(str, card.metadata.values())]).lower(),
    }


def _summary(cards: Sequence[Scorecard], review: int, language: str) -> dict[str, Any]:
    """The page's summary line: the mean over complete scorecards only, saying how many were left out."""
    totals = [c.total_score for c in cards if c.complete and c.total_score is not None]
    partial = sum(not c.complete for c in cards)
    plural = "scorecard" if len(totals) == 1 else "scorecards"
    mean = (
        text(
            "report.mean",
            language,
            mean=points_text(sum(totals) / len(totals)),
            n=len(totals),
            scorecards=plural,
        )
        if totals
        else text("report.mean_none", language)
    )
    if partial:
        mean += text("report.left_out", language, n=partial)
    counts = {}
    for kind in ("fatal", "zero_score"):
        states = [c.fatal if kind == "fatal" else c.zero_score for c in cards]
        undetermined = sum(s is None for s in states)
        counts[kind] = f"{sum(s is True for s in states)}" + (
            f" ({undetermined} {text('report.undetermined', language)})" if undetermined else ""
        )
    from .types import Usage

    usage = sum((c.usage for c in cards), Usage())
    return {"conversations": len(cards), "mean": mean, "review": review, "cost": _cost(usage), **counts}


def _cost(usage: Usage) -> str:
    """The estimated cost of the model calls (unknown, with the unpriced calls, when any), or ""."""
    from .llm._prices import cost_text

    return cost_text(usage) if usage.calls or usage.cached_calls else ""


def results_html(
    cards: Sequence[Scorecard],
    *,
    conversations: Mapping[str, Conversation] | None = None,
    title: str | None = None,
    language: str = "en",
) -> str:
    """A page for a batch: each conversation's items, tiers, points, overrides and evidence.

    Conversations are in id order; the page sorts and filters them in the browser and
    downloads the items that need review as CSV. A partial scorecard's total is shown as the
    range it can still take, and sorting by total uses the lowest total it can still be.
    ``language`` (``zh`` or ``en``, the rubric's) is the language of the page's labels;
    rubric terms stay as written. ``title`` defaults to ``llm-grader results`` in it.
    """
    ordered = sorted(cards, key=lambda c: id_order(c.conversation_id))
    entries = [_entry(card, conversations or {}, language) for card in ordered]
    summary = _summary(ordered, sum(e["review"] for e in entries), language)
    review = [row for c in ordered for row in _review_rows(c)]
    return render(
        "results.html.j2",
        t=lambda key, **values: text(key, language, **values),
        html_lang="en" if language == "en" else "zh-CN",
        shown_template=catalog(language)["report.page.shown"],
        entries=entries,
        summary=summary,
        title=title or text("report.page.title", language),
        review=review,
    )
