"""The ``llm-grader`` command line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .calibration import CalibrationReport, load_human_scores
from .calibration import calibrate as run_calibration
from .errors import InputError, LLMGraderError, RescoreError
from .grader import DEFAULT_CACHE, Grader, ResultsWriter, read_results
from .llm import ModelSettings
from .prompting import response_model
from .report import results_html, write_report
from .rubric import Item, Rubric, load_rubric, rubric_json_schema
from .rubric_check import check_rubric
from .rules import judge_rule
from .scoring import ItemResult, Scorecard
from .types import Usage
from .scoring import rescore as rescore_card
from .transcript import Conversations, load_conversations

__all__ = ["app", "main"]

app = typer.Typer(
    name="llm-grader",
    help="Grade customer-service conversations against a QA scorecard (客服质检).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
rubric_app = typer.Typer(help="Check and show rubrics.", no_args_is_help=True)
app.add_typer(rubric_app, name="rubric")

# Piped output keeps whole lines rather than rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


def _version(value: bool) -> None:
    if value:
        out.print(f"llm-grader {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Grade customer-service conversations against a QA scorecard."""


# --------------------------------------------------------------------------- rubric


@rubric_app.command("check")
def rubric_check(
    rubric: Annotated[str, typer.Argument(help="Rubric file (.yaml) or built-in name.")],
) -> None:
    """Lint a rubric: every problem as file:line: field: message; exit 1 on errors."""
    loaded, problems = check_rubric(rubric)
    for problem in problems:
        (err if problem.severity == "error" else out).print(str(problem), markup=False)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors or loaded is None:
        err.print(f"{rubric}: {errors} error(s), {warnings} warning(s)", markup=False)
        raise typer.Exit(1)
    items = sum(1 for _ in loaded.items())
    out.print(
        f"{rubric}: OK — {loaded.name} v{loaded.version}, {len(loaded.categories)} categories, "
        f"{items} items, {loaded.max_score:g} points ({warnings} warning(s))",
        markup=False,
    )


def _tiers(item: Item) -> str:
    if item.deduction is not None:
        d = item.deduction
        text = f"−{d.points:g}/次"
        if d.severe_multiplier != 1:
            text += f", 严重×{d.severe_multiplier:g}"
        if d.cap is not None:
            text += f", 上限{d.cap:g}"
        if d.applies_to:
            text += f", 扣自 {'/'.join(d.applies_to)}"
        return text
    return " / ".join(f"{t.display} {item.tier_points(t):g}" for t in item.tiers)


def _show_item(rubric: Rubric, item: Item) -> None:
    out.print(f"[bold]{item.name}[/bold] ({item.id}) — judge: {item.judge}, max {item.max_points:g}")
    if item.description:
        out.print(f"  {item.description}", markup=False)
    for tier in item.tiers:
        out.print(
            f"  • {tier.display} ({tier.id}) {item.tier_points(tier):g}: {tier.description}", markup=False
        )
    if item.deduction is not None:
        out.print(f"  deduction: {_tiers(item)}", markup=False)
    for note in item.notes:
        out.print(f"  备注/note: {note}", markup=False)
    for flag in item.flags:
        out.print(f"  flag {flag.id}: {flag.description}", markup=False)
    if item.not_applicable:
        out.print(
            f"  not applicable when: {item.not_applicable.when} (policy: {item.not_applicable.policy})",
            markup=False,
        )
    if item.applicability:
        a = item.applicability
        out.print(
            f"  applies to: channels={','.join(a.channels or ['all'])} "
            f"requires={','.join(a.requires) or '-'} (otherwise {a.policy})",
            markup=False,
        )
    if item.rule is not None:
        out.print(f"  rule: {item.rule.model_dump_json(exclude_defaults=True)}", markup=False)


def _show_prompt(rubric: Rubric, item: Item, path: Path, conversation_id: str | None, *, mask: bool) -> None:
    batch = load_conversations(path, strict=True)
    chosen = next((c for c in batch if conversation_id in (None, c.id)), None)
    if chosen is None:
        ids = ", ".join(c.id for c in batch)
        raise LLMGraderError(f"no conversation {conversation_id!r} in {str(path)!r}; ids: {ids}")
    if item.judge == "rule":
        out.print(
            f"item {item.id!r} is judged by a rule, not a prompt: {judge_rule(item, chosen).rationale}",
            markup=False,
        )
        return
    grader = Grader(rubric, mask_pii=mask)
    for message in grader.messages(item, chosen):
        out.rule(f"{message['role']}")
        out.print(message["content"], markup=False, end="", soft_wrap=True)
    out.rule("response schema")
    schema = response_model(item, language=rubric.language).model_json_schema()
    out.print(json.dumps(schema, ensure_ascii=False, indent=2), markup=False, soft_wrap=True)


