"""Orchestration: judge every item of a conversation and score it; batches to JSONL.

Rule items are judged by :mod:`llm_grader.rules`; model-judged items by one structured
call each through a :class:`~llm_grader.model.Judge` (items of one conversation back to
back, so the shared prompt prefix is cached by the provider). Without a model (rules only)
model-judged items are unscored with the reason — never zero or full.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from .answers import Answer, bind, response_model
from .conversation import Conversation, mask_personal_data
from .errors import LLMGraderError
from .evidence import verify_quote
from .messages import text
from .model import Judge, JudgeRequest, ModelResult, ModelSettings, build_judge, default_cache_path
from .prompting import Prompts, compile_messages, prompt_hash
from .results import ResultsWriter
from .rubric import Item, Rubric, item_fingerprint, load_rubric
from .rules import applicability_reason, judge_rule
from .scoring import Scorecard, score
from .types import NOT_APPLICABLE, Audit, Evidence, Judgement, Occurrence, Usage

__all__ = ["Grader", "GraderConfig"]

_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class GraderConfig:
    """How a :class:`Grader` runs. Every field can also be given to ``Grader`` as a keyword."""

    concurrency: int = 8
    """Model requests in flight at once (and conversations in progress in a batch)."""
    requests_per_minute: float | None = None
    """A ceiling on the request rate, for endpoints with a per-minute quota."""
    samples: int = 1
    """Ask each item this many times and take the majority tier (self-consistency)."""
    min_agreement: float = 0.6
    """Below this share of samples agreeing, the item is marked for review."""
    mask_pii: bool = True
    """Mask phone, ID-card and bank-card numbers before any text leaves the machine."""
    cache: bool | str | Path | None = True
    """The answer cache: True for the per-user cache directory, a path, or None/False for none.
    Applies when the grader builds the judge from a model name or settings."""
    prompts_dir: Path | None = None
    """Prompt templates to use instead of the shipped ones (``<dir>/<language>/``)."""

    def __post_init__(self) -> None:
        for name in ("concurrency", "samples"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise LLMGraderError(f"{name} must be a whole number of at least 1 (got {value!r})")
        if self.requests_per_minute is not None and not self.requests_per_minute > 0:
            raise LLMGraderError(f"requests_per_minute must be above 0 (got {self.requests_per_minute!r})")

    @property
    def cache_path(self) -> Path | None:
        """Where answers are cached, or None."""
        if self.cache is True:
            return default_cache_path()
        if self.cache is None or self.cache is False:
            return None
        return Path(self.cache)


class _Pacer:
    """Bounds requests in flight and, optionally, requests per minute."""

    def __init__(self, concurrency: int, rpm: float | None) -> None:
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def run(self, call: Callable[[], Awaitable[ModelResult]]) -> ModelResult:
        async with self._slots:
            if self._interval:
                async with self._lock:
                    now = time.monotonic()
                    wait = self._next - now
                    self._next = max(now, self._next) + self._interval
                if wait > 0:
                    await asyncio.sleep(wait)
            return await call()


def _config(config: GraderConfig | None, options: dict[str, Any]) -> GraderConfig:
    if config is not None and options:
        raise TypeError("give either config= or keyword options, not both")
    known = {f.name for f in fields(GraderConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown Grader options: {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    return config or GraderConfig(**options)


class Grader:
    """Grades conversations against one rubric.

    ``Grader(rubric)`` grades the rule items only. ``model`` is a model name (settings from
    ``OPENAI_BASE_URL``/``OPENAI_API_KEY``), a :class:`~llm_grader.model.ModelSettings`, or any
    :class:`~llm_grader.model.Judge` (e.g. :class:`~llm_grader.testing.FakeJudge`). Options
    are one :class:`GraderConfig`, given as ``config=`` or as its fields as keywords.
    Async users close connections with ``await grader.aclose()`` (or ``async with grader``).
    """

    def __init__(
        self,
        rubric: Rubric | str | Path,
        model: str | ModelSettings | Judge | None = None,
        *,
        config: GraderConfig | None = None,
        **options: Any,
    ) -> None:
        self.rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
        self.config = _config(config, options)
        self.judge: Judge | None = None
        if isinstance(model, (str, ModelSettings)):
            self.judge = build_judge(model, cache=self.config.cache_path)
        elif model is not None:
            self.judge = model
        self.model: str | None = str(self.judge.identity["model"]) if self.judge else None
        self._prompts: Prompts | None = None
        self._models: dict[str, tuple[type[Answer], dict[str, Any]]] = {}

    @property
    def prompts(self) -> Prompts:
        """The prompts in the rubric's language (loaded once, on first use)."""
        if self._prompts is None:
            self._prompts = Prompts.load(self.rubric.language, self.config.prompts_dir)
        return self._prompts

    def answer_model(self, item: Item) -> tuple[type[Answer], dict[str, Any]]:
        """The item's response model and its JSON schema, built once per grader."""
        if item.id not in self._models:
            model = response_model(item, self.prompts)
            self._models[item.id] = (model, model.model_json_schema())
        return self._models[item.id]

    def shown(self, conversation: Conversation) -> Conversation:
        """The conversation as it leaves the machine (personal numbers masked unless disabled)."""
        return mask_personal_data(conversation) if self.config.mask_pii else conversation

    def messages(self, item: Item, conversation: Conversation) -> list[dict[str, str]]:
        """The exact messages sent for one item (after masking)."""
        return self._compile(item, self.shown(conversation))

    def _compile(self, item: Item, shown: Conversation) -> list[dict[str, str]]:
        return compile_messages(rubric=self.rubric, item=item, conversation=shown, prompts=self.prompts)

    # ------------------------------------------------------------------ one item

    def _precheck(self, item: Item, conversation: Conversation) -> Judgement | None:
        language = self.rubric.language
        reason = applicability_reason(item, conversation, language=language)
        if reason is not None:
            return Judgement(
                item_id=item.id,
                not_applicable=True,
                na_policy=item.applicability.policy if item.applicability else None,
                rationale=text("grader.not_applicable", language, reason=reason),
                audit=Audit(na_source="applicability"),
            )
        if item.judge == "rule":
            return judge_rule(item, conversation, language=language)
        if self.judge is None:
            return Judgement.unscored(item.id, text("grader.not_graded", language))
        return None

    async def _judge_model(self, item: Item, shown: Conversation, judge: Judge, pacer: _Pacer) -> Judgement:
        messages = self._compile(item, shown)
        model, schema = self.answer_model(item)
        bound = bind(model, item, shown, self.prompts)
        results: list[ModelResult] = []
        for sample in range(self.config.samples):
            request = JudgeRequest(
                messages=messages, response_model=bound, schema=schema, item_id=item.id, sample=sample
            )
            results.append(await pacer.run(functools.partial(judge.judge, request)))
        usage = sum((r.usage for r in results), Usage())
        audit = Audit(
            prompt_hash=prompt_hash(messages, schema),
            model=str(judge.identity.get("model")),
            mode=str(judge.identity.get("mode")),
            rubric_version=self.rubric.version,
            raw=[r.raw for r in results] if self.config.samples > 1 else results[0].raw,
            attempts=sum(r.attempts for r in results),
        )
        answers = [r.answer for r in results if r.answer is not None]
        if not answers:
            failed = results[-1]
            audit = audit.model_copy(update={"failure": failed.kind})
            return Judgement(item_id=item.id, error=failed.error, needs_review=True, usage=usage, audit=audit)
        if item.deduction is not None:
            return _deduction(item, shown, answers[0], audit, usage)
        return self._tiered(item, shown, answers, audit, usage)

    def _tiered(
        self, item: Item, shown: Conversation, answers: Sequence[Any], audit: Audit, usage: Usage
    ) -> Judgement:
        tiers = Counter(a.tier for a in answers)
        tier, votes = tiers.most_common(1)[0]
        chosen = next(a for a in answers if a.tier == tier)
        needs_review = False
        rationale = chosen.rationale
        samples = self.config.samples
        if samples > 1:
            share = votes / samples
            audit = audit.model_copy(update={"agreement": share, "tiers": dict(tiers)})
            if share < self.config.min_agreement:
                needs_review = True
                rationale += "\n" + text(
                    "grader.low_agreement",
                    self.rubric.language,
                    k=samples,
                    n=votes,
                    tier=tier,
                    share=share,
                    threshold=self.config.min_agreement,
                )
        flags = getattr(chosen, "flags", None)
        return Judgement(
            item_id=item.id,
            tier=None if tier == NOT_APPLICABLE else tier,
            not_applicable=tier == NOT_APPLICABLE,
            evidence=tuple(_located(shown, e.turn, e.quote) for e in chosen.evidence),
            rationale=rationale,
            flags={k: bool(v) for k, v in (flags.model_dump() if flags is not None else {}).items()},
            needs_review=needs_review,
            usage=usage,
            audit=audit.model_copy(update={"na_source": "model"}) if tier == NOT_APPLICABLE else audit,
        )

    # ------------------------------------------------------------------ one conversation

    async def _agrade(self, conversation: Conversation, pacer: _Pacer) -> Scorecard:
        shown = self.shown(conversation) if self.judge is not None else conversation
        judgements = []
        for _, item in self.rubric.items():
            judgement = self._precheck(item, conversation)
            if judgement is None:
                assert self.judge is not None
                judgement = await self._judge_model(item, shown, self.judge, pacer)
            audit = judgement.audit.model_copy(update={"item_hash": item_fingerprint(item)})
            judgements.append(replace(judgement, audit=audit))
        return score(
            self.rubric,
            judgements,
            conversation_id=conversation.id,
            model=self.model,
            metadata={"channel": conversation.channel, **conversation.metadata},
        )

    async def agrade(self, conversation: Conversation) -> Scorecard:
        """Grade one conversation (async)."""
        return await self._agrade(
            conversation, _Pacer(self.config.concurrency, self.config.requests_per_minute)
        )

    def grade(self, conversation: Conversation) -> Scorecard:
        """Grade one conversation."""
        return _run_sync(self._closing(self.agrade(conversation)))

    async def aclose(self) -> None:
        """Close the model's connections (they reopen on next use)."""
        if self.judge is not None:
            await self.judge.aclose()

    async def __aenter__(self) -> Grader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _closing(self, coroutine: Awaitable[_T]) -> _T:
        try:
            return await coroutine
        finally:
            await self.aclose()

    # ------------------------------------------------------------------ batches

    async def agrade_many(
        self,
        conversations: Iterable[Conversation],
        *,
        output: str | Path | None = None,
        resume: bool = False,
        on_scorecard: Callable[[Scorecard], None] | None = None,
    ) -> list[Scorecard]:
        """Grade many conversations concurrently; see :meth:`grade_many`."""
        writer = ResultsWriter(output, resume=resume) if output is not None else None
        done = writer.done if writer else set()
        todo = [c for c in conversations if c.id not in done]
        pacer = _Pacer(self.config.concurrency, self.config.requests_per_minute)
        # Bound the conversations in progress too, so results stream out in a steady order.
        slots = asyncio.Semaphore(self.config.concurrency)
        cards: list[Scorecard] = []

        async def one(conversation: Conversation) -> None:
            async with slots:
                try:
                    card = await self._agrade(conversation, pacer)
                except LLMGraderError as exc:
                    card = score(
                        self.rubric, [], conversation_id=conversation.id, model=self.model, errors=[str(exc)]
                    )
            if writer:
                writer.write(card)
            if on_scorecard:
                on_scorecard(card)
            cards.append(card)

        try:
            await asyncio.gather(*(one(c) for c in todo))
        finally:
            if writer:
                writer.close()
        order = {c.id: i for i, c in enumerate(todo)}
        return sorted(cards, key=lambda c: order.get(c.conversation_id, 0))

    def grade_many(
        self,
        conversations: Iterable[Conversation],
        *,
        output: str | Path | None = None,
        resume: bool = False,
        on_scorecard: Callable[[Scorecard], None] | None = None,
    ) -> list[Scorecard]:
        """Grade conversations, appending each scorecard to ``output`` as it finishes.

        At most ``concurrency`` requests are in flight; items of one conversation go back
        to back. With ``resume``, ids already in ``output`` are skipped. A conversation
        that fails is recorded with its error and the batch goes on.
        """
        batch = self.agrade_many(conversations, output=output, resume=resume, on_scorecard=on_scorecard)
        return _run_sync(self._closing(batch))


def _deduction(item: Item, shown: Conversation, answer: Any, audit: Audit, usage: Usage) -> Judgement:
    occurrences = tuple(
        Occurrence(**_located(shown, o.turn, o.quote).model_dump(), severe=o.severe)
        for o in answer.occurrences
    )
    return Judgement(
        item_id=item.id,
        occurrences=occurrences,
        evidence=occurrences,
        rationale=answer.rationale,
        usage=usage,
        audit=audit,
    )


def _run_sync(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion from sync code.

    Inside a running event loop (a notebook) it runs on a worker thread with a loop of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _located(conversation: Conversation, turn: int, quote: str) -> Evidence:
    found = verify_quote(conversation, turn, quote)
    if isinstance(found, Evidence):
        return found
    # The validator already verified it; keep it visible rather than drop it if not.
    return Evidence(turn=turn, speaker="", quote=quote, start_char=-1, end_char=-1, verified=False)
