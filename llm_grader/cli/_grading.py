"""Grading from the command line: the model options, the one place a Grader is made, a batch run.

``grade``, ``calibrate`` and ``rubric show --conversation`` all get their
:class:`~llm_grader._grader.Grader` from :func:`make_grader`. The grader and the model
client are imported when a grader is made, not when the command line starts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._messages import text
from ..errors import LLMGraderError
from ._console import BatchSummary, ConversationStream, err, out

if TYPE_CHECKING:
    from .._grader import Grader
    from ..conversation import Conversations
    from ..rubric import Rubric
    from ..scoring import Scorecard


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
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight.")]
RpmOpt = Annotated[float | None, typer.Option("--rpm", help="At most this many requests per minute.")]
SamplesOpt = Annotated[
    int, typer.Option("--samples", min=1, help="Ask k times; majority tier (k > 1 samples at --temperature).")
]
TemperatureOpt = Annotated[
    float | None,
    typer.Option(
        "--temperature", min=0.0, help="Sampling temperature (default 0; 0.7 when --samples is above 1)."
    ),
]
StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy",
        help="Model calls per conversation: item (one per item), category (one per category) or "
        "conversation (one for the card); a grouped answer that fails its checks is asked again per item.",
    ),
]
ReviewBelowOpt = Annotated[
    float | None,
    typer.Option(
        "--review-below",
        min=0.0,
        max=1.0,
        help="Mark model items whose confidence (sample agreement x tier logprob) is below this for review.",
    ),
]
NoLogprobsOpt = Annotated[
    bool, typer.Option("--no-logprobs", help="Do not ask for token logprobs (json modes ask by default).")
]
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
AllowInsecureOpt = Annotated[
    bool,
    typer.Option(
        "--allow-insecure",
        help="Allow sending the API key over plain HTTP to a host that is not loopback or private.",
    ),
]
MaxPromptOpt = Annotated[
    int | None,
    typer.Option(
        "--max-prompt-chars",
        min=1,
        help="Longest prompt sent, in characters (default: the provider's budget); longer ones are not sent.",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        help="Input format: auto (by suffix; .json = vendor ASR result), jsonl, csv, xlsx, text, or an ASR "
        "vendor (alibaba, tencent, iflytek, transcribe, connect).",
    ),
]
ChannelMapOpt = Annotated[
    str | None,
    typer.Option("--channel-map", help="ASR channel/speaker label to speaker, e.g. 0=agent,1=customer."),
]
TimeUnitOpt = Annotated[
    str | None,
    typer.Option(
        "--time-unit",
        help="Times in JSONL/CSV/text files: s or ms (default s; a warning when they look like ms).",
    ),
]
SheetOpt = Annotated[
    str | None, typer.Option("--sheet", help="Sheet of .xlsx workbooks to read (default: the first).")
]
ChannelOpt = Annotated[
    str | None, typer.Option("--channel", help="Channel of plain-text conversations: chat or call.")
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
    allow_insecure: bool = False,
    max_prompt_chars: int | None = None,
    temperature: float | None = None,
    strategy: str = "item",
    no_model_message: str = "cli.no_model",
    prices: Path | None = None,
    review_below: float | None = None,
    no_logprobs: bool = False,
) -> Grader:
    """The grader for the command-line options (the only place the command line makes one)."""
    from .._grader import SAMPLING_TEMPERATURE, Grader
    from ..llm import ModelSettings, check_mode

    settings = None
    rules_only = rules_only or all(item.judge == "rule" for _, item in rubric.items())  # no model needed
    if not rules_only:
        if model is None:
            raise LLMGraderError(text(no_model_message, rubric.language))
        checked = None if mode is None else check_mode(mode)
        if temperature is None:
            temperature = SAMPLING_TEMPERATURE if samples > 1 else 0.0
            if samples > 1:
                err.print(text("cli.sampling", rubric.language, k=samples, t=temperature), markup=False)
        settings = ModelSettings.from_env(
            temperature=temperature,
            model=model,
            base_url=base_url,
            provider=provider,
            mode=checked,
            allow_insecure=allow_insecure,
            max_prompt_chars=max_prompt_chars,
            prices=prices,
            logprobs=not no_logprobs,
        )
    return Grader(
        rubric,
        settings,
        cache=None if no_cache else (cache_path or True),
        concurrency=concurrency,
        requests_per_minute=rpm,
        samples=samples,
        mask_pii=not no_mask,
        strategy=strategy,
        review_below=review_below,
    )


@dataclass(frozen=True)
class BatchRun:
    """What a graded batch came to: the scorecards kept, how many were skipped, how many failed."""

    cards: list[Scorecard]
    """Every scorecard in input order when collected, else none (they are in the output file)."""
    skipped: int
    failed: int = 0
    """Scorecards with an error or an item whose model call failed."""
    needs_model: int = 0
    """Items left to a model and not graded (a rules-only run), over every scorecard."""

    @property
    def exit_code(self) -> int:
        """The documented exit code: 3 when items or conversations failed, 1 when some were skipped."""
        return EXIT_FAILED if self.failed else EXIT_INPUT if self.skipped else 0


EXIT_INPUT = 1
"""Bad input: a file or rubric could not be used, or some conversations were skipped."""
EXIT_FAILED = 3
"""Some items or conversations could not be graded (model calls failed); their scorecards say why."""
EXIT_CONFIG = 4
"""The endpoint refused the configuration (key, model, URL) or the output is locked: nothing more sent."""
EXIT_WRITE = 6
"""The results file could not be written (disk full, I/O error): the run stopped; the file has whole lines."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT): the run stopped; ``--resume`` grades the rest."""


