"""Scorecards by group (agent, team, …) and by period, with intervals: what a QA lead reads.

:func:`summarise` is pure Python (the dashboard uses it); :func:`group_summary` returns the
same figures as a pandas DataFrame (pandas is the ``pandas`` extra, imported when called).

Per group (the values of the ``by`` fields, e.g. ``metadata.agent_id``):

- **conversations**, and how many scorecards are **complete**, **undetermined** (a fatal or
  zero-score override is still pending) and otherwise **partial** (an item unscored);
- the **mean total of the complete scorecards** with a Student-t interval (clipped to
  0 … the maximum score);
- **fatal** and **zero-score** counts and rates (over the cards where the override is
  decided) with Wilson score intervals;
- per item: the **failure rate** (share of the graded results below the item's top points —
  any occurrence for a deduction item) and the **mean points lost**; the items that lose most;
- a **rank** by mean, given only to groups whose interval is narrow enough
  (half-width ≤ ``rank_width``, default 5 % of the maximum score) — any other group says why
  (``n too small``) instead of being ranked.

With ``period`` (``day``, ``week`` — ISO weeks, Monday first — or ``month``) each group is
split by the conversation's start: the card's ``metadata.started_at``, else
``metadata.date`` (ISO-8601 date or datetime), else the ``started_at`` of the conversation
when ``conversations`` are given. Each period row carries the **drift** against the group's
previous period: the difference of means with a Welch interval, and whether it excludes 0.

Rubric versions are never pooled: the rubric (``id vVERSION``) is part of every group's key,
and ranks and drift compare groups of the same rubric version only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from .errors import InputError, LLMGraderError

if TYPE_CHECKING:
    from .conversation import Conversation
    from .scoring import Scorecard

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
MISSING = "—"
"""The group value of a card that lacks the field."""


@dataclass(frozen=True)
class ItemStats:
    """One item within a group."""

    item_id: str
    name: str
    graded: int
    """Results with points (not N/A, not unscored)."""
    failed: int
    """Graded results below the item's top points."""
    failure_rate: float | None
    mean_lost: float | None
    """Mean points lost per graded result."""


@dataclass(frozen=True)
class GroupStats:
    """The figures of one group (in one period, with ``period``)."""

    key: tuple[str, ...]
    """The values of the ``by`` fields."""
    rubric: str
    period: str | None
    conversations: int
    complete: int
    partial: int
    undetermined: int
    max_score: float
    mean: float | None
    mean_low: float | None
    mean_high: float | None
    fatal: int
    fatal_rate: float | None
    fatal_low: float | None
    fatal_high: float | None
    zero_score: int
    zero_rate: float | None
    zero_low: float | None
    zero_high: float | None
    items: tuple[ItemStats, ...]
    top_losses: tuple[str, ...]
    """Up to three item ids losing the most points on average (only those losing any)."""
    conversation_ids: tuple[str, ...]
    totals: tuple[float, ...] = ()
    """The totals of the complete scorecards (what the mean and the drift are of)."""
    rank: int | None = None
    """1 = best mean among the rankable groups of the rubric (None: not ranked)."""
    rank_note: str | None = None
    """Why the group is not ranked (``n too small: …``)."""
    drift: float | None = None
    drift_low: float | None = None
    drift_high: float | None = None
    drift_excludes_zero: bool | None = None

    @property
    def half_width(self) -> float | None:
        """Half the mean's interval (None without one)."""
        if self.mean_low is None or self.mean_high is None:
            return None
        return (self.mean_high - self.mean_low) / 2


def parse_fields(by: str | Sequence[str]) -> tuple[str, ...]:
    """``"metadata.agent_id,metadata.team"`` (or a list) as field paths; an empty one fails."""
    fields = tuple(f.strip() for part in ([by] if isinstance(by, str) else by) for f in part.split(","))
    if not fields or any(not f for f in fields):
        shown = ",".join(fields)
        raise LLMGraderError(f"--by {shown!r}: name fields like metadata.agent_id, comma-separated")
    return fields


def field_value(card: Scorecard, path: str) -> str:
    """A card's value of ``metadata.x`` (or a top-level field such as ``model``), ``—`` when absent."""
    head, _, rest = path.partition(".")
    value: Any = card.metadata if head == "metadata" else getattr(card, head, None)
    for part in rest.split(".") if head == "metadata" and rest else ():
        value = value.get(part) if isinstance(value, Mapping) else None
    if head == "metadata" and not rest:
        value = None
    return MISSING if value is None or value == "" else str(value)


