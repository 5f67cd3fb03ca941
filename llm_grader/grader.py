"""Orchestration: judge every item of a conversation and score it; batches to JSONL.

Rule items are judged by :mod:`llm_grader.rules`; model-judged items by one structured
call each through a :class:`~llm_grader.model.Judge` (items of one conversation back to
back, so the shared prompt prefix is cached by the provider). Without a model (rules only)
model-judged items are unscored with the reason — never zero or full.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sized
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .answers import Answer
from .arguments import checked_judge, many_conversations, one_conversation, settings_options
from .config import GraderConfig, grader_config
from .conversation import Conversation, Conversations, mask_conversation
from .errors import LLMGraderError, ModelConfigurationError
from .judging import ItemJudging, merge_flags, open_flags
from .messages import text
from .model import Judge, JudgeRequest, ModelSettings, Pacer, build_judge
from .progress import ProgressCallback, progress_reporter, traced_grade
from .prompting import Prompts, compile_messages
from .results import ResultsWriter
from .rubric import Item, Rubric, item_fingerprint, load_rubric
from .rules import applicability_reason, judge_hybrid, judge_rule
from .scoring import Scorecard, score
from .types import Audit, Judgement

if TYPE_CHECKING:
    from .batching import BatchState

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
        settings = settings_options(model, options)
        self.config = grader_config(config, options)
        self.judge: Judge | None = None
        if isinstance(model, str) and (settings or self.config.samples > 1):
            if self.config.samples > 1:
                # Sampling means something only above temperature 0: a name alone gets SAMPLING_TEMPERATURE.
                settings.setdefault("temperature", SAMPLING_TEMPERATURE)
            model = ModelSettings.from_env(model=model, **settings)
        if isinstance(model, (str, ModelSettings)):
            self.judge = build_judge(model, cache=self.config.cache_path)
        elif model is not None:
            self.judge = checked_judge(model)
        _check_sampling(self.judge, self.config.samples)
        self.model: str | None = str(self.judge.identity["model"]) if self.judge else None
        self._prompts: Prompts | None = None
        self._judging: ItemJudging | None = None
        self._fingerprints: dict[str, str] = {}

    @property
    def prompts(self) -> Prompts:
        """The prompts in the rubric's language (loaded once, on first use)."""
        if self._prompts is None:
            self._prompts = Prompts.load(self.rubric.language, self.config.prompts_dir)
        return self._prompts

    @property
    def judging(self) -> ItemJudging:
        """The model-item requests and answers of this grader (answer models built once)."""
        if self._judging is None:
            self._judging = ItemJudging(
                self.rubric,
                self.prompts,
                strategy=self.config.strategy,
                samples=self.config.samples,
                min_agreement=self.config.min_agreement,
            )
        return self._judging

    def answer_model(self, item: Item) -> tuple[type[Answer], dict[str, Any]]:
        """The item's checked answer model and the JSON schema sent (shared by every item)."""
        return self.judging.checked(item), self.judging.shared_schema

    def plan(self, conversation: Conversation) -> list[JudgeRequest]:
        """The model requests grading ``conversation`` starts with (first attempts, every sample).

        Items decided without a model (rules, applicability) send nothing. Used for
        ``--dry-run`` estimates and to build Batch API files.
        """
        asked = self._decide(conversation)[1]
        return self.judging.plan(asked, self.shown(conversation)) if asked else []

    def _decide(self, conversation: Conversation) -> tuple[dict[str, Judgement | None], list[Item]]:
        """What rules decide before any call (None: the model's), and the items to ask the model.

        A hybrid its rule decided is asked too when the model is there and only it can answer
        the item's flags. Without a model nothing is asked (model items come back unscored).
        """
        decided = {item.id: self._precheck(item, conversation) for _, item in self.rubric.items()}
        if self.judge is None:
            return decided, []
        asked = [i for _, i in self.rubric.items() if decided[i.id] is None or open_flags(i, decided[i.id])]
        return decided, asked

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
        if item.decide_by_rule:  # a hybrid: decided here when one of its rules fires
            return judge_hybrid(item, conversation, language=language, model=self.judge is not None)
        if self.judge is None:
            return Judgement.unscored(item.id, text("grader.not_graded", language))
        return None

    def _fingerprint(self, item: Item) -> str:
        if item.id not in self._fingerprints:  # the rubric is frozen: once per item, not per card
            self._fingerprints[item.id] = item_fingerprint(item)
        return self._fingerprints[item.id]

    # ------------------------------------------------------------------ one conversation

    async def _agrade(self, conversation: Conversation, pacer: Pacer) -> Scorecard:
        shown, masked = self._masked(conversation) if self.judge is not None else (conversation, {})
        decided, asked = self._decide(conversation)
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
            audit = judgement.audit.model_copy(update={"item_hash": self._fingerprint(item)})
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
        return _run_sync(self._closing(self.agrade(one)))

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
        stopped: list[BaseException] = []

        async def one(index: int, conversation: Conversation) -> None:
            try:
                card = await self._guarded(conversation, pacer)
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
                if collect:
                    cards.append((index, card))
                reporter.advance(card)
            except BaseException as exc:
                stopped.append(exc)
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
            await asyncio.gather(*running)
        except BaseException:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
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
        cannot be written is reported to ``on_error(conversation_id, message)``. A
        :class:`~llm_grader.errors.ModelConfigurationError` (rejected key, unknown model,
        unreachable endpoint) stops the run at once. ``progress``: True (a bar) or a callback of Progress.

        ``conversations``: any iterable of conversations or dict records, read lazily (at most
        ``concurrency`` held at once), a DataFrame, a ``datasets.Dataset`` or a file/folder path
        (:func:`~llm_grader.arguments.many_conversations`). With ``collect=False`` nothing is
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
        return _run_sync(self._closing(batch))

    # ------------------------------------------------------------------ Batch API

    def submit_batch(
        self, conversations: Iterable[Conversation], *, state: str | Path, **options: Any
    ) -> BatchState:
        """Send the model requests as Batch API jobs (or pick up ``state``); see :mod:`.batching`."""
        from . import batching

        return _run_sync(batching.asubmit_batch(self, conversations, state=state, **options))

    def collect_batch(
        self,
        conversations: Iterable[Conversation],
        *,
        state: str | Path,
        output: str | Path | None = None,
        wait: bool = True,
        poll_interval: float = 30.0,
        progress: Callable[[BatchState], None] | None = None,
        **options: Any,
    ) -> list[Scorecard]:
        """Wait for the batch, then grade from its results (failures asked again); see :mod:`.batching`."""
        from . import batching

        collecting = batching.acollect_batch(
            self, conversations, state=state, output=output, wait=wait,
            poll_interval=poll_interval, progress=progress, **options,
        )  # fmt: skip
        return _run_sync(self._closing(collecting))


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