def run_batch(
    grader: Grader,
    batch: Conversations | ConversationStream,
    output: Path,
    *,
    resume: bool,
    overwrite: bool = False,
    collect: bool = True,
) -> BatchRun:
    """Grade with a progress bar; print the summary table and the closing line.

    ``batch`` is a loaded list or a :class:`~._console.ConversationStream` read as grading goes.
    With ``collect=False`` no scorecard is kept but the table's first rows: counts, usage sums
    and failed ids are kept as scorecards stream to ``output``, so memory stays flat.

    When the output cannot be written (a full disk) the table and the closing line are printed,
    counting the scorecards graded but not written, and the
    :class:`~llm_grader.errors.OutputWriteError` goes on up (one line, exit :data:`EXIT_WRITE`).
    On Ctrl-C one line says how many of the input's conversations are in the output and
    that ``--resume`` goes on (exit 130).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .._results import count_results
    from ..errors import OutputWriteError

    language = grader.rubric.language
    started = time.monotonic()
    summary = BatchSummary()
    not_written: list[str] = []
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as progress:
            total = None if isinstance(batch, ConversationStream) else len(batch)  # a stream: not known
            task = progress.add_task("grading", total=total)

            def on_scorecard(card: Scorecard) -> None:
                summary.add(card)
                progress.advance(task)

            def on_error(conversation_id: str, message: str) -> None:
                not_written.append(conversation_id)
                problem = f"{conversation_id}: {message}"
                err.print(text("cli.skipped", language, problem=problem), markup=False)

            cards = grader.grade_many(
                batch,
                output=output,
                resume=resume,
                overwrite=overwrite,
                on_scorecard=on_scorecard,
                on_error=on_error,
                collect=collect,
            )
    except OutputWriteError as exc:
        _close(grader, batch, summary, output, time.monotonic() - started, resume=resume,
               not_written=not_written, unwritten=exc.unwritten)  # fmt: skip
        raise
    except KeyboardInterrupt:
        in_input = batch.total() if isinstance(batch, ConversationStream) else len(batch)
        done = count_results(output)
        shown = f"{max(in_input, done)}" if in_input is not None else f"{done}+"
        err.print(text("cli.interrupted_after", language, done=done, total=shown), markup=False)
        raise
    return _close(grader, batch, summary, output, time.monotonic() - started, resume=resume,
                  not_written=not_written, cards=cards)  # fmt: skip


def _close(
    grader: Grader,
    batch: Conversations | ConversationStream,
    summary: BatchSummary,
    output: Path,
    wall: float,
    *,
    resume: bool,
    not_written: list[str],
    unwritten: Sequence[Scorecard] = (),
    cards: list[Scorecard] | None = None,
) -> BatchRun:
    """Print the summary table, the closing line and the failed ids; what the run came to.

    ``unwritten``: scorecards graded but not written (a full disk); their calls are counted.
    """
    from .._results import count_results
    from ..llm._prices import cost_text

    language = grader.rubric.language
    out.print(summary.table(language))
    for line in summary.plain_summary(language):
        out.print(line, markup=False)
    usage = sum((card.usage for card in unwritten), summary.usage)
    unreadable = batch.skipped if isinstance(batch, ConversationStream) else len(batch.errors)
    before = count_results(output) - summary.graded if resume else 0
    closing = text(
        "cli.graded",
        language,
        graded=summary.graded,
        before=text("cli.graded_before", language, n=before) if before > 0 else "",
        unwritten=text("cli.graded_unwritten", language, n=len(unwritten)) if unwritten else "",
        skipped=unreadable + len(not_written),
        unscored=summary.unscored,
        abstained=summary.abstained,
        calls=usage.calls,
        cached_calls=usage.cached_calls,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cost=cost_text(usage),
        seconds=wall,
        output=output,
    )
    out.print(closing, markup=False)
    failed = summary.failed_line(language)
    if failed:
        err.print(failed, markup=False)
    return BatchRun(
        cards=cards or [],
        skipped=unreadable + len(not_written),
        failed=summary.failed,
        needs_model=sum(summary.needs_model.values()),
    )


def load_options(
    file_format: str,
    channel_map: str | None,
    time_unit: str | None,
    channel: str | None,
    sheet: str | None = None,
) -> dict[str, Any]:
    """The conversation-loading options of the command line, checked."""
    from ..conversation import FORMATS

    if file_format not in FORMATS:
        raise LLMGraderError(f"unknown --format {file_format!r}; valid formats: {', '.join(FORMATS)}")
    if time_unit not in (None, "s", "ms"):
        raise LLMGraderError(f"unknown --time-unit {time_unit!r}; valid units: s, ms")
    if channel not in (None, "chat", "call"):
        raise LLMGraderError(f"unknown --channel {channel!r}; valid channels: chat, call")
    options = {"format": file_format, "channel_map": channel_map, "time_unit": time_unit, "channel": channel}
    return options | ({"sheet": sheet} if sheet is not None else {})
