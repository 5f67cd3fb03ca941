"""Orchestration: judge every item of a conversation and score it; batches to JSONL.

Rule items are judged by :mod:`llm_grader._rules`; model-judged items by one structured
call each through a :class:`~llm_grader.llm.Judge` (items of one conversation back to
back, so the shared prompt prefix is cached by the provider). Without a model (rules only)
model-judged items are unscored with the reason — never zero or full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sized
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ._answers import Answer
from ._arguments import checked_judge, many_conversations, one_conversation, settings_options
from ._batch_output import cancel_all, committed, stop_all
from ._confidence import routed
from ._config import GraderConfig, grader_config
from ._judging import ItemJudging, merge_flags
from ._planning import Planner
from ._progress import ProgressCallback, progress_reporter, traced_grade
from ._prompting import Prompts
from ._results import ResultsWriter
from ._running import run_sync
from .conversation import Conversation, Conversations
from .errors import LLMGraderError, ModelConfigurationError
from .llm import Judge, JudgeRequest, ModelSettings, Pacer, ResultCache, build_judge
from .rubric import Item, Rubric, load_rubric
from .scoring import Scorecard, score

_T = TypeVar("_T")
"""What a :class:`~llm_grader.llm.Judge` has."""


class Grader:
    """Grades conversations against one rubric.

    ``Grader(rubric)`` grades the rule items only. ``model`` is a model name (settings from
    ``OPENAI_BASE_URL``/``OPENAI_API_KEY``), a :class:`~llm_grader.llm.ModelSettings`, or any
    :class:`~llm_grader.llm.Judge` (e.g. :class:`~llm_grader.testing.FakeJudge`). Options
    are one :class:`GraderConfig`, given as ``config=`` or as its fields as keywords.
    Async users close connections with ``await grader.aclose()`` (or ``async with grader``).
    The Batch API is :func:`llm_grader.batch.submit_batch` / :func:`~llm_grader.batch.collect_batch`.
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
        settings = settings_options(model, options)
        self.config = grader_config(config, options)
        self.judge: Judge | None = None
        self.cache: ResultCache | None = None
        """The answer cache the grader put in front of its model (None when given a judge)."""
        if isinstance(model, str) and (settings or self.config.samples > 1):
            if self.config.samples > 1:
                # Sampling means something only above temperature 0: a name alone gets SAMPLING_TEMPERATURE.
                settings.setdefault("temperature", SAMPLING_TEMPERATURE)
            model = ModelSettings.from_env(model=model, **settings)
        if isinstance(model, (str, ModelSettings)):
            path = self.config.cache_path
            self.cache = ResultCache(path) if path is not None else None
            self.judge = build_judge(model, cache=self.cache)
        elif model is not None:
            self.judge = checked_judge(model)
        _check_sampling(self.judge, self.config.samples)
        self.model: str | None = str(self.judge.identity["model"]) if self.judge else None
        self.planner = Planner(self.rubric, self.config)
        """What grading asks the model, decided without it (:meth:`plan`)."""

    def with_judge(self, judge: Judge, *, config: GraderConfig | None = None) -> Grader:
        """The same grader (rubric, prompts, answer models) grading with another ``judge``.

        ``config`` replaces the options that do not change the requests (concurrency, rate,
        cache); one that changes them (strategy, samples, prompts, masking) is refused.
        """
        config = config or self.config
        changed = [f for f in _PLANNED if getattr(config, f) != getattr(self.config, f)]
        if changed:
            raise LLMGraderError(f"with_judge keeps the requests: {', '.join(changed)} cannot change")
        other = Grader(self.rubric, judge, config=config)
        other.planner = self.planner
        return other

    @property
    def prompts(self) -> Prompts:
        """The prompts in the rubric's language (loaded once, on first use)."""
        return self.planner.prompts

    @property
    def judging(self) -> ItemJudging:
        """The model-item requests and answers of this grader (answer models built once)."""
        return self.planner.judging

    def answer_model(self, item: Item) -> tuple[type[Answer], dict[str, Any]]:
        """The item's checked answer model and the JSON schema sent (shared by every item)."""
        return self.judging.checked(item), self.judging.shared_schema

    def plan(self, conversation: Conversation) -> list[JudgeRequest]:
        """The model requests grading ``conversation`` starts with (first attempts, every sample).

        Items decided without a model (rules, applicability) send nothing, and a grader
        without a model sends nothing at all. Used for ``--dry-run`` estimates; the planning
        itself needs no model (:class:`~llm_grader._planning.Planner`).
        """
        return self.planner.plan(conversation) if self.judge is not None else []

    def shown(self, conversation: Conversation) -> Conversation:
        """The conversation as it leaves the machine (personal data masked unless disabled)."""
        return self.planner.shown(conversation)

    def messages(self, item: Item, conversation: Conversation) -> list[dict[str, str]]:
        """The exact messages sent for one item (after masking)."""
        return self.planner.messages(item, conversation)

    # ------------------------------------------------------------------ one conversation

    async def _agrade(self, conversation: Conversation, pacer: Pacer) -> Scorecard:
        planner = self.planner
        shown, masked = planner.masked(conversation) if self.judge is not None else (conversation, {})
        decided, asked = planner.decide(conversation, model=self.judge is not None)
        if asked:
            assert self.judge is not None
            answers = await self.judging.judge_items(asked, shown, self.judge, pacer)
            for item in asked:  # a hybrid its rule decided keeps the rule's tier; the model adds its flags
                rule = decided[item.id]
                decided[item.id] = (
                    answers[item.id] if rule is None else merge_flags(item, rule, answers[item.id])
                )
        judgements = []
        for _, item in self.rubric.items():
            judgement = decided[item.id]
            assert judgement is not None
            judgement = routed(judgement, self.config.review_below, self.rubric.language)
            audit = judgement.audit.model_copy(update={"item_hash": planner.fingerprint(item)})
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

    async def agrade(self, conversation: Conversation | Mapping[str, Any]) -> Scorecard:
        """Grade one conversation (async); see :meth:`grade`."""
        return await self._agrade(
            one_conversation(conversation), Pacer(self.config.concurrency, self.config.requests_per_minute)
        )

    def grade(self, conversation: Conversation | Mapping[str, Any]) -> Scorecard:
        """Grade one conversation: a :class:`Conversation` or a dict shaped like a JSONL record.

        A dict is read as a JSONL line is (speaker aliases, times); a malformed one raises its
        :class:`~llm_grader.errors.ConversationError`. Anything else is refused with an
        :class:`~llm_grader.errors.LLMGraderError` saying what is expected.
        """
        one = one_conversation(conversation)  # refused before any connection opens
        return run_sync(self._closing(self.agrade(one)))

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
        conversations: Conversations | Iterable[Conversation | Mapping[str, Any]] | str | Path | Any,
        *,
        output: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        on_scorecard: Callable[[Scorecard], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        progress: bool | ProgressCallback = False,
        collect: bool = True,
    ) -> list[Scorecard]:
        """Grade many conversations concurrently; see :meth:`grade_many`."""
        conversations = many_conversations(conversations)
        writer = ResultsWriter(output, resume=resume, overwrite=overwrite) if output is not None else None
        done = writer.done if writer else set()
        total = sum(1 for c in conversations if c.id not in done) if isinstance(conversations, Sized) else 0
        pacer = Pacer(self.config.concurrency, self.config.requests_per_minute)
        reporter = progress_reporter(progress, total)
        # Conversations are read as slots free up: at most ``concurrency`` are in memory at once.
        slots = asyncio.Semaphore(self.config.concurrency)
        cards: list[tuple[int, Scorecard]] = []
        running: set[asyncio.Future[None]] = set()
        committing: set[asyncio.Future[None]] = set()
        """Conversations graded and written, waiting for their line's ``fsync``: never cancelled."""
        stopped: list[BaseException] = []

        async def one(index: int, conversation: Conversation) -> None:
            try:
                card = await self._guarded(conversation, pacer)
                if writer and not await committed(writer, card, reporter, on_error, committing):
                    return
                if on_scorecard:
                    on_scorecard(card)
                if collect:
                    cards.append((index, card))
                reporter.advance(card)
            except BaseException as exc:
                stopped.append(exc)
                if not isinstance(exc, asyncio.CancelledError):  # stop the others before they call again
                    for task in running.difference(committing, {asyncio.current_task()}):
                        task.cancel()
                raise
            finally:
                slots.release()

        try:
            for index, conversation in enumerate(conversations):
                if conversation.id in done:
                    continue
                await slots.acquire()
                if stopped:
                    slots.release()
                    break
                future = asyncio.ensure_future(one(index, conversation))
                running.add(future)
                future.add_done_callback(running.discard)
            if stopped:  # the run stopped (a full disk, a rejected key): no more calls for the rest
                await stop_all(running, committing)  # the lines written are still synced
            else:
                await asyncio.gather(*running)
        except BaseException:
            await cancel_all(running)
            raise
        finally:
            reporter.close()
            if writer:
                writer.close()
        if stopped:
            raise stopped[0]
        return [card for _, card in sorted(cards, key=lambda pair: pair[0])]

    async def _guarded(self, conversation: Conversation, pacer: Pacer) -> Scorecard:
        """One conversation of a batch: its scorecard, or a failed card that says why."""
        try:
            return await traced_grade(self._agrade(conversation, pacer), conversation.id)
        except ModelConfigurationError:
            raise  # every other conversation would fail the same way: stop the run
        except Exception as exc:  # one conversation never costs the rest
            return _failed_card(self, conversation, exc)

    def grade_many(
        self,
        conversations: Conversations | Iterable[Conversation | Mapping[str, Any]] | str | Path | Any,
        *,
        output: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        on_scorecard: Callable[[Scorecard], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        progress: bool | ProgressCallback = False,
        collect: bool = True,
    ) -> list[Scorecard]:
        """Grade conversations, appending each scorecard to ``output`` as it finishes.

        At most ``concurrency`` requests are in flight; items of one conversation go back
        to back. With ``resume``, ids already in ``output`` are skipped; an ``output`` that
        already holds scorecards is otherwise refused unless ``overwrite``. A conversation
        that fails is recorded with its error and the batch goes on; one whose scorecard
        cannot be serialised is reported to ``on_error(conversation_id, message)``. A
        :class:`~llm_grader.errors.ModelConfigurationError` (rejected key, unknown model,
        unreachable endpoint) or :class:`~llm_grader.errors.OutputWriteError` (a full disk:
        see :mod:`._batch_output`) stops the run at once, with no model call after it.
        ``progress``: True (a bar) or a callback of Progress.

        ``conversations``: any iterable of conversations or dict records, read lazily (at most
        ``concurrency`` held at once), a DataFrame, a ``datasets.Dataset`` or a file/folder path
        (:func:`~llm_grader._arguments.many_conversations`). With ``collect=False`` nothing is
        kept (scorecards go to ``output`` and ``on_scorecard``) and the list returned is empty —
        memory stays flat however many conversations stream through.
        """
        batch = self.agrade_many(
            conversations,
            output=output,
            resume=resume,
            overwrite=overwrite,
            on_scorecard=on_scorecard,
            on_error=on_error,
            progress=progress,
            collect=collect,
        )
        return run_sync(self._closing(batch))


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


SAMPLING_TEMPERATURE = 0.7
"""The temperature used with ``samples > 1`` when only a model name is given."""


_PLANNED = ("strategy", "samples", "min_agreement", "prompts_dir", "mask_pii", "show_points")
"""The options that change the requests (what :meth:`Grader.with_judge` keeps)."""


def _check_sampling(judge: Judge | None, samples: int) -> None:
    """Refuse k identical requests: with ``samples > 1`` the temperature must be above 0."""
    params = (judge.identity.get("params") or {}) if judge is not None else {}
    if samples > 1 and params.get("temperature") == 0:
        raise LLMGraderError(
            f"samples={samples} asks each item {samples} times, but at temperature 0 every answer is "
            f"the same: set a temperature above 0 (e.g. --temperature {SAMPLING_TEMPERATURE} or "
            f"ModelSettings(temperature={SAMPLING_TEMPERATURE}))"
        )


def _failed_card(grader: Grader, conversation: Conversation, exc: BaseException) -> Scorecard:
    """The scorecard of a conversation that could not be graded: every item unscored, the reason kept."""
    reason = str(exc) if isinstance(exc, LLMGraderError) else f"{type(exc).__name__}: {exc}"
    return score(grader.rubric, [], conversation_id=conversation.id, model=grader.model, errors=[reason])
