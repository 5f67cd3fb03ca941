"""``llm-grader grade``: grade conversations and write scorecards as JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._console import load_batch
from ._grading import (
    BaseUrlOpt,
    CacheOpt,
    ConcurrencyOpt,
    EncodingOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    NoMaskOpt,
    ProviderOpt,
    RpmOpt,
    RubricOpt,
    RulesOnlyOpt,
    SamplesOpt,
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
    no_cache: NoCacheOpt = False,
    cache_path: CacheOpt = None,
    no_mask: NoMaskOpt = False,
    rules_only: RulesOnlyOpt = False,
    resume: Annotated[bool, typer.Option("--resume", help="Skip conversations already in OUTPUT.")] = False,
    encoding: EncodingOpt = None,
) -> None:
    """Grade conversations and write scorecards as JSONL, with a summary table."""
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
        no_cache=no_cache,
        cache_path=cache_path,
        no_mask=no_mask,
        rules_only=rules_only,
    )
    batch = load_batch(conversations, encoding, grader.rubric.language)
    run_batch(grader, batch, output, resume=resume)
    if batch.errors:
        raise typer.Exit(1)
