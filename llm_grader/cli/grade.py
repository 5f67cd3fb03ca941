"""``llm-grader grade``: grade conversations and write scorecards as JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._console import load_batch
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
    RulesOnlyOpt,
    SamplesOpt,
    TemperatureOpt,
    TimeUnitOpt,
    load_options,
    make_grader,
    run_batch,
)

__all__ = ["grade"]


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
    temperature: TemperatureOpt = None,
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
    channel: ChannelOpt = None,
    allow_insecure: AllowInsecureOpt = False,
    max_prompt_chars: MaxPromptOpt = None,
) -> None:
    """Grade conversations and write scorecards as JSONL, with a summary table.

    Exit codes: 0 all graded; 1 some conversations skipped (bad input); 3 some items or
    conversations could not be graded; 4 the endpoint refused the configuration.
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
        no_cache=no_cache,
        cache_path=cache_path,
        no_mask=no_mask,
        rules_only=rules_only,
        allow_insecure=allow_insecure,
        max_prompt_chars=max_prompt_chars,
    )
    options = load_options(file_format, channel_map, time_unit, channel)
    batch = load_batch(conversations, encoding, grader.rubric.language, **options)
    run = run_batch(grader, batch, output, resume=resume, overwrite=overwrite)
    if run.exit_code:
        raise typer.Exit(run.exit_code)
