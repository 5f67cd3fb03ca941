"""The calibration report: one :class:`CalibrationReport`, rendered as JSON, Markdown, HTML and PNG.

``write_report`` writes ``report.json``, ``report.md``, ``report.html`` (a single file:
tables, confusion-matrix heatmaps, the plots inlined, and the disagreements with their
evidence highlighted in the conversation) and ``plots/*.png``. Everything but the JSON is
written in the report's language (the rubric's), with the rubric's own tier labels.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._messages import text
from ._templating import render
from ._views import transcript
from .calibration._coverage import coverage_plot
from .types import NOT_APPLICABLE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .calibration import CalibrationReport, ItemAgreement
    from .conversation import Conversation

CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Arial Unicode MS",
)
"""Fonts the plots fall back to for Chinese (after DejaVu Sans), the first one installed wins."""


def _say(report: CalibrationReport) -> Callable[..., str]:
    """The report's messages: ``t(key, **values)`` in its language."""
    return lambda key, **values: text(key, report.language, **values)


def _labeller(report: CalibrationReport) -> Callable[[str, str | None], str]:
    """``label(item_id, value)``: a tier id as the rubric calls it; ``not_applicable`` and none translated."""
    by_item = {i.item_id: i.tier_labels for i in report.items}

    def label(item_id: str, value: str | None) -> str:
        if value is None:
            return text("report.cal.unscored", report.language)
        if value == NOT_APPLICABLE:
            return text("report.cal.not_applicable", report.language)
        return by_item.get(item_id, {}).get(value, value)

    return label


_VERDICTS = {
    "at_ceiling": "report.cal.v_at_ceiling",
    "below_ceiling": "report.cal.v_below_ceiling",
    "model_one_tier": "report.cal.v_model_one_tier",
    "humans_one_tier": "report.cal.v_humans_one_tier",
    "kappa_undefined": "report.cal.v_kappa_undefined",
    "no_pairs": "report.cal.v_no_pairs",
    "agrees": "report.cal.v_agrees",
    "weak": "report.cal.v_weak",
}
"""The message of each :attr:`~llm_grader.calibration.ItemAgreement.verdict`."""