@rubric_app.command("show")
def rubric_show(
    rubric: Annotated[str, typer.Argument(help="Rubric file (.yaml) or built-in name.")],
    item: Annotated[str | None, typer.Option("--item", help="Show one item in full.")] = None,
    conversation: Annotated[
        Path | None,
        typer.Option("--conversation", help="With --item: the exact messages and response schema sent."),
    ] = None,
    conversation_id: Annotated[
        str | None, typer.Option("--id", help="Which conversation of the file (default: the first).")
    ] = None,
    no_mask: Annotated[bool, typer.Option("--no-mask", help="Show personal numbers unmasked.")] = False,
) -> None:
    """Print a rubric readably; with --item and --conversation, the compiled prompt."""
    loaded = load_rubric(rubric)
    if conversation is not None and item is None:
        raise LLMGraderError("--conversation needs --item: prompts are compiled one item at a time")
    if item is not None:
        chosen = loaded.item(item)
        if conversation is None:
            _show_item(loaded, chosen)
            return
        _show_prompt(loaded, chosen, conversation, conversation_id, mask=not no_mask)
        return
    out.print(
        f"[bold]{loaded.name}[/bold] ({loaded.id} v{loaded.version}, {loaded.language}) — "
        f"max {loaded.max_score:g}"
    )
    if loaded.description:
        out.print(loaded.description, markup=False)
    table = Table(show_lines=False)
    for column in ("category", "item", "id", "judge", "max", "tiers / deduction"):
        table.add_column(column)
    for category in loaded.categories:
        header = f"{category.name} ({category.maximum:g})"
        if category.base_score is not None:
            header += f" base {category.base_score:g}"
        for n, it in enumerate(category.items):
            table.add_row(
                header if n == 0 else "", it.name, it.id, it.judge, f"{it.max_points:g}", _tiers(it)
            )
    out.print(table)
    for override in loaded.overrides:
        when = " and ".join(
            f"{c.item}.{c.flag}"
            if c.flag
            else f"{c.item} in {c.tier}"
            if c.tier
            else f"{c.item} ≥ {c.min_occurrences}"
            for c in override.when
        )
        cap = f" (cap {override.cap:g})" if override.cap is not None else ""
        out.print(
            f"override [bold]{override.kind}[/bold]{cap} {override.id}: when {when} — {override.reason}"
        )


@rubric_app.command("schema")
def rubric_schema(
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write here.")] = None,  # noqa: UP045
) -> None:
    """Print (or write) the JSON Schema of the rubric format, for editors."""
    schema = rubric_json_schema()
    if output is None:
        sys.stdout.write(schema)
    else:
        output.write_text(schema, encoding="utf-8")


# --------------------------------------------------------------------------- grade


def _total(card: Scorecard) -> str:
    if card.total_score is None:
        return "—"
    text = f"{round(card.total_score, 2):g} / {card.max_score:g}"
    if not card.complete:
        text += f" ({card.unscored_points:g} pts ungraded)"
    return text


def _tier_text(item: ItemResult) -> str:
    return "N/A" if item.not_applicable else item.tier_label or item.tier or ""


def _summary(cards: list[Scorecard], *, max_rows: int = 40) -> Table:
    shown = cards[:max_rows]
    more = len(cards) - len(shown)
    table = Table(title="scorecards", caption=f"… and {more} more in the output file" if more else None)
    for column in ("conversation", "channel", "total", "graded", "unscored", "overrides / notes"):
        table.add_column(column)
    for card in shown:
        unscored = [i for i in card.items if i.unscored]
        graded = [i for i in card.items if not i.unscored]
        notes = [f"{o.kind}: {o.id}" for o in card.overrides]
        notes += [f"{i.item_id}: {_tier_text(i)} {i.rationale}".strip() for i in graded if i.judge == "rule"]
        notes += card.errors
        table.add_row(
            card.conversation_id,
            str(card.metadata.get("channel", "")),
            _total(card),
            str(len(graded)),
            str(len(unscored)),
            "\n".join(notes),
        )
    return table


