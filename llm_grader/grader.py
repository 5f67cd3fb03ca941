"""Orchestration: judge every item of a conversation and score it; batches to JSONL.

Rule items are judged by :mod:`llm_grader.rules`; model-judged items by one structured
call each through a :class:`~llm_grader.model.Judge` (items of one conversation back to
back, so the shared prompt prefix is cached by the provider). Without a model (rules only)
model-judged items are unscored with the reason — never zero or full.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from .answers import Answer, bind, response_model
from .config import GraderConfig, grader_config
from .conversation import Conversation, mask_conversation
from .errors import LLMGraderError, ModelConfigurationError
from .evidence import verify_quote
from .messages import text
from .model import (
    Judge,
    JudgeRequest,
    ModelResult,
    ModelSettings,
    Pacer,
    build_judge,
    prompt_size,
)
from .progress import ProgressCallback, progress_reporter, traced_call, traced_grade
from .prompting import Prompts, compile_messages, prompt_hash
from .results import ResultsWriter
from .rubric import Item, Rubric, item_fingerprint, load_rubric
from .rules import applicability_reason, judge_rule
from .sampling import majority_occurrences
from .scoring import Scorecard, score
from .types import NOT_APPLICABLE, Audit, Evidence, Judgement, Occurrence, Usage

__all__ = ["Grader", "GraderConfig"]

_T = TypeVar("_T")


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
        self.config = grader_config(config, options)
        self.judge: Judge | None = None
        if isinstance(model, str) and self.config.samples > 1:
            # Sampling means something only above temperature 0: a name alone gets SAMPLING_TEMPERATURE.
            model = ModelSettings.from_env(model=model, temperature=SAMPLING_TEMPERATURE)
        if isinstance(model, (str, ModelSettings)):
            self.judge = build_judge(model, cache=self.config.cache_path)
        elif model is not None:
            self.judge = model
        _check_sampling(self.judge, self.config.samples)
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
        """The conversation as it leaves the machine (personal data masked unless disabled)."""
        return self._masked(conversation)[0]

    def _masked(self, conversation: Conversation) -> tuple[Conversation, dict[str, int]]:
        return mask_conversation(conversation) if self.config.mask_pii else (conversation, {})

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

    async def _judge_model(self, item: Item, shown: Conversation, judge: Judge, pacer: Pacer) -> Judgement:
        messages = self._compile(item, shown)
        model, schema = self.answer_model(item)
        bound = bind(model, item, shown, self.prompts)
        results: list[ModelResult] = []
        for sample in range(self.config.samples):
            request = JudgeRequest(
                messages=messages, response_model=bound, schema=schema, item_id=item.id, sample=sample
            )
            _check_budget(request, judge, shown.id)
            results.append(await pacer.run(traced_call(judge, request, shown.id)))
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
            return self._deduction(item, shown, answers, audit, usage)
        return self._tiered(item, shown, answers, audit, usage)

    def _low_agreement(self, share: float, votes: int, kept: str) -> str:
        return text(
            "grader.low_agreement",
            self.rubric.language,
            k=self.config.samples,
            n=votes,
            tier=kept,
            share=share,
            threshold=self.config.min_agreement,
        )

    def _deduction(
        self, item: Item, shown: Conversation, answers: Sequence[Any], audit: Audit, usage: Usage
    ) -> Judgement:
        samples = [
            [
                Occurrence(**_located(shown, o.turn, o.quote, item).model_dump(), severe=o.severe)
                for o in answer.occurrences
            ]
            for answer in answers
        ]
        occurrences, share = majority_occurrences(samples)
        rationale = answers[0].rationale
        needs_review = False
        if self.config.samples > 1:
            audit = audit.model_copy(update={"agreement": share})
            if share < self.config.min_agreement:
                needs_review = True
                kept = ", ".join(f"turn {o.turn}" for o in occurrences) or "∅"
                rationale += "\n" + self._low_agreement(share, round(share * len(answers)), kept)
        return Judgement(
            item_id=item.id,
            occurrences=occurrences,
            evidence=occurrences,
            rationale=rationale,
            needs_review=needs_review,
            usage=usage,
            audit=audit,
        )

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
                rationale += "\n" + self._low_agreement(share, votes, tier)
        flags = getattr(chosen, "flags", None)
        return Judgement(
            item_id=item.id,
            tier=None if tier == NOT_APPLICABLE else tier,
            not_applicable=tier == NOT_APPLICABLE,
            evidence=tuple(_located(shown, e.turn, e.quote, item) for e in chosen.evidence),
            rationale=rationale,
            flags={k: bool(v) for k, v in (flags.model_dump() if flags is not None else {}).items()},
            needs_review=needs_review,
            usage=usage,
            audit=audit.model_copy(update={"na_source": "model"}) if tier == NOT_APPLICABLE else audit,
        )

    # ------------------------------------------------------------------ one conversation

    async def _agrade(self, conversation: Conversation, pacer: Pacer) -> Scorecard:
        shown, masked = self._masked(conversation) if self.judge is not None else (conversation, {})
        judgements = []
        for _, item in self.rubric.items():
            judgement = self._precheck(item, conversation)
            if judgement is None:
                assert self.judge is not None
                judgement = await self._judge_model(item, shown, self.judge, pacer)
            audit = judgement.audit.model_copy(update={"item_hash": item_fingerprint(item)})
            judgements.append(replace(judgement, audit=audit))
        card = score(
            self.rubric,
            judgements,
            conversation_id=conversation.id,
            model=self.model,
            # The conversation's own channel, never a metadata key of the same name.
            metadata={"channel": conversation.channel, **_without(conversation.metadata, "channel")},
        )
        return card.model_copy(update={"masked": masked}) if masked else card

    async def agrade(self, conversation: Conversation) -> Scorecard:
        """Grade one conversation (async)."""
        return await self._agrade(
            conversation, Pacer(self.config.concurrency, self.config.requests_per_minute)
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
        overwrite: bool = False,
        on_scorecard: Callable[[Scorecard], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        progress: bool | ProgressCallback = False,
    ) -> list[Scorecard]:
        """Grade many conversations concurrently; see :meth:`grade_many`."""
        writer = ResultsWriter(output, resume=resume, overwrite=overwrite) if output is not None else None
        done = writer.done if writer else set()
        todo = [c for c in conversations if c.id not in done]
        pacer = Pacer(self.config.concurrency, self.config.requests_per_minute)
        reporter = progress_reporter(progress, len(todo))
        # Bound the conversations in progress too, so results stream out in a steady order.
        slots = asyncio.Semaphore(self.config.concurrency)
        cards: list[Scorecard] = []

        async def one(conversation: Conversation) -> None:
            async with slots:
                try:
                    card = await traced_grade(self._agrade(conversation, pacer), conversation.id)
                except ModelConfigurationError:
                    raise  # every other conversation would fail the same way: stop the run
                except Exception as exc:  # one conversation never costs the rest
                    card = _failed_card(self, conversation, exc)
            if writer:
                try:
                    writer.write(card)
                except Exception as exc:  # e.g. a value that cannot be serialised
                    if on_error:
                        on_error(conversation.id, f"not written: {type(exc).__name__}: {exc}")
                    reporter.advance(card, written=False)
                    return
            if on_scorecard:
                on_scorecard(card)
            cards.append(card)
            reporter.advance(card)

        tasks = [asyncio.ensure_future(one(c)) for c in todo]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            reporter.close()
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
        overwrite: bool = False,
        on_scorecard: Callable[[Scorecard], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        progress: bool | ProgressCallback = False,
    ) -> list[Scorecard]:
        """Grade conversations, appending each scorecard to ``output`` as it finishes.

        At most ``concurrency`` requests are in flight; items of one conversation go back
        to back. With ``resume``, ids already in ``output`` are skipped; an ``output`` that
        already holds scorecards is otherwise refused unless ``overwrite``. A conversation
        that fails is recorded with its error and the batch goes on; one whose scorecard
        cannot be written is reported to ``on_error(conversation_id, message)``. A
        :class:`~llm_grader.errors.ModelConfigurationError` (rejected key, unknown model,
        unreachable endpoint) stops the run at once. ``progress``: True (a bar) or a callback of Progress.
        """
        batch = self.agrade_many(
            conversations,
            output=output,
            resume=resume,
            overwrite=overwrite,
            on_scorecard=on_scorecard,
            on_error=on_error,
            progress=progress,
        )
        return _run_sync(self._closing(batch))


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


SAMPLING_TEMPERATURE = 0.7
"""The temperature used with ``samples > 1`` when only a model name is given."""


def _check_sampling(judge: Judge | None, samples: int) -> None:
    """Refuse k identical requests: with ``samples > 1`` the temperature must be above 0."""
    params = (judge.identity.get("params") or {}) if judge is not None else {}
    if samples > 1 and params.get("temperature") == 0:
        raise LLMGraderError(
            f"samples={samples} asks each item {samples} times, but at temperature 0 every answer is "
            f"the same: set a temperature above 0 (e.g. --temperature {SAMPLING_TEMPERATURE} or "
            f"ModelSettings(temperature={SAMPLING_TEMPERATURE}))"
        )


def _check_budget(request: JudgeRequest, judge: Judge, conversation_id: str) -> None:
    """Refuse a request over the judge's prompt budget: an over-long input is never sent blindly."""
    budget = getattr(judge, "prompt_budget", None)
    size = prompt_size(request)
    if budget is not None and size > budget:
        raise LLMGraderError(
            f"{conversation_id}: the prompt is {size:,} characters, over the budget of {budget:,} "
            "(ModelSettings.max_prompt_chars / --max-prompt-chars); not sent"
        )


def _failed_card(grader: Grader, conversation: Conversation, exc: BaseException) -> Scorecard:
    """The scorecard of a conversation that could not be graded: every item unscored, the reason kept."""
    reason = str(exc) if isinstance(exc, LLMGraderError) else f"{type(exc).__name__}: {exc}"
    return score(grader.rubric, [], conversation_id=conversation.id, model=grader.model, errors=[reason])


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


def _located(conversation: Conversation, turn: int, quote: str, item: Item) -> Evidence:
    found = verify_quote(conversation, turn, quote, speakers=item.evidence_from)
    if isinstance(found, Evidence):
        return found
    # The validator already verified it; keep it visible (and unverified) rather than drop it.
    return Evidence(turn=turn, speaker="", quote=quote, start_char=-1, end_char=-1, verified=False)
