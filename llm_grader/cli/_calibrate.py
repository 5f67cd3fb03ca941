"""``llm-grader calibrate | report | rescore``: work on scorecards already graded (or about to be).

``calibrate`` measures agreement with human scores and writes the report, ``report`` writes
the HTML page of a batch, ``rescore`` recomputes scorecards under a changed rubric. The
calibration statistics (numpy) and the report renderers (jinja2, matplotlib) are imported
by the command that uses them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.table import Table

from .._messages import text
from ..errors import LLMGraderError, RescoreError
from ._console import err, load_batch, out, summary_table
from ._grading import (
    AllowInsecureOpt,
    BaseUrlOpt,
    CacheOpt,
    ChannelMapOpt,
    ChannelOpt,
    ConcurrencyOpt,
    EncodingOpt,
    FormatOpt,
    MaxPromptOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    NoMaskOpt,
    ProviderOpt,
    RpmOpt,
    RubricOpt,
    SamplesOpt,
    SheetOpt,
    StrategyOpt,
    TemperatureOpt,
    TimeUnitOpt,
    load_options,
    make_grader,
    run_batch,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..calibration import CalibrationReport
    from ..rubric import Rubric
    from ..scoring import Scorecard
    from ..types import ReviewVerdict


def calibrate(
    rubric: RubricOpt,
    human: Annotated[Path, typer.Option("--human", help="Human scores: CSV or JSONL, long format.")],
    conversations: Annotated[
        Path, typer.Option("--conversations", help="The conversations the humans scored.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Report directory.")],
    results: Annotated[
        Path | None,
        typer.Option("--results", help="Scorecards JSONL: reused when it exists, else written by grading."),
    ] = None,
    n_boot: Annotated[int, typer.Option("--bootstrap", help="Bootstrap draws for the intervals.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    provider: ProviderOpt = None,
    mode: ModeOpt = None,
    concurrency: ConcurrencyOpt = 8,
    rpm: RpmOpt = None,
    samples: SamplesOpt = 1,
    temperature: TemperatureOpt = None,
    strategy: StrategyOpt = "item",
    no_cache: NoCacheOpt = False,
    cache_path: CacheOpt = None,
    no_mask: NoMaskOpt = False,
    encoding: EncodingOpt = None,
    file_format: FormatOpt = "auto",
    channel_map: ChannelMapOpt = None,
    time_unit: TimeUnitOpt = None,
    sheet: SheetOpt = None,
    channel: ChannelOpt = None,
    allow_insecure: AllowInsecureOpt = False,
    max_prompt_chars: MaxPromptOpt = None,
    min_kappa: Annotated[
        float | None,
        typer.Option(
            "--min-kappa",
            help="Exit 5 when the mean model–human kappa over the items is below this (NaN fails).",
        ),
    ] = None,
    min_kappa_item: Annotated[
        list[str] | None,
        typer.Option(
            "--min-kappa-item",
            help="ID=X: exit 5 when that item's model–human kappa is below X (NaN fails); repeatable.",
        ),
    ] = None,
) -> None:
    """Grade (or reuse results), measure agreement with the human scores, write the report.

    With ``--min-kappa`` / ``--min-kappa-item`` it exits with code 5, naming the items, when
    agreement is below the minimum (after the report is written).
    """
    from .._results import load_results
    from ..calibration import calibrate as run_calibration
    from ..calibration import load_human_scores
    from ..report import write_report
    from ..rubric import load_rubric

    loaded = load_rubric(rubric)
    language = loaded.language
    gates = _item_gates(min_kappa_item or [], language)
    if min_kappa is not None and not -1.0 <= min_kappa <= 1.0:
        _usage_error(f"--min-kappa {min_kappa}: a kappa threshold is between -1 and 1", language)
    humans = load_human_scores(human)
    options = load_options(file_format, channel_map, time_unit, channel, sheet)
    batch = load_batch([conversations], encoding, language, **options)
    status = 1 if batch.errors else 0
    if results is not None and results.exists():
        cards = load_results(results)
        out.print(text("cli.reusing", language, n=len(cards), path=results), markup=False)
    else:
        grader = make_grader(
            loaded,
            model=model,
            base_url=base_url,
            provider=provider,
            mode=mode,
            concurrency=concurrency,
            rpm=rpm,
            samples=samples,
            temperature=temperature,
            strategy=strategy,
            no_cache=no_cache,
            cache_path=cache_path,
            no_mask=no_mask,
            rules_only=False,
            no_model_message="cli.no_model_calibrate",
            allow_insecure=allow_insecure,
            max_prompt_chars=max_prompt_chars,
        )
        # --results names a file to create; the report folder's own copy is replaced on a re-run.
        target = results or output / "scorecards.jsonl"
        run = run_batch(grader, batch, target, resume=False, overwrite=results is None)
        cards, status = run.cards, run.exit_code
    calibration = run_calibration(loaded, cards, humans, n_boot=n_boot, seed=seed)
    files = write_report(calibration, output, conversations={c.id: c for c in batch})
    out.print(_agreement_table(calibration, language))
    if calibration.blind_labels:
        used = ", ".join(f"{item} {n}" for item, n in sorted(calibration.blind_labels.items()))
        out.print(text("report.cal.blind", language, n=calibration.blind_total, items=used), markup=False)
    for kind, path in files.items():
        out.print(text("cli.written", language, kind=kind, path=path), markup=False)
    if min_kappa is not None or gates:
        _gate(calibration, min_kappa, gates, language)
    if status:  # the report is written; the exit code still says conversations were skipped or failed
        raise typer.Exit(status)


EXIT_GATE = 5
"""``calibrate --min-kappa``: model–human agreement below the minimum (the report is written)."""


EXIT_USAGE = 2
"""Bad command-line usage: an option's value is malformed (as click's own usage errors)."""


def _usage_error(message: str, language: str) -> NoReturn:
    """Print ``error: message`` and exit with :data:`EXIT_USAGE` (a bad option value is bad usage)."""
    err.print(text("cli.error", language, message=message), markup=False)
    raise typer.Exit(EXIT_USAGE)


def _item_gates(values: list[str], language: str) -> dict[str, float]:
    """``--min-kappa-item ID=X`` values as a mapping, each threshold a number in [-1, 1]."""
    gates: dict[str, float] = {}
    for value in values:
        item_id, sep, threshold = value.partition("=")
        try:
            number = float(threshold)
        except ValueError:
            number = float("nan")
        if not sep or not item_id.strip() or not -1.0 <= number <= 1.0:
            _usage_error(text("gate.bad_item", language, value=value), language)
        gates[item_id.strip()] = number
    return gates


def _gate(
    calibration: CalibrationReport, overall: float | None, items: dict[str, float], language: str
) -> None:
    """Print the gates' outcome; exit with :data:`EXIT_GATE` naming what failed."""
    from ..calibration import agreement_failures, overall_kappa

    failures = agreement_failures(calibration, overall=overall, items=items)
    if failures:
        err.print(text("gate.failed", language, n=len(failures)), markup=False)
        for line in failures:
            err.print(f"  {line}", markup=False)
        raise typer.Exit(EXIT_GATE)
    checks = [f"overall {overall_kappa(calibration):.3f} ≥ {overall:.3f}"] if overall is not None else []
    checks += [f"{i} ≥ {t:.3f}" for i, t in items.items()]
    out.print(text("gate.passed", language, checks="; ".join(checks)), markup=False)