RubricOpt = Annotated[str, typer.Option("-r", "--rubric", help="Rubric file or built-in name.")]
ModelOpt = Annotated[
    str | None, typer.Option("--model", envvar="LLM_GRADER_MODEL", help="Model for model-judged items.")
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint.")
]
ProviderOpt = Annotated[
    str | None, typer.Option("--provider", help="Provider profile (default: from the base URL).")
]
ModeOpt = Annotated[
    str | None, typer.Option("--mode", help="Structured-output mode: tools, json_schema, json, md_json.")
]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", help="Requests in flight.")]
RpmOpt = Annotated[float | None, typer.Option("--rpm", help="At most this many requests per minute.")]
SamplesOpt = Annotated[int, typer.Option("--samples", help="Ask k times; majority tier.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the answer cache.")]
CacheOpt = Annotated[Path, typer.Option("--cache", help="Answer cache file.")]
NoMaskOpt = Annotated[
    bool, typer.Option("--no-mask", help="Send phone, ID-card and bank-card numbers unmasked.")
]
RulesOnlyOpt = Annotated[
    bool,
    typer.Option("--rules-only", help="Grade rule items only; model-judged items are marked not graded."),
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="Encoding of the input files (e.g. gb18030); default UTF-8.")
]


def _make_grader(
    rubric: Rubric,
    *,
    model: str | None,
    base_url: str | None,
    provider: str | None,
    mode: str | None,
    concurrency: int,
    rpm: float | None,
    samples: int,
    no_cache: bool,
    cache_path: Path,
    no_mask: bool,
    rules_only: bool,
) -> Grader:
    settings = None
    if not rules_only:
        if model is None:
            raise LLMGraderError(
                "no model configured: pass --model or set LLM_GRADER_MODEL, "
                "or grade the rule items only with --rules-only"
            )
        if mode is not None and mode not in ("tools", "json_schema", "json", "md_json"):
            raise LLMGraderError(f"unknown mode {mode!r}; valid modes: tools, json_schema, json, md_json")
        settings = ModelSettings.from_env(model=model, base_url=base_url, provider=provider, mode=mode)
    return Grader(
        rubric,
        settings=settings,
        cache=None if no_cache else cache_path,
        concurrency=concurrency,
        requests_per_minute=rpm,
        samples=samples,
        mask_pii=not no_mask,
    )


def _load(paths: Sequence[Path], encoding: str | None) -> Conversations:
    """Load conversations, reporting each one skipped as ``skipped: file:line: field: message``."""
    batch = load_conversations(*paths, encoding=encoding)
    for problem in batch.errors:
        err.print(f"skipped: {problem}", markup=False)
    return batch


def _run_batch(grader: Grader, batch: Conversations, output: Path, *, resume: bool) -> list[Scorecard]:
    """Grade with a progress bar; print the summary table and the closing line."""
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("grading", total=len(batch))
        cards = grader.grade_many(
            batch, output=output, resume=resume, on_scorecard=lambda _: progress.advance(task)
        )
    wall = time.monotonic() - started
    out.print(_summary(cards))
    unscored = sum(1 for c in cards for i in c.items if i.unscored)
    usage = sum((c.usage for c in cards), Usage())
    out.print(
        f"{len(cards)} conversation(s) graded, {len(batch.errors)} skipped, {unscored} item(s) unscored; "
        f"{usage.calls} call(s), {usage.cached_calls} cached, {usage.prompt_tokens} prompt + "
        f"{usage.completion_tokens} completion tokens ({usage.cached_tokens} cached); "
        f"{wall:.1f} s; scorecards in {output}",
        markup=False,
    )
    return cards


@app.command()
def grade(
    conversations: Annotated[list[Path], typer.Argument(help="JSONL, CSV or text files, or folders.")],
    rubric: RubricOpt,
    output: Annotated[Path, typer.Option("-o", "--output", help="Scorecards JSONL.")] = Path(
        "scorecards.jsonl"
    ),
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    provider: ProviderOpt = None,
    mode: ModeOpt = None,
    concurrency: ConcurrencyOpt = 8,
    rpm: RpmOpt = None,
    samples: SamplesOpt = 1,
    no_cache: NoCacheOpt = False,
    cache_path: CacheOpt = DEFAULT_CACHE,
    no_mask: NoMaskOpt = False,
    rules_only: RulesOnlyOpt = False,
    resume: Annotated[bool, typer.Option("--resume", help="Skip conversations already in OUTPUT.")] = False,
    encoding: EncodingOpt = None,
) -> None:
    """Grade conversations and write scorecards as JSONL, with a summary table."""
    grader = _make_grader(
        load_rubric(rubric),
        model=model,
        base_url=base_url,
        provider=provider,
        mode=mode,
        concurrency=concurrency,
        rpm=rpm,
        samples=samples,
        no_cache=no_cache,
        cache_path=cache_path,
        no_mask=no_mask,
        rules_only=rules_only,
    )
    batch = _load(conversations, encoding)
    _run_batch(grader, batch, output, resume=resume)
    if batch.errors:
        raise typer.Exit(1)


