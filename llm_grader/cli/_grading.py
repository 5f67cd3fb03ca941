"""Grading from the command line: the model options, the one place a Grader is made, a batch run.

``grade``, ``calibrate`` and ``rubric show --conversation`` all get their
:class:`~llm_grader.grader.Grader` from :func:`make_grader`. The grader and the model
client are imported when a grader is made, not when the command line starts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import LLMGraderError
from ..messages import text
from ._console import err, out, summary_table

if TYPE_CHECKING:
    from ..conversation import Conversations
    from ..grader import Grader
    from ..rubric import Rubric
    from ..scoring import Scorecard

__all__ = [
    "BaseUrlOpt",
    "CacheOpt",
    "ConcurrencyOpt",
    "EncodingOpt",
    "ModeOpt",
    "ModelOpt",
    "NoCacheOpt",
    "NoMaskOpt",
    "ProviderOpt",
    "RpmOpt",
    "RubricOpt",
    "RulesOnlyOpt",
    "SamplesOpt",
    "make_grader",
    "run_batch",
]


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
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        help="Answer cache file (default: the per-user cache directory, or $LLM_GRADER_CACHE_DIR).",
    ),
]
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


def make_grader(
    rubric: Rubric,
    *,
    model: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
    mode: str | None = None,
    concurrency: int = 8,
    rpm: float | None = None,
    samples: int = 1,
    no_cache: bool = False,
    cache_path: Path | None = None,
    no_mask: bool = False,
    rules_only: bool = False,
) -> Grader:
    """The grader for the command-line options (the only place the command line makes one)."""
    from ..grader import Grader
    from ..model import ModelSettings, check_mode

    settings = None
    if not rules_only:
        if model is None:
            raise LLMGraderError(text("cli.no_model", rubric.language))
        checked = None if mode is None else check_mode(mode)
        settings = ModelSettings.from_env(model=model, base_url=base_url, provider=provider, mode=checked)
    return Grader(
        rubric,
        settings,
        cache=None if no_cache else (cache_path or True),
        concurrency=concurrency,
        requests_per_minute=rpm,
        samples=samples,
        mask_pii=not no_mask,
    )


def run_batch(grader: Grader, batch: Conversations, output: Path, *, resume: bool) -> list[Scorecard]:
    """Grade with a progress bar; print the summary table and the closing line."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..types import Usage

    language = grader.rubric.language
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
    out.print(summary_table(cards, language))
    usage = sum((c.usage for c in cards), Usage())
    closing = text(
        "cli.graded",
        language,
        graded=len(cards),
        skipped=len(batch.errors),
        unscored=sum(1 for c in cards for i in c.items if i.unscored),
        calls=usage.calls,
        cached_calls=usage.cached_calls,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        seconds=wall,
        output=output,
    )
    out.print(closing, markup=False)
    return cards