_AGREEMENT_COLUMNS = (
    "report.cal.col_item",
    "n",
    "report.cal.col_exact",
    "report.cal.col_kappa_mh",
    "report.cal.col_ci",
    "report.cal.col_kappa_hh",
    "report.cal.col_unscored",
)
"""The agreement table's columns: the calibration report's own headings."""


def _agreement_table(calibration: CalibrationReport, language: str) -> Table:
    """Model–human and human–human agreement per item."""
    table = Table(title=text("cli.agreement_title", language, n=calibration.conversations))
    for column in _AGREEMENT_COLUMNS:
        table.add_column("n" if column == "n" else text(column, language))
    for i in calibration.items:
        ci = i.model_human.kappa_ci
        hh = i.human_human.kappa if i.human_human else float("nan")
        table.add_row(
            i.item_id,
            str(i.model_human.n),
            f"{i.model_human.exact:.2f}",
            f"{i.model_human.kappa:.3f}",
            "—" if ci is None or ci.low != ci.low else f"[{ci.low:.2f}, {ci.high:.2f}]",
            f"{hh:.3f}",
            str(i.unscored),
        )
    return table


def _read_cards(results: Path, language: str) -> list[Scorecard]:
    """The scorecards of an existing results file (an error when there is none)."""
    from .._results import load_results

    if not results.is_file():
        raise LLMGraderError(text("cli.no_results", language, path=str(results)))
    return load_results(results)