@app.command()
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
    no_cache: NoCacheOpt = False,
    cache_path: CacheOpt = DEFAULT_CACHE,
    no_mask: NoMaskOpt = False,
    encoding: EncodingOpt = None,
) -> None:
    """Grade (or reuse results), measure agreement with the human scores, write the report."""
    loaded = load_rubric(rubric)
    humans = load_human_scores(human)
    batch = _load([conversations], encoding)
    if results is not None and results.exists():
        cards = list(read_results(results))
        out.print(f"reusing {len(cards)} scorecard(s) from {results}", markup=False)
    else:
        grader = _make_grader(
            loaded,
            model=model,
            base_url=base_url,
            provider=provider,
            mode=mode,
            concurrency=concurrency,
            rpm=rpm,
            samples=samples,
            no_cache=no_cache,
            cache_path=cache_path,
            no_mask=no_mask,
            rules_only=False,
        )
        cards = _run_batch(grader, batch, results or output / "scorecards.jsonl", resume=False)
    report = run_calibration(loaded, cards, humans, n_boot=n_boot, seed=seed)
    files = write_report(report, output, conversations={c.id: c for c in batch})
    out.print(_agreement_table(report))
    for kind, path in files.items():
        out.print(f"{kind}: {path}", markup=False)


def _agreement_table(report: CalibrationReport) -> Table:
    table = Table(title=f"agreement with humans — {report.conversations} conversations")
    for column in ("item", "n", "exact", "kappa model–human", "95% CI", "kappa human–human", "unscored"):
        table.add_column(column)
    for i in report.items:
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


@app.command()
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
) -> None:
    """Write a single-file HTML page of a batch of scorecards for a QA lead."""
    if not results.is_file():
        raise LLMGraderError(f"results file {str(results)!r} does not exist")
    cards = list(read_results(results))
    found = {}
    if conversations:
        batch = _load(conversations, encoding)
        found = {c.id: c for c in batch}
    output.write_text(
        results_html(cards, conversations=found, title=f"llm-grader — {results.name}"), encoding="utf-8"
    )
    out.print(f"{len(cards)} scorecard(s) → {output}", markup=False)


@app.command()
def rescore(
    results: Annotated[Path, typer.Argument(help="Scorecards JSONL from an earlier grade.")],
    rubric: Annotated[str, typer.Option("-r", "--rubric", help="The changed rubric (file or name).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Default: RESULTS with .rescored.jsonl.")
    ] = None,
) -> None:
    """Recompute scorecards from stored answers under a changed rubric, with no model call."""
    loaded = load_rubric(rubric)
    if not results.is_file():
        raise LLMGraderError(f"results file {str(results)!r} does not exist")
    cards = list(read_results(results))
    changed: dict[str, None] = {}
    new_cards = []
    for card in cards:
        try:
            new_cards.append(rescore_card(card, loaded))
        except RescoreError as exc:
            changed.update(dict.fromkeys(exc.items))
    if changed:
        raise LLMGraderError(
            f"cannot rescore with {rubric}: the wording, tiers, flags or rule of these items changed "
            f"(or they are new): {', '.join(changed)}; grade them again"
        )
    target = output or results.with_name(results.stem + ".rescored.jsonl")
    writer = ResultsWriter(target)
    for card in new_cards:
        writer.write(card)
    writer.close()
    out.print(_summary(new_cards))
    moved = sum(1 for a, b in zip(cards, new_cards, strict=True) if a.total_score != b.total_score)
    out.print(
        f"{len(new_cards)} scorecard(s) rescored with no model call, {moved} total(s) changed; "
        f"written to {target}",
        markup=False,
    )


def main() -> None:
    """Entry point of the console script: errors as messages, never tracebacks."""
    try:
        app()
    except InputError as exc:
        for problem in exc.problems:
            err.print(f"error: {problem}", markup=False)
        sys.exit(1)
    except LLMGraderError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)