def _figure(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


def verdicts(report: CalibrationReport) -> list[str]:
    """One verdict per item in plain words, in the report's language: what the figures say to do."""
    label = _labeller(report)
    listed: dict[str, int] = {}
    for d in report.disagreements:
        listed[d.item_id] = listed.get(d.item_id, 0) + 1
    lines = []
    for i in report.items:
        ceiling = i.human_human.kappa if i.human_human is not None else math.nan
        tier = i.one_tier
        lines.append(
            text(
                _VERDICTS[i.verdict],
                report.language,
                item=f"{i.item_id} {i.name}",
                kappa=_figure(i.model_human.kappa),
                ceiling=_figure(ceiling),
                exact=_figure(i.model_human.exact),
                n=i.model_human.n,
                listed=listed.get(i.item_id, 0),
                tier=label(i.item_id, tier) if tier is not None else "—",
            )
        )
    return lines


def _gap(report: CalibrationReport) -> Callable[[Any], str]:
    """A disagreement's gap as shown: tier steps, or "fatal mismatch" (never a number of tiers)."""
    fatal = text("report.cal.fatal_mismatch", report.language)
    return lambda d: fatal if d.item_id == "fatal" else str(d.distance)


def _context(report: CalibrationReport) -> dict[str, Any]:
    """What both renderings need besides the report."""
    return {
        "report": report,
        "verdicts": verdicts(report),
        "gap": _gap(report),
        "t": _say(report),
        "label": _labeller(report),
        "scales": {
            "ordinal": text("report.cal.ordinal", report.language),
            "binary": text("report.cal.binary", report.language),
        },
        "html_lang": "en" if report.language == "en" else "zh-CN",
    }


def to_json(report: CalibrationReport) -> str:
    """The report as JSON (NaN written as null)."""
    return report.model_dump_json(indent=2)


def to_markdown(report: CalibrationReport) -> str:
    """The report as Markdown, in its language."""
    return render("calibration.md.j2", **_context(report))


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
    t = _say(report)
    items = report.items
    for offset, key, colour, name in (
        (-0.15, "model_human", "#1f77b4", t("report.cal.plot_model_human")),
        (0.15, "human_human", "#ff7f0e", t("report.cal.plot_human_human")),
    ):
        values, lows, highs, pos = _kappa_series(items, key, offset)
        if values:
            ax.errorbar(values, pos, xerr=[lows, highs], fmt="o", color=colour, label=name, capsize=3)
    ax.set_yticks(range(len(items)), [i.item_id for i in items])
    ax.invert_yaxis()
    ax.axvline(0, color="#999", linewidth=0.8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(t("report.cal.plot_kappa_axis"))
    ax.legend(loc="lower left")
    ax.set_title(t("report.cal.plot_kappa_title", rubric=report.rubric_id, version=report.rubric_version))


def _confusion_plot(ax: Axes, report: CalibrationReport, item: ItemAgreement) -> None:
    t, label = _say(report), _labeller(report)
    ax.imshow(item.confusion, cmap="Blues")
    ax.set_title(item.item_id, fontsize=9)
    shown = [label(item.item_id, tier) for tier in item.labels]
    ax.set_xticks(range(len(shown)), shown, fontsize=7, rotation=30)
    ax.set_yticks(range(len(shown)), shown, fontsize=7)
    ax.set_xlabel(t("report.cal.plot_human"), fontsize=7)
    ax.set_ylabel(t("report.cal.plot_model"), fontsize=7)
    for r, row in enumerate(item.confusion):
        for c, count in enumerate(row):
            ax.text(c, r, str(count), ha="center", va="center", fontsize=7)


def _font_families() -> list[str]:
    """DejaVu Sans, then the installed fonts of :data:`CJK_FONTS` for the glyphs it lacks."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in CJK_FONTS if name in installed)]


def figures(report: CalibrationReport) -> dict[str, Figure]:
    """The plots as matplotlib figures, by file stem: ``kappa_by_item``, ``confusion_matrices``.

    Labels are in the report's language, tiers as the rubric calls them; Chinese text is drawn
    with the first of :data:`CJK_FONTS` installed. Close the figures when done.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = report.items
    if not items:
        return {}
    with plt.rc_context({"font.family": _font_families()}):
        kappa, ax = plt.subplots(figsize=(8, 0.5 * len(items) + 1.5))
        _kappa_plot(ax, report)
        kappa.tight_layout()
        cols = min(3, len(items))
        rows = math.ceil(len(items) / cols)
        confusion, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
        for ax, item in zip(axes.flat, items, strict=False):
            _confusion_plot(ax, report, item)
        for ax in list(axes.flat)[len(items) :]:
            ax.axis("off")
        confusion.tight_layout()
    return {"kappa_by_item": kappa, "confusion_matrices": confusion}


def plots(report: CalibrationReport, directory: str | Path) -> list[Path]:
    """PNG plots: kappa per item with intervals (model–human vs human–human), confusion matrices."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    found = figures(report)  # selects the Agg backend before pyplot is imported here
    import matplotlib.pyplot as plt

    paths = []
    for stem, figure in found.items():
        with plt.rc_context({"font.family": _font_families()}):
            figure.savefig(out / f"{stem}.png", dpi=110)
        plt.close(figure)
        paths.append(out / f"{stem}.png")
    with plt.rc_context({"font.family": _font_families()}):
        title = text("report.coverage.title", report.language, rubric=report.rubric_id)
        curve = coverage_plot(report.coverage, out / "coverage.png", title, report.language)
    return [*paths, *([curve] if curve else [])]


def _heat(item: ItemAgreement) -> list[list[tuple[int, float]]]:
    peak = max((v for row in item.confusion for v in row), default=0) or 1
    return [[(v, v / peak) for v in row] for row in item.confusion]


def to_html(
    report: CalibrationReport,
    *,
    conversations: Mapping[str, Conversation] | None = None,
    images: Sequence[Path] = (),
) -> str:
    """A single-file HTML page of the report (plots inlined as data URIs), in its language."""
    inlined = [(p.stem, base64.b64encode(p.read_bytes()).decode()) for p in images]
    disagreements = [
        {"d": d, "turns": transcript((conversations or {}).get(d.conversation_id), d.evidence)}
        for d in report.disagreements
    ]
    return render(
        "calibration.html.j2",
        **_context(report),
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
