"""Reports: one calibration report object, several renderings; and a batch results page.

``write_report`` writes ``report.json``, ``report.md``, ``report.html`` (a single file:
tables, confusion-matrix heatmaps, the plots inlined, and the disagreements with their
evidence highlighted in the conversation) and ``plots/*.png``. ``results_html`` renders a
batch of scorecards for a QA lead: each conversation's items, tiers, points, overrides and
evidence quotes highlighted in the transcript.
"""

from __future__ import annotations

import base64
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from matplotlib.axes import Axes

    from .calibration import CalibrationReport, ItemAgreement
    from .conversation import Conversation
    from .scoring import ItemResult, Scorecard
    from .types import Evidence, Usage

__all__ = ["plots", "results_html", "to_html", "to_json", "to_markdown", "write_report"]


_PAGE_LANGUAGE = "en"  # the results page's labels; rubric terms stay as written


def _fmt(value: float | None, digits: int = 3) -> str:
    """A statistic to ``digits`` decimals; never ``-0.0`` (a value that rounds to zero has no sign)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    shown = f"{value:.{digits}f}"
    return shown[1:] if shown.startswith("-") and float(shown) == 0 else shown


def _points(value: float | None) -> str:
    """Points as written: ≤ 2 decimals, no trailing zeros (``1.5``, ``94.44``), ``−2``, never ``-0``."""
    if value is None or math.isnan(value):
        return "—"
    shown = f"{abs(value):.2f}".rstrip("0").rstrip(".")
    return shown if shown == "0" or value > 0 else f"−{shown}"


def _ci(item: Any) -> str:
    ci = getattr(item, "kappa_ci", None)
    if ci is None or math.isnan(ci.low):
        return "—"
    return f"[{ci.low:.2f}, {ci.high:.2f}]"


@functools.cache
def _environment() -> jinja2.Environment:
    """The templates in ``llm_grader/templates`` (jinja2 is imported on first render)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("llm_grader", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _fmt
    env.filters["ci"] = _ci
    return env


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def to_json(report: CalibrationReport) -> str:
    """The report as JSON (NaN written as null)."""
    return report.model_dump_json(indent=2)


def to_markdown(report: CalibrationReport) -> str:
    """The report as Markdown."""
    return _render("calibration.md.j2", report=report)


def _kappa_series(items: Sequence[ItemAgreement], key: str, offset: float) -> tuple[list[float], ...]:
    """Kappas, lower and upper error-bar lengths and y positions of one rater pair, per item."""
    values: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    pos: list[float] = []
    for y, item in enumerate(items):
        agreement = getattr(item, key)
        if agreement is None or math.isnan(agreement.kappa):
            continue
        ci = agreement.kappa_ci
        low = agreement.kappa - ci.low if ci and not math.isnan(ci.low) else 0.0
        high = ci.high - agreement.kappa if ci and not math.isnan(ci.high) else 0.0
        values.append(agreement.kappa)
        lows.append(max(low, 0.0))
        highs.append(max(high, 0.0))
        pos.append(y + offset)
    return values, lows, highs, pos


def _kappa_plot(ax: Axes, report: CalibrationReport) -> None:
    items = report.items
    for offset, key, colour, name in (
        (-0.15, "model_human", "#1f77b4", "model vs human"),
        (0.15, "human_human", "#ff7f0e", "human vs human"),
    ):
        values, lows, highs, pos = _kappa_series(items, key, offset)
        if values:
            ax.errorbar(values, pos, xerr=[lows, highs], fmt="o", color=colour, label=name, capsize=3)
    ax.set_yticks(range(len(items)), [i.item_id for i in items])
    ax.invert_yaxis()
    ax.axvline(0, color="#999", linewidth=0.8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Cohen's kappa (quadratic for ordinal items), 95% bootstrap interval")
    ax.legend(loc="lower left")
    ax.set_title(f"{report.rubric_id} v{report.rubric_version}: agreement per item")


def _confusion_plot(ax: Axes, item: ItemAgreement) -> None:
    ax.imshow(item.confusion, cmap="Blues")
    ax.set_title(item.item_id, fontsize=9)
    short = [label.replace("not_applicable", "n/a") for label in item.labels]
    ax.set_xticks(range(len(short)), short, fontsize=7, rotation=30)
    ax.set_yticks(range(len(short)), short, fontsize=7)
    ax.set_xlabel("human", fontsize=7)
    ax.set_ylabel("model", fontsize=7)
    for r, row in enumerate(item.confusion):
        for c, count in enumerate(row):
            ax.text(c, r, str(count), ha="center", va="center", fontsize=7)


def plots(report: CalibrationReport, directory: str | Path) -> list[Path]:
    """PNG plots: kappa per item with intervals (model–human vs human–human), confusion matrices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .calibration.coverage import coverage_plot

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    items = report.items
    if not items:
        return []
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(items) + 1.5))
    _kappa_plot(ax, report)
    fig.tight_layout()
    kappa_path = out / "kappa_by_item.png"
    fig.savefig(kappa_path, dpi=110)
    plt.close(fig)
    cols = min(3, len(items))
    rows = math.ceil(len(items) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
    for ax, item in zip(axes.flat, items, strict=False):
        _confusion_plot(ax, item)
    for ax in list(axes.flat)[len(items) :]:
        ax.axis("off")
    fig.tight_layout()
    confusion_path = out / "confusion_matrices.png"
    fig.savefig(confusion_path, dpi=110)
    plt.close(fig)
    curve = coverage_plot(report.coverage, out / "coverage.png", f"{report.rubric_id}: coverage vs agreement")
    return [kappa_path, confusion_path, *([curve] if curve else [])]


@dataclass(frozen=True)
class _Segment:
    text: str
    mark: bool


def _segments(text: str, spans: Iterable[tuple[int, int]]) -> list[_Segment]:
    """Split a turn's text into plain and highlighted pieces (overlapping spans merged)."""
    merged: list[list[int]] = []
    for start, end in sorted(s for s in spans if 0 <= s[0] < s[1] <= len(text)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        if start > at:
            out.append(_Segment(text[at:start], False))
        out.append(_Segment(text[start:end], True))
        at = end
    if at < len(text):
        out.append(_Segment(text[at:], False))
    return out


def _transcript(conversation: Conversation | None, evidence: Sequence[Evidence]) -> list[dict[str, Any]]:
    if conversation is None:
        return []
    spans: dict[int, list[tuple[int, int]]] = {}
    for e in evidence:
        if e.verified:
            spans.setdefault(e.turn, []).append((e.start_char, e.end_char))
    return [
        {
            "number": n,
            "speaker": t.speaker,
            "segments": _segments(t.text, spans.get(n, ())),
            "cited": n in spans,
        }
        for n, t in enumerate(conversation.turns, start=1)
    ]


def _heat(item: ItemAgreement) -> list[list[tuple[int, float]]]:
    peak = max((v for row in item.confusion for v in row), default=0) or 1
    return [[(v, v / peak) for v in row] for row in item.confusion]


def to_html(
    report: CalibrationReport,
    *,
    conversations: Mapping[str, Conversation] | None = None,
    images: Sequence[Path] = (),
) -> str:
    """A single-file HTML page of the report (plots inlined as data URIs)."""
    inlined = [(p.stem, base64.b64encode(p.read_bytes()).decode()) for p in images]
    disagreements = [
        {"d": d, "turns": _transcript((conversations or {}).get(d.conversation_id), d.evidence)}
        for d in report.disagreements
    ]
    return _render(
        "calibration.html.j2",
        report=report,
        heat={i.item_id: _heat(i) for i in report.items},
        images=inlined,
        disagreements=disagreements,
    )


def write_report(
    report: CalibrationReport,
    directory: str | Path,
    *,
    conversations: Mapping[str, Conversation] | None = None,
) -> dict[str, Path]:
    """Write report.json, report.md, report.html and plots/*.png into ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    images = plots(report, out / "plots")
    files = {"json": out / "report.json", "markdown": out / "report.md", "html": out / "report.html"}
    files["json"].write_text(to_json(report) + "\n", encoding="utf-8")
    files["markdown"].write_text(to_markdown(report), encoding="utf-8")
    files["html"].write_text(to_html(report, conversations=conversations, images=images), encoding="utf-8")
    for image in images:
        files[image.stem] = image
    return files


def _id_key(conversation_id: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a conversation id: runs of digits compare as numbers (``c2`` before ``c10``)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", conversation_id) if p)


def _say(key: str, **values: object) -> str:
    """A label of the results page (its labels are English; rubric terms stay as written)."""
    from .messages import text

    return text(key, _PAGE_LANGUAGE, **values)


def _total_text(card: Scorecard) -> str:
    """The total as shown: ``87.5 / 100``, or ``partial 45–95 / 100`` — never a bare partial number."""
    maximum = _points(card.max_score)
    if card.complete:
        return _say("report.total", score=_points(card.total_score), points=maximum)
    if card.total_min is None or card.total_max is None:
        return _say("report.partial_unknown", points=maximum)
    return _say("report.partial", low=_points(card.total_min), high=_points(card.total_max), points=maximum)


def _sort_total(card: Scorecard) -> float | None:
    """What sorting by total uses: the total, or for a partial scorecard the lowest it can still be."""
    return card.total_score if card.complete else card.total_min


def _verdict(card: Scorecard, kind: str) -> dict[str, Any]:
    """Whether a fatal (or zero-score) override fired: yes, no, or undetermined with the blocking items."""
    state: bool | None = card.fatal if kind == "fatal" else card.zero_score
    blocking = list(dict.fromkeys(i for p in card.pending_overrides if p.kind == kind for i in p.blocking))
    label = _say("report.yes" if state else "report.no" if state is False else "report.undetermined")
    if state is None and blocking:
        label += f" ({_say('report.blocked_by', items=', '.join(blocking))})"
    return {"state": state, "name": _say(f"report.{kind}"), "text": label, "blocking": blocking}


def _is_deduction(item: ItemResult) -> bool:
    """Whether the item takes points off (it has no tiers and adds nothing)."""
    return item.tier is None and (item.deduction is not None or item.max_points == 0)


def _tier_text(item: ItemResult) -> str:
    if item.error:
        return _say("report.unscored")
    if item.not_applicable:
        return "N/A"
    if not _is_deduction(item):
        return item.tier_label or item.tier or "—"
    found = item.occurrences or []
    if not found:
        return _say("report.none")
    shown = _say("report.occurrences", n=len(found), times="occurrence" if len(found) == 1 else "occurrences")
    severe = sum(o.severe for o in found)
    return shown + (f" ({_say('report.severe', n=severe)})" if severe else "")


def _points_text(item: ItemResult) -> str:
    if not _is_deduction(item):
        return f"{_points(item.points)} / {_points(item.max_points)}"
    shown = _points(item.points)
    if item.deduction is not None and item.points is not None and _points(-item.deduction) != shown:
        shown += f" ({_say('report.before_limit', points=_points(-item.deduction))})"
    return shown


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
        if i.needs_review
    ]


def _entry(card: Scorecard, conversations: Mapping[str, Conversation]) -> dict[str, Any]:
    """What the page shows of one scorecard, numbers already written out."""
    evidence = [e for i in card.items for e in i.evidence] + [e for o in card.overrides for e in o.evidence]
    fatal, zero = _verdict(card, "fatal"), _verdict(card, "zero_score")
    alarm = 2 if fatal["state"] or zero["state"] else 1 if None in (fatal["state"], zero["state"]) else 0
    return {
        "card": card,
        "total": _total_text(card),
        "sort_total": "" if (low := _sort_total(card)) is None else repr(low + 0.0),
        "alarm": alarm,
        "verdicts": [fatal, zero],
        "items": [{"result": i, "tier": _tier_text(i), "points": _points_text(i)} for i in card.items],
        "ungraded": _say("report.ungraded_points", points=_points(card.unscored_points)),
        "masked": _say("report.masked", counts=", ".join(f"{k} {n}" for k, n in card.masked.items())),
        "turns": _transcript(conversations.get(card.conversation_id), evidence),
        "review": sum(1 for i in card.items if i.needs_review),
        "cost": _cost(card.usage),
        "search": " ".join([card.conversation_id, *map(str, card.metadata.values())]).lower(),
    }


def _summary(cards: Sequence[Scorecard], review: int) -> dict[str, Any]:
    """The page's summary line: the mean over complete scorecards only, saying how many were left out."""
    totals = [c.total_score for c in cards if c.complete and c.total_score is not None]
    partial = sum(not c.complete for c in cards)
    plural = "scorecard" if len(totals) == 1 else "scorecards"
    mean = (
        _say("report.mean", mean=_points(sum(totals) / len(totals)), n=len(totals), scorecards=plural)
        if totals
        else _say("report.mean_none")
    )
    if partial:
        mean += _say("report.left_out", n=partial)
    counts = {}
    for kind in ("fatal", "zero_score"):
        states = [c.fatal if kind == "fatal" else c.zero_score for c in cards]
        undetermined = sum(s is None for s in states)
        counts[kind] = f"{sum(s is True for s in states)}" + (
            f" ({undetermined} {_say('report.undetermined')})" if undetermined else ""
        )
    from .types import Usage

    usage = sum((c.usage for c in cards), Usage())
    return {"conversations": len(cards), "mean": mean, "review": review, "cost": _cost(usage), **counts}


def _cost(usage: Usage) -> str:
    """The estimated cost of the model calls (unknown, with the unpriced calls, when any), or ""."""
    from .model.prices import cost_text

    return cost_text(usage) if usage.calls or usage.cached_calls else ""


def results_html(
    cards: Sequence[Scorecard],
    *,
    conversations: Mapping[str, Conversation] | None = None,
    title: str = "llm-grader results",
) -> str:
    """A page for a batch: each conversation's items, tiers, points, overrides and evidence.

    Conversations are in id order; the page sorts and filters them in the browser and
    downloads the items that need review as CSV. A partial scorecard's total is shown as the
    range it can still take, and sorting by total uses the lowest total it can still be.
    """
    ordered = sorted(cards, key=lambda c: _id_key(c.conversation_id))
    entries = [_entry(card, conversations or {}) for card in ordered]
    summary = _summary(ordered, sum(e["review"] for e in entries))
    review = [row for c in ordered for row in _review_rows(c)]
    return _render("results.html.j2", entries=entries, summary=summary, title=title, review=review)