def report(
    results: Annotated[Path, typer.Argument(help="Scorecards JSONL.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML page to write.")] = Path(
        "report.html"
    ),
    conversations: Annotated[
        list[Path] | None,
        typer.Option(
            "--conversations", help="The conversations, to show evidence highlighted in the transcript."
        ),
    ] = None,
    encoding: EncodingOpt = None,
    rubric: Annotated[
        str | None,
        typer.Option(
            "-r",
            "--rubric",
            help="The rubric (file or name): the page's language. Default: the results' own.",
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Group the results (comma-separated fields, e.g. metadata.agent_id,metadata.team): "
            "write the dashboard page, and the results page beside it as PAGE.results.html.",
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="With --by: trend per day, week or month (default week)."),
    ] = None,
    coaching: Annotated[
        Path | None,
        typer.Option("--coaching", help="With --by: write the coaching evidence as CSV."),
    ] = None,
) -> None:
    """Write a single-file HTML page of a batch of scorecards for a QA lead.

    With ``--by``, the page is the dashboard of the groups (agents, teams: intervals,
    ranks, a failure heat map, trends, coaching evidence), linked to the results page
    written beside it. The page speaks the rubric's language: the rubric given with ``-r``,
    else the built-in rubric the scorecards name, else Chinese.
    """
    from ..report import results_html
    from ._dashboard import write_dashboard

    cards = _read_cards(results, "zh")
    language = _page_language(cards, rubric)
    if by is None and (period is not None or coaching is not None):
        raise typer.BadParameter(text("cli.needs_by", language), param_hint="--period / --coaching")
    if period is not None and period not in ("day", "week", "month"):
        raise typer.BadParameter(text("cli.bad_period", language, period=period), param_hint="--period")
    found = {}
    if conversations:
        found = {c.id: c for c in load_batch(conversations, encoding, language)}
    title = f"llm-grader — {results.name}"
    page_path = output if by is None else output.with_name(output.stem + ".results.html")
    page = results_html(cards, conversations=found, title=title, language=language)
    if by is not None:
        write_dashboard(cards, by, period, found, output, page_path, coaching, title, language)
    page_path.write_text(page, encoding="utf-8")
    out.print(text("cli.page_written", language, n=len(cards), path=page_path), markup=False)


def _page_language(cards: list[Scorecard], rubric: str | None) -> str:
    """The language of the rubric given, or of the one built-in rubric the cards name ("zh" without)."""
    from ..errors import NotFoundError
    from ..rubric import load_rubric

    if rubric is not None:
        return load_rubric(rubric).language
    ids = {c.rubric_id for c in cards}
    if len(ids) != 1:
        return "zh"
    try:
        return load_rubric(ids.pop()).language
    except NotFoundError:
        return "zh"


def rescore(
    results: Annotated[Path, typer.Argument(help="Scorecards JSONL from an earlier grade.")],
    rubric: Annotated[str, typer.Option("-r", "--rubric", help="The changed rubric (file or name).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Default: RESULTS with .rescored.jsonl.")
    ] = None,
    verdicts: Annotated[
        Path | None,
        typer.Option("--verdicts", help="Review database: apply the reviewers' latest verdicts (复核/申诉)."),
    ] = None,
) -> None:
    """Recompute scorecards from stored answers under a changed rubric, with no model call.

    With ``--verdicts``, the reviewers' latest verdict per item is applied first (recorded in
    each item's ``audit.review``), so the output is the final, reviewed scorecards.
    """
    from .._results import ResultsWriter
    from ..rubric import load_rubric
    from ..scoring import rescore as rescore_card

    loaded = load_rubric(rubric)
    language = loaded.language
    cards = _read_cards(results, language)
    reviewed = _latest_verdicts(verdicts) if verdicts is not None else {}
    changed: dict[str, None] = {}
    new_cards = []
    for card in cards:
        try:
            new_cards.append(_rescored(card, loaded, reviewed.get(card.conversation_id), rescore_card))
        except RescoreError as exc:
            if not exc.items:  # not an item change: e.g. graded with another rubric
                raise
            changed.update(dict.fromkeys(exc.items))
    if changed:
        raise LLMGraderError(text("cli.cannot_rescore", language, rubric=rubric, items=", ".join(changed)))
    target = output or results.with_name(results.stem + ".rescored.jsonl")
    writer = ResultsWriter(target, overwrite=True)  # a derived file: a re-run replaces it
    for card in new_cards:
        writer.write(card)
    writer.close()
    out.print(summary_table(new_cards, language))
    moved = sum(1 for a, b in zip(cards, new_cards, strict=True) if a.total_score != b.total_score)
    out.print(text("cli.rescored", language, n=len(new_cards), changed=moved, path=target), markup=False)


def _latest_verdicts(path: Path) -> dict[str, dict[str, ReviewVerdict]]:
    """Conversation id → item id → the latest verdict, from a review database."""
    from ..review import VerdictStore

    if not path.is_file():
        raise LLMGraderError(f"review database {str(path)!r} does not exist")
    out: dict[str, dict[str, ReviewVerdict]] = {}
    with VerdictStore(path) as store:
        for (conversation_id, item_id), stored in store.latest().items():
            out.setdefault(conversation_id, {})[item_id] = stored.verdict
    return out


def _rescored(
    card: Scorecard,
    rubric: Rubric,
    verdicts: dict[str, ReviewVerdict] | None,
    rescore_card: Callable[[Scorecard, Rubric], Scorecard],
) -> Scorecard:
    if not verdicts:
        return rescore_card(card, rubric)
    from ..review import ReviewError, apply_verdicts

    try:
        return apply_verdicts(card, verdicts, rubric)
    except ReviewError as exc:
        raise LLMGraderError(str(exc)) from None