def card_date(card: Scorecard, conversations: Mapping[str, Conversation] | None = None) -> date:
    """When the card's conversation started (see the module's docstring for the fields read)."""
    for name in ("started_at", "date"):
        raw = card.metadata.get(name)
        if raw is None or raw == "":
            continue
        try:
            return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).date()
        except ValueError:
            raise InputError.at(
                card.conversation_id, None, f"metadata.{name}", f"{raw!r} is not an ISO-8601 date or datetime"
            ) from None
    found = (conversations or {}).get(card.conversation_id)
    if found is not None and found.started_at is not None:
        return found.started_at.date()
    raise InputError.at(
        card.conversation_id,
        None,
        "metadata.started_at",
        "no start time: a period needs metadata.started_at or metadata.date on the scorecard, "
        "or the conversations (--conversations) with timestamps",
    )


def period_label(day: date, period: Period) -> str:
    """``2024-05-01`` (day), ``2024-W18`` (ISO week) or ``2024-05`` (month)."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise LLMGraderError(f"--period {period!r}: use day, week or month")


def _t(confidence: float, df: float) -> float:
    from scipy.stats import t  # type: ignore[import-untyped]

    return float(t.ppf(0.5 + confidence / 2, df))


Estimate = tuple[float | None, float | None, float | None]
"""A value with its interval (each None when there is none)."""


def mean_interval(values: Sequence[float], confidence: float) -> Estimate:
    """Mean and Student-t interval (no interval under two values; a zero spread gives a point)."""
    if not values:
        return None, None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = _t(confidence, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def wilson(k: int, n: int, confidence: float) -> Estimate:
    """Rate ``k/n`` with its Wilson score interval (None for n = 0)."""
    if n == 0:
        return None, None, None
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, 0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half)


def welch(a: Sequence[float], b: Sequence[float], confidence: float) -> tuple[float, float, float] | None:
    """Difference of means ``mean(b) − mean(a)`` with a Welch interval (None under two values each)."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(b) - statistics.fmean(a)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = _t(confidence, df) * se
    return diff, diff - half, diff + half


def _items(cards: Sequence[Scorecard]) -> tuple[ItemStats, ...]:
    graded: dict[str, list[float]] = {}
    names: dict[str, str] = {}
    for card in cards:
        for result in card.items:
            names.setdefault(result.item_id, result.name)
            if result.points is not None and not result.not_applicable and result.error is None:
                graded.setdefault(result.item_id, []).append(max(0.0, result.max_points - result.points))
            else:
                graded.setdefault(result.item_id, [])
    out = []
    for item_id, lost in graded.items():
        failed = sum(x > 1e-9 for x in lost)
        out.append(
            ItemStats(
                item_id,
                names[item_id],
                len(lost),
                failed,
                failed / len(lost) if lost else None,
                statistics.fmean(lost) if lost else None,
            )
        )
    return tuple(out)


def _group(
    key: tuple[str, ...], rubric: str, period: str | None, cards: Sequence[Scorecard], confidence: float
) -> GroupStats:
    totals = [c.total_score for c in cards if c.complete and c.total_score is not None]
    undetermined = sum(not c.complete and (c.fatal is None or c.zero_score is None) for c in cards)
    complete = sum(c.complete for c in cards)
    top = max(c.max_score for c in cards)
    mean, low, high = mean_interval(totals, confidence)
    if low is not None and high is not None:  # a total lies in [0, max]: so does its interval
        low, high = max(0.0, low), min(top, high)
    fatal_known = [c.fatal for c in cards if c.fatal is not None]
    zero_known = [c.zero_score for c in cards if c.zero_score is not None]
    fatal_rate, fatal_low, fatal_high = wilson(sum(fatal_known), len(fatal_known), confidence)
    zero_rate, zero_low, zero_high = wilson(sum(zero_known), len(zero_known), confidence)
    items = _items(cards)
    losing = sorted((i for i in items if i.mean_lost), key=lambda i: -(i.mean_lost or 0.0))
    return GroupStats(
        key=key,
        rubric=rubric,
        period=period,
        conversations=len(cards),
        complete=complete,
        partial=len(cards) - complete - undetermined,
        undetermined=undetermined,
        max_score=top,
        mean=mean,
        mean_low=low,
        mean_high=high,
        fatal=sum(fatal_known),
        fatal_rate=fatal_rate,
        fatal_low=fatal_low,
        fatal_high=fatal_high,
        zero_score=sum(zero_known),
        zero_rate=zero_rate,
        zero_low=zero_low,
        zero_high=zero_high,
        items=items,
        top_losses=tuple(i.item_id for i in losing[:3]),
        conversation_ids=tuple(c.conversation_id for c in cards),
        totals=tuple(totals),
    )


