"""``llm-grader grade``: grade conversations and write scorecards as JSONL."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from .._messages import text
from ._console import err, out, stream_batch
from ._grading import (
    EXIT_INPUT,
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
    NoLogprobsOpt,
    NoMaskOpt,
    ProviderOpt,
    ReviewBelowOpt,
    RpmOpt,
    RubricOpt,
    RulesOnlyOpt,
    SamplesOpt,
    SheetOpt,
    StrategyOpt,
    TemperatureOpt,
    TimeUnitOpt,
    load_options,
    make_grader,
    run_batch,
)

DEFAULT_OUTPUT = Path("scorecards.jsonl")
"""Where ``grade`` writes without ``-o``; replaced on every run unless ``--resume`` (or ``--batch``)."""


def grade(
    conversations: Annotated[list[Path], typer.Argument(help="JSONL, CSV or text files, or folders.")],
    rubric: RubricOpt,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Scorecards JSONL. Without -o: scorecards.jsonl, replaced on every run (unless --resume).",
        ),
    ] = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    provider: ProviderOpt = None,
    mode: ModeOpt = None,
    concurrency: ConcurrencyOpt = 8,
    rpm: RpmOpt = None,
    samples: SamplesOpt = 1,
    temperature: TemperatureOpt = None,
    strategy: StrategyOpt = "item",
    review_below: ReviewBelowOpt = None,
    no_logprobs: NoLogprobsOpt = False,
    no_cache: NoCacheOpt = False,
    cache_path: CacheOpt = None,
    no_mask: NoMaskOpt = False,
    rules_only: RulesOnlyOpt = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Add to OUTPUT: skip the conversations already in it.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT when it already holds scorecards.")
    ] = False,
    encoding: EncodingOpt = None,
    file_format: FormatOpt = "auto",
    channel_map: ChannelMapOpt = None,
    time_unit: TimeUnitOpt = None,
    sheet: SheetOpt = None,
    channel: ChannelOpt = None,
    allow_insecure: AllowInsecureOpt = False,
    max_prompt_chars: MaxPromptOpt = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Per card: what rules decided, with evidence, and what needs a model."
        ),
    ] = False,
    prices: Annotated[
        Path | None,
        typer.Option(
            "--prices",
            help="TOML/YAML file adding to or replacing built-in prices (default $LLM_GRADER_PRICES).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the model calls, estimated tokens and cost; call no model, write nothing.",
        ),
    ] = False,
    batch_api: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Send the model requests as a Batch API job (about half price; up to 24 h), resumable "
            "from OUTPUT.batch.json; failed or invalid answers are asked again by ordinary calls.",
        ),
    ] = False,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.0, help="--batch: seconds between status polls.")
    ] = 30.0,
) -> None:
    """Grade conversations and write scorecards as JSONL, with a summary table.

    Exit codes: 0 all graded; 1 some conversations skipped (bad input); 3 some items or
    conversations could not be graded; 4 the endpoint refused the configuration; 6 the
    output could not be written (disk full): the run stopped, what it holds is whole;
    130 interrupted (Ctrl-C): rerun with --resume.
    """
    from ..rubric import load_rubric

    grader = make_grader(
        load_rubric(rubric),
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
        rules_only=rules_only,
        allow_insecure=allow_insecure,
        max_prompt_chars=max_prompt_chars,
        prices=prices,
        review_below=review_below,
        no_logprobs=no_logprobs,
    )
    options = load_options(file_format, channel_map, time_unit, channel, sheet)
    if output is None:  # the default output is replaced: a quick start runs twice
        output = DEFAULT_OUTPUT
        overwrite = overwrite or not (resume or batch_api or dry_run)
    # Read as graded, scorecards not kept (--explain keeps them): memory stays flat at any volume.
    batch = stream_batch(conversations, encoding, grader.rubric.language, **options)
    if dry_run:
        from .._estimate import estimate

        out.print(estimate(grader, batch).render(), markup=False)
        if batch.skipped:  # the estimate leaves out the conversations that could not be read
            raise typer.Exit(EXIT_INPUT)
        return
    if batch_api:
        from ._batch import run_batch_api

        run = run_batch_api(
            grader, batch, output, paths=conversations, encoding=encoding, options=options,
            resume=resume, overwrite=overwrite, collect=explain, poll_interval=poll_interval,
        )  # fmt: skip
    else:
        replacing = overwrite and not resume and output.exists() and output.stat().st_size > 0
        run = run_batch(grader, batch, output, resume=resume, overwrite=overwrite, collect=explain)
        if replacing and output == DEFAULT_OUTPUT:
            err.print(text("cli.replaced_default", grader.rubric.language, output=output), markup=False)
    if run.needs_model and grader.judge is None:
        inputs = " ".join(shlex.quote(str(p)) for p in conversations)
        out.print(text("cli.first.hint", grader.rubric.language, inputs=inputs), markup=False)
    if explain:
        from ._explain import print_explanation

        print_explanation(run.cards, grader.rubric.language)
    if run.exit_code:
        raise typer.Exit(run.exit_code)
