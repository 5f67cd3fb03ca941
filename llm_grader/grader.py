"""Orchestration: judge every item of a conversation and score it; batches to JSONL.

Rule items are judged by :mod:`llm_grader.rules`; model-judged items by one structured
call each through :mod:`llm_grader.llm` (items of one conversation back to back, so the
shared prompt prefix is cached by the provider). Without a model (rules only) model-judged
items are unscored with the reason — never zero or full.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from .errors import LLMGraderError
from .evidence import verify_quote
from .llm import ModelClient, ModelResult, ModelSettings, ResultCache
from .prompting import NOT_APPLICABLE, Templates, compile_messages, prompt_hash, response_model
from .rubric import Item, Rubric, item_fingerprint, load_rubric
from .rules import applicability_reason, judge_rule
from .scoring import Scorecard, score
from .types import Audit, Evidence, Judgement, Occurrence, Usage
from .transcript import Conversation, mask_personal_data

__all__ = ["DEFAULT_CACHE", "Grader", "ResultsWriter", "read_results"]

_T = TypeVar("_T")

DEFAULT_CACHE = Path(".llm-grader-cache") / "answers.sqlite"
"""Where answers are cached unless ``cache=`` says otherwise (relative to the working directory)."""

_TEXT = {
    "zh": {
        "not_graded": "未评分:该项需由模型评判,当前未配置模型(仅规则模式)",
        "not_applicable": "不适用:{reason}",
        "low_agreement": "{k} 次采样中只有 {n} 次给出 {tier},一致率 {share:.0%} 低于 {threshold:.0%}",
    },
    "en": {
        "not_graded": "not graded: a model-judged item and no model is configured (rules only)",
        "not_applicable": "not applicable: {reason}",
        "low_agreement": "only {n} of {k} samples gave {tier}: agreement {share:.0%} below {threshold:.0%}",
    },
}


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


class Grader:
    """Grades conversations against one rubric.

    ``Grader(rubric)`` grades the rule items only; ``Grader(rubric, model="gpt-4o-mini")``
    (with ``base_url``/``api_key`` or ``OPENAI_BASE_URL``/``OPENAI_API_KEY``) grades every item.
    ``mask_pii`` (default on) masks phone, ID-card and bank-card numbers before any text
    leaves the machine. ``samples=k`` asks k times and takes the majority tier; below
    ``min_agreement`` the item is marked for review.
    """

    def __init__(
        self,
        rubric: Rubric | str | Path,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        settings: ModelSettings | None = None,
        cache: str | Path | None = DEFAULT_CACHE,
        concurrency: int = 8,
        requests_per_minute: float | None = None,
        samples: int = 1,
        min_agreement: float = 0.6,
        mask_pii: bool = True,
        prompts_dir: Path | None = None,
    ) -> None:
        self.rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
        if settings is None and model is not None:
            settings = ModelSettings.from_env(model=model, base_url=base_url, api_key=api_key)
        self.settings = settings
        self.model = settings.model if settings else None
        self.cache_path = Path(cache) if cache is not None and settings is not None else None
        self.concurrency = concurrency
        self.requests_per_minute = requests_per_minute
        self.samples = max(1, samples)
        self.min_agreement = min_agreement
        self.mask_pii = mask_pii
        self._prompts_dir = prompts_dir
        self.templates = Templates.load(self.rubric.language, prompts_dir) if settings else None
        self._text = _TEXT.get(self.rubric.language, _TEXT["zh"])
        self._models: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {}

    def _response_model(self, item: Item) -> tuple[type[BaseModel], dict[str, Any]]:
        """The item's response model and its JSON schema, built once per grader."""
        if item.id not in self._models:
            model = response_model(item, language=self.rubric.language)
            self._models[item.id] = (model, model.model_json_schema())
        return self._models[item.id]

    # ------------------------------------------------------------------ one item

    def _precheck(self, item: Item, conversation: Conversation) -> Judgement | None:
        reason = applicability_reason(item, conversation, language=self.rubric.language)
        if reason is not None:
            policy = item.applicability.policy if item.applicability else None
            return Judgement(
                item_id=item.id,
                not_applicable=True,
                na_policy=policy,
                rationale=self._text["not_applicable"].format(reason=reason),
            )
        if item.judge == "rule":
            return judge_rule(item, conversation, language=self.rubric.language)
        if self.settings is None:
            return Judgement.unscored(item.id, self._text["not_graded"])
        return None

    def messages(self, item: Item, conversation: Conversation) -> list[dict[str, str]]:
        """The exact messages sent for one item (after masking)."""
        return self._compile(item, self._shown(conversation))

    def _shown(self, conversation: Conversation) -> Conversation:
        """The conversation as it leaves the machine (personal numbers masked unless disabled)."""
        return mask_personal_data(conversation) if self.mask_pii else conversation

    def _compile(self, item: Item, shown: Conversation) -> list[dict[str, str]]:
        if self.templates is None:  # a rules-only grader loads the prompts on first use, once
            self.templates = Templates.load(self.rubric.language, self._prompts_dir)
        return compile_messages(rubric=self.rubric, item=item, conversation=shown, templates=self.templates)

    async def _judge_model(
        self, item: Item, conversation: Conversation, client: ModelClient, pacer: _Pacer
    ) -> Judgement:
        assert self.settings is not None
        shown = self._shown(conversation)
        messages = self._compile(item, shown)
        model, schema = self._response_model(item)
        language = self.rubric.language
        results: list[ModelResult] = []
        for sample in range(self.samples):
            call = functools.partial(
                client.judge,
                messages,
                model,
                schema=schema,
                conversation=shown,
                language=language,
                sample=sample,
            )
            results.append(await pacer.run(call))
        usage = sum((r.usage for r in results), Usage())
        audit = Audit(
            prompt_hash=prompt_hash(messages, schema),
            model=self.settings.model,
            mode=self.settings.effective_mode,
            rubric_version=self.rubric.version,
            raw=[r.raw for r in results] if self.samples > 1 else results[0].raw,
            attempts=sum(r.attempts for r in results),
        )
        good = [r for r in results if r.answer is not None]
        if not good:
            failed = results[-1]
            audit = audit.model_copy(update={"failure": failed.kind})
            return Judgement(item_id=item.id, error=failed.error, needs_review=True, usage=usage, audit=audit)
        judgement = self._from_answer(item, shown, good, audit, usage)
        return judgement

    def _from_answer(
        self, item: Item, shown: Conversation, good: list[ModelResult], audit: Audit, usage: Usage
    ) -> Judgement:
        language = self.rubric.language
        answers: list[Any] = [r.answer for r in good]
        if item.deduction is not None:
            data = answers[0].model_dump()
            occurrences = tuple(
                Occurrence(
                    **_located(shown, o["turn"], o["quote"], language).model_dump(), severe=o["severe"]
                )
                for o in data["occurrences"]
            )
            return Judgement(
                item_id=item.id,
                occurrences=occurrences,
                evidence=occurrences,
                rationale=data["rationale"],
                usage=usage,
                audit=audit,
            )
        tiers = Counter(a.tier for a in answers)
        tier, votes = tiers.most_common(1)[0]
        chosen = next(a for a in answers if a.tier == tier)
        data = chosen.model_dump()
        needs_review = False
        rationale = data["rationale"]
        if self.samples > 1:
            share = votes / self.samples
            audit = audit.model_copy(update={"agreement": share, "tiers": dict(tiers)})
            if share < self.min_agreement:
                needs_review = True
                rationale += "\n" + self._text["low_agreement"].format(
                    k=self.samples, n=votes, tier=tier, share=share, threshold=self.min_agreement
                )
        evidence = tuple(_located(shown, e["turn"], e["quote"], language) for e in data["evidence"])
        flags = {k: bool(v) for k, v in (data.get("flags") or {}).items()}
        return Judgement(
            item_id=item.id,
            tier=None if tier == NOT_APPLICABLE else tier,
            not_applicable=tier == NOT_APPLICABLE,
            evidence=evidence,
            rationale=rationale,
            flags=flags,
            needs_review=needs_review,
            usage=usage,
            audit=audit,
        )

    # ------------------------------------------------------------------ one conversation

    async def agrade(
        self, conversation: Conversation, *, _client: ModelClient | None = None, _pacer: _Pacer | None = None
    ) -> Scorecard:
        """Grade one conversation (async)."""
        own = None
        if self.settings is not None and _client is None:
            own = _client = self._client()
        pacer = _pacer or _Pacer(self.concurrency, self.requests_per_minute)
        try:
            judgements = []
            for _, item in self.rubric.items():
                judgement = self._precheck(item, conversation)
                source = "applicability" if judgement is not None and judgement.not_applicable else "model"
                if judgement is None:
                    assert _client is not None
                    judgement = await self._judge_model(item, conversation, _client, pacer)
                audit = judgement.audit.model_copy(
                    update={
                        "item_hash": item_fingerprint(item),
                        "na_source": source if judgement.not_applicable else None,
                    }
                )
                judgements.append(dataclasses.replace(judgement, audit=audit))
        finally:
            if own is not None:
                await own.close()
        return score(
            self.rubric,
            judgements,
            conversation_id=conversation.id,
            model=self.model,
            metadata={"channel": conversation.channel, **conversation.metadata},
        )

    def grade(self, conversation: Conversation) -> Scorecard:
        """Grade one conversation."""
        return _run_sync(self.agrade(conversation))

    def _client(self) -> ModelClient:
        assert self.settings is not None
        cache = ResultCache(self.cache_path) if self.cache_path is not None else None
        return ModelClient(self.settings, cache=cache)

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
        client = self._client() if self.settings is not None else None
        pacer = _Pacer(self.concurrency, self.requests_per_minute)
        # Bound the conversations in progress too, so results stream out in a steady order.
        slots = asyncio.Semaphore(max(1, self.concurrency))
        cards: list[Scorecard] = []

        async def one(conversation: Conversation) -> None:
            async with slots:
                try:
                    card = await self.agrade(conversation, _client=client, _pacer=pacer)
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
            if client is not None:
                await client.close()
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
        return _run_sync(
            self.agrade_many(conversations, output=output, resume=resume, on_scorecard=on_scorecard)
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


def _located(conversation: Conversation, turn: int, quote: str, language: str) -> Evidence:
    found = verify_quote(conversation, turn, quote, language=language)
    if isinstance(found, Evidence):
        return found
    # The validator already verified it; keep it visible rather than drop it if not.
    return Evidence(turn=turn, speaker="", quote=quote, start_char=-1, end_char=-1, verified=False)


class ResultsWriter:
    """Append-only JSONL of scorecards: one complete line per conversation, flushed at once.

    On open with ``resume``, a torn last line (from a killed run) is cut off and the ids
    already written are in ``done``; without ``resume`` the file is replaced.
    """

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        self.path = Path(path)
        self.done: set[str] = set()
        if resume and self.path.exists():
            self._repair()
            self.done = {card.conversation_id for card in read_results(self.path)}
        elif self.path.exists():
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def _repair(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def write(self, card: Scorecard) -> None:
        """Append one scorecard as one line with a single write, and make it durable."""
        self._file.write(card.model_dump_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_results(path: str | Path) -> Iterator[Scorecard]:
    """Read scorecards from a results JSONL file; a torn last line is ignored."""
    with Path(path).open(encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield Scorecard.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValueError) as exc:
            if number == len(lines):  # no newline yet: a line being written when a run died
                return
            raise LLMGraderError(f"{path}:{number}: not a scorecard: {exc}") from None