def _ranked(groups: list[GroupStats], rank_width: float | None) -> list[GroupStats]:
    """Rank the groups of each rubric whose interval is narrow enough; the others say why not."""
    from dataclasses import replace

    out: dict[int, GroupStats] = {}
    for rubric in dict.fromkeys(g.rubric for g in groups):
        members = [(n, g) for n, g in enumerate(groups) if g.rubric == rubric]
        rankable = []
        for n, g in members:
            width = rank_width if rank_width is not None else 0.05 * g.max_score
            half = g.half_width
            if half is None or half > width:
                shown = "no interval" if half is None else f"±{half:.1f}"
                note = f"n too small: {g.complete} complete, {shown} wider than ±{width:g} points"
                out[n] = replace(g, rank_note=note)
            else:
                rankable.append((n, g))
        for rank, (n, g) in enumerate(sorted(rankable, key=lambda ng: -(ng[1].mean or 0.0)), start=1):
            out[n] = replace(g, rank=rank)
    return [out[n] for n in range(len(groups))]


def _with_drift(groups: list[GroupStats], confidence: float) -> list[GroupStats]:
    from dataclasses import replace

    last: dict[tuple[str, tuple[str, ...]], int] = {}
    out = []
    for n, g in enumerate(groups):
        before = last.get((g.rubric, g.key))
        last[(g.rubric, g.key)] = n
        change = None if before is None else welch(groups[before].totals, g.totals, confidence)
        if change is None:
            out.append(g)
            continue
        diff, low, high = change
        excludes = low > 0 or high < 0
        out.append(replace(g, drift=diff, drift_low=low, drift_high=high, drift_excludes_zero=excludes))
    return out


def summarise(
    cards: Iterable[Scorecard],
    by: str | Sequence[str],
    *,
    period: Period | None = None,
    conversations: Mapping[str, Conversation] | None = None,
    confidence: float = 0.95,
    rank_width: float | None = None,
) -> list[GroupStats]:
    """The figures per group (and per period), in key order (periods in time order).

    Without ``period`` the groups are ranked (see the module docstring); with it, each row
    has its drift against the group's previous period instead.
    """
    from ._views import id_order

    fields = parse_fields(by)
    if period is not None and period not in PERIODS:
        raise LLMGraderError(f"--period {period!r}: use day, week or month")
    buckets: dict[tuple[str, tuple[str, ...], str], list[Scorecard]] = {}
    for card in cards:
        key = tuple(field_value(card, f) for f in fields)
        when = "" if period is None else period_label(card_date(card, conversations), period)
        buckets.setdefault((f"{card.rubric_id} v{card.rubric_version}", key, when), []).append(card)
    order = sorted(buckets, key=lambda k: (k[0], [id_order(v) for v in k[1]], k[2]))
    groups = [_group(k[1], k[0], k[2] or None, buckets[k], confidence) for k in order]
    if period is None:
        return _ranked(groups, rank_width)
    return _with_drift(groups, confidence)


_COLUMNS = (
    *("conversations", "complete", "partial", "undetermined", "mean", "mean_low", "mean_high"),
    *("fatal", "fatal_rate", "fatal_low", "fatal_high", "zero_score", "zero_rate", "zero_low", "zero_high"),
)
_DRIFT = ("drift", "drift_low", "drift_high", "drift_excludes_zero")


def _row(fields: Sequence[str], g: GroupStats) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(fields, g.key, strict=True))
    row["rubric"] = g.rubric
    if g.period is not None:
        row["period"] = g.period
    row.update({name: getattr(g, name) for name in _COLUMNS})
    if g.period is None:
        row["rank"], row["rank_note"] = g.rank, g.rank_note
    else:
        row.update({name: getattr(g, name) for name in _DRIFT})
    row["top_losses"] = ", ".join(g.top_losses)
    for item in g.items:
        row[f"failure_rate.{item.item_id}"] = item.failure_rate
        row[f"points_lost.{item.item_id}"] = item.mean_lost
    return row


def group_summary(
    cards: Iterable[Scorecard],
    by: str | Sequence[str] = "metadata.agent_id",
    period: Period | None = None,
    *,
    conversations: Mapping[str, Conversation] | None = None,
    confidence: float = 0.95,
    rank_width: float | None = None,
) -> Any:
    """:func:`summarise` as a pandas DataFrame, one row per group (and period).

    Columns: the ``by`` fields, ``rubric``, ``period`` (with ``period``), ``conversations``,
    ``complete``, ``partial``, ``undetermined``, ``mean`` / ``mean_low`` / ``mean_high``,
    ``fatal`` / ``fatal_rate`` / ``fatal_low`` / ``fatal_high``, the same for ``zero_``,
    ``rank`` and ``rank_note`` (without period) or ``drift`` / ``drift_low`` / ``drift_high`` /
    ``drift_excludes_zero`` (with period), ``top_losses``, and per item
    ``failure_rate.<item>`` and ``points_lost.<item>``. Needs pandas
    (``pip install "llm-grader[pandas]"``).
    """
    from ._export import require

    pandas = require("pandas", "pandas")
    fields = parse_fields(by)
    stats = summarise(
        cards,
        fields,
        period=period,
        conversations=conversations,
        confidence=confidence,
        rank_width=rank_width,
    )
    return pandas.DataFrame([_row(fields, g) for g in stats])
