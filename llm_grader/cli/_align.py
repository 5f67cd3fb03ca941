"""``llm-grader align``: examples from the graders' disagreements, proven on held-out human scores.

``align -r RUBRIC --human H --conversations C -o DIR`` runs :func:`llm_grader.alignment.align`
with the model options of ``calibrate``; ``align --history DIR`` prints the experiments
recorded in ``DIR/history.json``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from .._messages import text
from ..errors import LLMGraderError
from ._console import load_batch, out
from ._grading import (
    EXIT_FAILED,
    AllowInsecureOpt,
    BaseUrlOpt,
    CacheOpt,
    ConcurrencyOpt,
    EncodingOpt,
    FormatOpt,
    MaxPromptOpt,
    ModelOpt,
    ModeOpt,
    NoLogprobsOpt,
    ProviderOpt,
    RpmOpt,
    SamplesOpt,
    StrategyOpt,
    TemperatureOpt,
    load_options,
    make_grader,
)

if TYPE_CHECKING:
    from .._grader import Grader
    from ..alignment import AlignmentReport
    from ..calibration import ItemComparison
    from ..rubric import Rubric
    from ..types import ReviewVerdict

_VERDICT = {
    "better": "cli.align_verdict_better",
    "worse": "cli.align_verdict_worse",
    "not distinguishable": "cli.align_verdict_same",
    "undefined": "cli.align_verdict_undefined",
}


def align(
    rubric: Annotated[str | None, typer.Option("-r", "--rubric", help="The rubric (file or name).")] = None,
    human: Annotated[
        Path | None, typer.Option("--human", help="Human scores: CSV or JSONL, long format.")
    ] = None,
    conversations: Annotated[
        Path | None, typer.Option("--conversations", help="The conversations the humans scored.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Directory: split, candidate rubric, diff, report, history."),
    ] = None,
    verdicts: Annotated[
        Path | None,
        typer.Option("--verdicts", help="Review database: reviewers' verdicts count as adjudicated tiers."),
    ] = None,
    split: Annotated[
        Path | None,
        typer.Option("--split", help="Reuse this split file (default: DIR/split.json when it exists)."),
    ] = None,
    history: Annotated[
        Path | None, typer.Option("--history", help="Print the experiments recorded in this directory.")
    ] = None,
    item: Annotated[
        list[str] | None, typer.Option("--item", help="Propose examples for this item only; repeatable.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and the bootstrap.")] = 0,
    dev_share: Annotated[
        float,
        typer.Option("--dev-share", help="Share of the conversations used to tune (the rest is held out)."),
    ] = 0.5,
    max_examples: Annotated[
        int, typer.Option("--max-examples", min=1, help="Most examples added per item.")
    ] = 2,
    n_boot: Annotated[int, typer.Option("--bootstrap", help="Bootstrap draws for the intervals.")] = 1000,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    provider: ProviderOpt = None,
    mode: ModeOpt = None,
    concurrency: ConcurrencyOpt = 8,
    rpm: RpmOpt = None,
    samples: SamplesOpt = 1,
    temperature: TemperatureOpt = None,
    strategy: StrategyOpt = "item",
    cache_path: CacheOpt = None,
    encoding: EncodingOpt = None,
    file_format: FormatOpt = "auto",
    allow_insecure: AllowInsecureOpt = False,
    max_prompt_chars: MaxPromptOpt = None,
    no_logprobs: NoLogprobsOpt = False,
) -> None:
    """Propose examples from the graders' disagreements and measure the new rubric on held-out scores.

    The human-scored conversations are split (seeded, stratified) into a development and a
    held-out part. On the development part, the model's disagreements with adjudicated human
    tiers become examples in a candidate rubric (DIR/RUBRIC-vX.yaml, with a diff) and tier
    suggestions (printed, never applied). The held-out part is graded with both rubrics and
    compared with a paired bootstrap: "better" only when the interval is wholly above 0.
    """
    from ..alignment import align as run_align
    from ..rubric import load_rubric

    if history is not None:
        _print_history(history)
        return
    if rubric is None or human is None or conversations is None or output is None:
        raise LLMGraderError(text("cli.align_needs", "zh"))
    loaded = load_rubric(rubric)
    language = loaded.language
    batch = load_batch([conversations], encoding, language, **load_options(file_format, None, None, None))

    def graders(r: Rubric) -> Grader:
        return make_grader(
            r,
            model=model,
            base_url=base_url,
            provider=provider,
            mode=mode,
            concurrency=concurrency,
            rpm=rpm,
            samples=samples,
            temperature=temperature,
            strategy=strategy,
            cache_path=cache_path,
            no_model_message="cli.no_model_calibrate",
            allow_insecure=allow_insecure,
            max_prompt_chars=max_prompt_chars,
            no_logprobs=no_logprobs,
        )

    report = run_align(
        rubric,
        human,
        list(batch),
        output,
        graders=graders,
        verdicts=_verdicts(verdicts) if verdicts is not None else None,
        split=split,
        seed=seed,
        dev_share=dev_share,
        max_examples=max_examples,
        items=item or None,
        n_boot=n_boot,
    )
    _print_report(report, language)
    if report.failed_items:  # everything is written; the exit code says some grades are missing
        raise typer.Exit(EXIT_FAILED)


def _verdicts(path: Path) -> dict[tuple[str, str], ReviewVerdict]:
    """(conversation id, item id) → the latest verdict of a review database."""
    from ..review import VerdictStore

    if not path.is_file():
        raise LLMGraderError(f"review database {str(path)!r} does not exist")
    with VerdictStore(path) as store:
        return {key: stored.verdict for key, stored in store.latest().items()}


def _kappa(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.3f}"


def _interval(c: ItemComparison) -> str:
    low, high = c.interval.low, c.interval.high
    return "—" if math.isnan(low) else f"[{low:+.2f}, {high:+.2f}]"


def _print_report(report: AlignmentReport, language: str) -> None:
    """The split, the held-out table, the plain sentence, the files and the suggestions."""
    path = Path(report.split_file)
    out.print(
        text(
            "cli.align_split",
            language,
            dev=report.development,
            held=report.held_out,
            seed=report.seed,
            path=path,
        ),
        markup=False,
    )
    if report.candidate_version is not None:
        title = text(
            "cli.align_title",
            language,
            old=report.old_version,
            new=report.candidate_version,
            n=report.held_out,
        )
        table = Table(title=title)
        for column in ("cli.align_col_item", "cli.align_col_examples"):
            table.add_column(text(column, language))
        for column in ("κ A", "κ B", "B − A", "95%"):
            table.add_column(column)
        table.add_column(text("cli.align_col_verdict", language))
        rows = [*report.items, *([report.overall] if report.overall is not None else [])]
        for c in rows:
            added = report.examples_added.get(c.item_id, 0)
            table.add_row(
                c.item_id,
                str(added) if c.item_id != "overall" else str(sum(report.examples_added.values())),
                _kappa(c.kappa_a),
                _kappa(c.kappa_b),
                "—" if math.isnan(c.difference) else f"{c.difference:+.3f}",
                _interval(c),
                text(_VERDICT[c.verdict], language),
            )
        out.print(table)
    out.print(report.sentence, markup=False)
    for kind, file in (("rubric", report.candidate_file), ("diff", report.diff_file)):
        if file:
            out.print(text("cli.written", language, kind=kind, path=file), markup=False)
    suggestions = [s for p in report.proposals for s in p.suggestions]
    if suggestions:
        out.print(text("cli.align_suggestions", language), markup=False)
        for p in report.proposals:
            for s in p.suggestions:
                out.print(f"  [{p.item_id}] {s.text}", markup=False)


def _print_history(directory: Path) -> None:
    """One row per experiment recorded in ``DIR/history.json``."""
    from ..alignment import read_history
    from ..llm._prices import cost_text

    experiments = read_history(directory).experiments
    if not experiments:
        out.print(text("cli.align_history_empty", "zh", path=directory), markup=False)
        return
    table = Table(title=text("cli.align_history_title", "zh", path=directory))
    for column in (
        "at",
        "rubric",
        "A → B",
        "model",
        "dev/held",
        "κ A",
        "κ B",
        "B − A [95%]",
        "verdict",
        "calls",
    ):
        table.add_column(column)
    for e in experiments:
        o = e.overall
        table.add_row(
            e.at,
            e.rubric_id,
            f"{e.old_version} → {e.candidate_version or '—'}",
            e.model or "—",
            f"{e.development}/{e.held_out}",
            _kappa(o.kappa_a) if o else "—",
            _kappa(o.kappa_b) if o else "—",
            f"{o.difference:+.3f} {_interval(o)}" if o else "—",
            e.verdict,
            f"{e.usage.calls} ({e.usage.cached_calls} cached), {cost_text(e.usage)}",
        )
    out.print(table)
