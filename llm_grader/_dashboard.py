"""The QA lead's dashboard: one self-contained HTML page of a batch, by agent and team.

A sortable table of the groups (the ``by`` fields, e.g. agent and team) and, with two or
more fields, of the last field alone (the teams); a heat map of each item's failure rate
per group; a trend chart per team (inline SVG: the mean per period with its interval, and
the drift against the previous period); coaching evidence per agent
(:mod:`llm_grader._coaching`); and from every group a link to its conversations on the
results page (``results_href``, opened filtered to them). Figures come from
:func:`llm_grader._groups.summarise`; labels are in the rubric's language (the catalogs).
No external asset is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._coaching import CoachingRow, coaching_rows
from ._groups import GroupStats, Period, parse_fields, summarise, welch
from ._messages import text
from ._templating import render
from ._views import points_text
from .errors import InputError

if TYPE_CHECKING:
    from .conversation import Conversation
    from .scoring import Scorecard

_PERIOD_NAMES: dict[str, str] = {
    "day": "report.dash.day",
    "week": "report.dash.week",
    "month": "report.dash.month",
}

QUOTES_SHOWN = 3
"""Quotes shown per agent and item on the page (the CSV has all)."""


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def _interval(low: float | None, high: float | None, pct: bool = False) -> str:
    if low is None or high is None:
        return ""
    shown = _pct if pct else points_text
    return f"[{shown(low)}, {shown(high)}]"


def _row(g: GroupStats, names: Mapping[str, str], results_href: str | None, language: str) -> dict[str, Any]:
    return {
        "key": g.key,
        "n": g.conversations,
        "counts": f"{g.complete} / {g.partial} / {g.undetermined}",
        "mean": points_text(g.mean),
        "mean_sort": "" if g.mean is None else f"{g.mean:.4f}",
        "mean_ci": _interval(g.mean_low, g.mean_high),
        "rank": g.rank,
        "rank_note": text("report.dash.too_few", language) if g.rank is None else "",
        "rank_title": g.rank_note or "",
        "fatal": f"{g.fatal} · {_pct(g.fatal_rate)}",
        "fatal_sort": g.fatal_rate or 0.0,
        "fatal_ci": _interval(g.fatal_low, g.fatal_high, pct=True),
        "zero": f"{g.zero_score} · {_pct(g.zero_rate)}",
        "zero_sort": g.zero_rate or 0.0,
        "zero_ci": _interval(g.zero_low, g.zero_high, pct=True),
        "losses": [names.get(i, i) for i in g.top_losses],
        "href": f"{results_href}#ids={','.join(g.conversation_ids)}" if results_href else None,
    }


def _heat(groups: Sequence[GroupStats], item_ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for g in groups:
        stats = {i.item_id: i for i in g.items}
        cells = []
        for item_id in item_ids:
            found = stats.get(item_id)
            rate = None if found is None else found.failure_rate
            # White at 0 %, deep red at 100 % (lightness 97 → 45).
            colour = "#f4f4f4" if rate is None else f"hsl(0, 75%, {97 - 52 * rate:.0f}%)"
            lost = "" if found is None or found.mean_lost is None else points_text(found.mean_lost)
            cells.append(
                {"rate": _pct(rate), "colour": colour, "dark": rate is not None and rate > 0.6, "lost": lost}
            )
        rows.append({"key": g.key, "cells": cells})
    return rows


def _chart(periods: Sequence[GroupStats], top: float) -> dict[str, Any]:
    """An SVG line chart of the mean per period with its interval (coordinates precomputed)."""
    width, height, left, bottom = 560, 200, 40, 30
    step = (width - left - 20) / max(1, len(periods) - 1)

    def y(v: float) -> float:
        return round(10 + (height - bottom - 10) * (1 - v / top), 1) if top else 0.0

    points = []
    for n, g in enumerate(periods):
        x = round(left + n * step, 1)
        points.append(
            {
                "x": x,
                "y": None if g.mean is None else y(g.mean),
                "low": None if g.mean_low is None else y(g.mean_low),
                "high": None if g.mean_high is None else y(g.mean_high),
                "label": g.period,
                "mean": points_text(g.mean),
            }
        )
    line = " ".join(f"{p['x']},{p['y']}" for p in points if p["y"] is not None)
    ticks = [{"y": y(v), "label": points_text(v)} for v in (0, top / 2, top)]
    return {"width": width, "height": height, "left": left, "points": points, "line": line, "ticks": ticks}


def _drift(g: GroupStats, language: str) -> dict[str, Any]:
    change = ""
    if g.drift is not None:
        sign = "+" if g.drift > 0 else ""
        change = f"{sign}{points_text(g.drift)} {_interval(g.drift_low, g.drift_high)}"
    verdict = ""
    if g.drift_excludes_zero is not None:
        key = "report.dash.drift_real" if g.drift_excludes_zero else "report.dash.drift_noise"
        verdict = text(key, language)
    return {
        "period": g.period,
        "n": g.conversations,
        "mean": points_text(g.mean),
        "ci": _interval(g.mean_low, g.mean_high),
        "change": change,
        "verdict": verdict,
        "up": g.drift_excludes_zero and (g.drift or 0) > 0,
        "down": g.drift_excludes_zero and (g.drift or 0) < 0,
    }


def _span(periods: Sequence[GroupStats], language: str) -> str:
    """The change from the first period to the last, with its Welch interval, in words ("" without)."""
    change = welch(periods[0].totals, periods[-1].totals, 0.95) if len(periods) > 1 else None
    if change is None:
        return ""
    diff, low, high = change
    key = "report.dash.drift_real" if low > 0 or high < 0 else "report.dash.drift_noise"
    return text(
        "report.dash.span",
        language,
        first=periods[0].period,
        last=periods[-1].period,
        change=("+" if diff > 0 else "") + points_text(diff),
        interval=_interval(low, high),
        verdict=text(key, language),
    )


def _coaching(rows: Sequence[CoachingRow]) -> list[dict[str, Any]]:
    agents: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        items = agents.setdefault((row.agent, row.team), {})
        entry = items.setdefault(
            row.item_id, {"name": row.item, "lost": [], "examples": [], "conversations": set()}
        )
        if row.kind == "lost":
            entry["conversations"].add(row.conversation_id)
            entry["lost"].append(row)
        else:
            entry["examples"].append(row)
    return [
        {
            "agent": agent,
            "team": team,
            "items": [
                {**e, "count": len(e["conversations"]), "lost": e["lost"][:QUOTES_SHOWN]}
                for e in items.values()
            ],
        }
        for (agent, team), items in agents.items()
    ]


def dashboard_html(
    cards: Sequence[Scorecard],
    by: str | Sequence[str] = "metadata.agent_id",
    *,
    period: Period | None = None,
    conversations: Mapping[str, Conversation] | None = None,
    results_href: str | None = None,
    title: str | None = None,
    language: str = "zh",
    rank_width: float | None = None,
) -> str:
    """The dashboard page of ``cards`` grouped by ``by`` (see the module docstring).

    The trend charts are per ``period`` (``week`` when not given and every card has a start
    time; without start times and no ``period``, the page says a trend needs them).
    """
    fields = parse_fields(by)
    groups = summarise(cards, fields, conversations=conversations, rank_width=rank_width)
    teams = (
        summarise(cards, fields[-1:], conversations=conversations, rank_width=rank_width)
        if len(fields) > 1
        else []
    )
    trend_period: Period = period or "week"
    try:
        trend = summarise(cards, fields[-1:], period=trend_period, conversations=conversations)
    except InputError:
        if period is not None:
            raise
        trend = []
    sections = []
    for rubric in dict.fromkeys(g.rubric for g in groups):
        members = [g for g in groups if g.rubric == rubric]
        names = {i.item_id: i.name for g in members for i in g.items}
        item_ids = list(names)
        top = max(g.max_score for g in members)
        charts = []
        for team in dict.fromkeys(g.key for g in trend if g.rubric == rubric):
            periods = [g for g in trend if g.rubric == rubric and g.key == team]
            rows = [_drift(g, language) for g in periods]
            charts.append(
                {"team": team, "chart": _chart(periods, top), "rows": rows, "span": _span(periods, language)}
            )
        sections.append(
            {
                "rubric": rubric,
                "groups": [_row(g, names, results_href, language) for g in members],
                "teams": [_row(g, names, results_href, language) for g in teams if g.rubric == rubric],
                "items": [{"id": i, "name": names[i]} for i in item_ids],
                "heat": _heat(members, item_ids),
                "charts": charts,
            }
        )
    return render(
        "dashboard.html.j2",
        t=lambda key, **values: text(key, language, **values),
        html_lang="en" if language == "en" else "zh-CN",
        title=title or text("report.dash.title", language),
        fields=fields,
        team_field=fields[-1],
        period_name=text(_PERIOD_NAMES[trend_period], language),
        has_trend=bool(trend),
        conversations=len(cards),
        sections=sections,
        coaching=_coaching(coaching_rows(cards, fields)),
        results_href=results_href,
    )
