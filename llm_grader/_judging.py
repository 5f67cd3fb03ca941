"""Model-judged items of one conversation: the requests, the calls, and the judgements.

Strategies (``GraderConfig.strategy``):

- ``item`` (default): one call per item. Every request of a conversation carries the same
  answer schema, system and transcript, so they agree byte for byte up to the item block
  and a provider's prompt cache reuses that prefix for every item after the first.
- ``category``: one call per category, answering all its model items at once;
  ``conversation``: one call for all the model items of the card. Each entry of a grouped
  answer is checked exactly as its item's own answer (tier, flags, quotes); an entry that
  is missing or fails is asked again alone, with the item strategy.

Fewer calls and fewer prompt tokens, against items judged side by side in one answer:
the calibration harness (``llm-grader calibrate --strategy …``) measures what that costs
in agreement with human graders, per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ._answers import (
    Answer,
    abstained,
    answer_model,
    answer_shape,
    check_entry,
    checked_model,
    flag_values,
    group_model,
    located,
)
from ._confidence import answer_distributions, combine, item_confidence
from ._decomposed import by_checks
from ._messages import text
from ._progress import traced_call
from ._prompting import Prompts, compile_group_messages, compile_messages, shared_messages
from ._sampling import Vote, majority_occurrences, majority_verdict
from .conversation import Conversation
from .errors import LLMGraderError
from .llm import Judge, JudgeRequest, ModelResult, Pacer
from .rubric import Item, Rubric
from .types import NOT_APPLICABLE, Audit, Judgement, Occurrence, RuleConflict, Usage

Strategy = Literal["item", "category", "conversation"]
STRATEGIES: tuple[Strategy, ...] = ("item", "category", "conversation")


@dataclass
class _Sampled:
    """One item's outcome for one sample: an answer, or the failure."""

    answer: Any = None
    raw: str | None = None
    error: str | None = None
    kind: str = "ok"
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    prompt_hash: str = ""
    group: tuple[str, ...] = ()
    tier_probs: dict[str, float] | None = None  # read from the content's token logprobs


class ItemJudging:
    """Builds and sends the model requests of one rubric, and turns answers into judgements.

    One per :class:`~llm_grader._grader.Grader`: the shared answer schema and every item's
    checked model are built once and reused for every conversation.
    """

    def __init__(
        self,
        rubric: Rubric,
        prompts: Prompts,
        *,
        strategy: Strategy = "item",
        samples: int = 1,
        min_agreement: float = 0.6,
        show_points: bool | None = None,
    ) -> None:
        self.rubric = rubric
        self.prompts = prompts
        self.strategy = strategy
        self.samples = samples
        self.min_agreement = min_agreement
        self.show_points = show_points
        self.shape = answer_shape(rubric)
        self.shared_model = answer_model(prompts, self.shape)
        self.shared_schema = self.shared_model.model_json_schema()
        self._group_model: tuple[type[Answer], dict[str, Any]] | None = None
        self._checked: dict[str, type[Answer]] = {}
        self._category = {item.id: category.id for category, item in rubric.items()}

    # ------------------------------------------------------------------ requests

    def checked(self, item: Item) -> type[Answer]:
        """``item``'s answer model: the shared schema with the item's checks (built once)."""
        if item.id not in self._checked:
            self._checked[item.id] = checked_model(self.shared_model, item, self.prompts)
        return self._checked[item.id]

    @property
    def grouped(self) -> tuple[type[Answer], dict[str, Any]]:
        """The grouped answer model and its schema (built on first use)."""
        if self._group_model is None:
            model = group_model(self.prompts, self.shape)
            self._group_model = (model, model.model_json_schema())
        return self._group_model

    def groups(self, items: Sequence[Item]) -> list[list[Item]]:
        """``items`` as the calls of the strategy: one each, per category, or all together."""
        if self.strategy == "item":
            return [[item] for item in items]
        if self.strategy == "conversation":
            return [list(items)]
        by_category: dict[str, list[Item]] = {}
        for item in items:
            by_category.setdefault(self._category[item.id], []).append(item)
        return list(by_category.values())

    def item_request(
        self, item: Item, shown: Conversation, sample: int = 0, shared: list[dict[str, str]] | None = None
    ) -> JudgeRequest:
        """The request for one item alone."""
        messages = compile_messages(
            rubric=self.rubric,
            item=item,
            conversation=shown,
            prompts=self.prompts,
            shared=shared,
            sample=sample,
            show_points=self.show_points,
        )
        return JudgeRequest(
            messages=messages,
            response_model=self.checked(item),
            schema=self.shared_schema,
            item_id=item.id,
            item_ids=(item.id,),
            sample=sample,
            context={"conversation": shown},
        )

    def group_request(
        self,
        items: list[Item],
        shown: Conversation,
        sample: int = 0,
        shared: list[dict[str, str]] | None = None,
    ) -> JudgeRequest:
        """The request for the items of one group (strategy item: :meth:`item_request`).

        Grouped strategies send even a one-item group in the group schema, so that every request
        of a conversation carries the same schema (the cacheable prefix).
        """
        if self.strategy == "item":
            return self.item_request(items[0], shown, sample, shared)
        model, schema = self.grouped
        messages = compile_group_messages(
            rubric=self.rubric,
            items=items,
            conversation=shown,
            prompts=self.prompts,
            shared=shared,
            sample=sample,
            show_points=self.show_points,
        )
        ids = tuple(item.id for item in items)
        return JudgeRequest(
            messages=messages,
            response_model=model,
            schema=schema,
            item_id="+".join(ids),
            item_ids=ids,
            sample=sample,
            context={"conversation": shown},
        )

    def plan(self, items: Sequence[Item], shown: Conversation) -> list[JudgeRequest]:
        """Every first-attempt request for ``items`` (all samples), in the order they are sent."""
        shared = shared_messages(rubric=self.rubric, conversation=shown, prompts=self.prompts)
        return [
            self.group_request(group, shown, sample, shared)
            for group in self.groups(items)
            for sample in range(self.samples)
        ]

    # ------------------------------------------------------------------ calls

    async def _call(
        self, judge: Judge, request: JudgeRequest, pacer: Pacer, conversation_id: str
    ) -> ModelResult:
        _check_budget(request, judge, conversation_id)
        return await pacer.run(traced_call(judge, request, conversation_id))

    async def _alone(
        self,
        item: Item,
        shown: Conversation,
        sample: int,
        judge: Judge,
        pacer: Pacer,
        shared: list[dict[str, str]],
    ) -> _Sampled:
        request = self.item_request(item, shown, sample, shared)
        result = await self._call(judge, request, pacer, shown.id)
        return _Sampled(
            answer=result.answer,
            raw=result.raw,
            error=result.error,
            kind=result.kind,
            usage=result.usage,
            attempts=result.attempts,
            prompt_hash=request.prompt_hash,
            tier_probs=answer_distributions([(item, result.answer)], result.logprobs)[0],
        )

    async def _group(
        self,
        items: list[Item],
        shown: Conversation,
        sample: int,
        judge: Judge,
        pacer: Pacer,
        shared: list[dict[str, str]],
    ) -> dict[str, _Sampled]:
        request = self.group_request(items, shown, sample, shared)
        result = await self._call(judge, request, pacer, shown.id)
        hashed = request.prompt_hash
        entries = {e.item_id: e for e in getattr(result.answer, "answers", [])}
        by_id = {item.id: item for item in items}
        probs = answer_distributions([(by_id.get(i), e) for i, e in entries.items()], result.logprobs)
        out: dict[str, _Sampled] = {}
        ids = tuple(item.id for item in items)
        for item in items:
            entry = entries.get(item.id)
            answer = None
            if entry is not None:
                answer, _ = check_entry(entry, self.checked(item), request.context or {})
            if answer is None:  # missing or invalid: this item is asked again, alone
                out[item.id] = await self._alone(item, shown, sample, judge, pacer, shared)
                continue
            out[item.id] = _Sampled(
                answer=answer,
                raw=answer.model_dump_json(),
                prompt_hash=hashed,
                group=ids,
                attempts=result.attempts if item is items[0] else 0,
                tier_probs=dict(zip(entries, probs, strict=True)).get(item.id),
            )
        # The grouped call's usage is booked once, on the first item it answered.
        first = items[0].id
        out[first] = replace(out[first], usage=out[first].usage + result.usage)
        return out

    async def judge_items(
        self, items: Sequence[Item], shown: Conversation, judge: Judge, pacer: Pacer
    ) -> dict[str, Judgement]:
        """Judge ``items`` of one conversation (items back to back), by the configured strategy."""
        shared = shared_messages(rubric=self.rubric, conversation=shown, prompts=self.prompts)
        sampled: dict[str, list[_Sampled]] = {item.id: [] for item in items}
        for group in self.groups(items):
            for sample in range(self.samples):
                if self.strategy == "item":
                    sampled[group[0].id].append(
                        await self._alone(group[0], shown, sample, judge, pacer, shared)
                    )
                    continue
                for item_id, outcome in (
                    await self._group(group, shown, sample, judge, pacer, shared)
                ).items():
                    sampled[item_id].append(outcome)
        return {item.id: self._judgement(item, sampled[item.id], judge) for item in items}

    # ------------------------------------------------------------------ answers → judgements

    def _judgement(self, item: Item, results: list[_Sampled], judge: Judge) -> Judgement:
        usage = sum((r.usage for r in results), Usage())
        group = next((r.group for r in results if r.group), ())
        audit = Audit(
            prompt_hash=results[0].prompt_hash,
            model=str(judge.identity.get("model")),
            mode=str(judge.identity.get("mode")),
            rubric_version=self.rubric.version,
            raw=[r.raw for r in results] if self.samples > 1 else results[0].raw,
            attempts=sum(r.attempts for r in results),
            group=list(group) if group else None,
        )
        answers = [r.answer for r in results if r.answer is not None]
        if not answers:
            failed = results[-1]
            audit = audit.model_copy(update={"failure": failed.kind})
            return Judgement(item_id=item.id, error=failed.error, needs_review=True, usage=usage, audit=audit)
        unsure = [a for a in answers if abstained(a)]
        if unsure and 2 * len(unsure) >= len(answers):  # a tie abstains too: never a guess
            return self._abstained(item, unsure, audit, usage)
        probs = [r.tier_probs for r in results if r.answer is not None and not abstained(r.answer)]
        sure = [a for a in answers if not abstained(a)]
        if item.deduction is not None:
            judged = self._deduction(item, sure, audit, usage)
        else:
            judged = self._tiered(item, sure, audit, usage, probs)
        if unsure:  # a minority of the samples abstained: the majority stands, for review
            note = text("grader.some_unsure", self.rubric.language, n=len(unsure), k=self.samples)
            judged = replace(judged, needs_review=True, rationale=f"{judged.rationale}\n{note}")
        return judged

    def _abstained(self, item: Item, unsure: Sequence[Any], audit: Audit, usage: Usage) -> Judgement:
        """The model could not determine the item: unscored, for review, its reason kept."""
        chosen = min(unsure, key=lambda a: a.model_dump_json())  # whatever the order
        reason = chosen.cannot_determine_reason.strip()
        if self.samples > 1:
            audit = audit.model_copy(update={"agreement": len(unsure) / self.samples})
        return Judgement(
            item_id=item.id,
            error=text("grader.cannot_determine", self.rubric.language, reason=reason),
            abstained=True,
            rationale=chosen.rationale,
            needs_review=True,
            usage=usage,
            audit=audit,
        )

    def _low_agreement(self, share: float, votes: int, kept: str) -> str:
        return text(
            "grader.low_agreement",
            self.rubric.language,
            k=self.samples,
            n=votes,
            tier=kept,
            share=share,
            threshold=self.min_agreement,
        )

    def _deduction(self, item: Item, answers: Sequence[Any], audit: Audit, usage: Usage) -> Judgement:
        samples = [
            [
                Occurrence(**found.model_dump(), severe=o.severe)
                for o, found in zip(answer.occurrences, located(answer), strict=True)
            ]
            for answer in answers
        ]
        occurrences, share = majority_occurrences(samples)
        rationale = min(answers, key=lambda a: a.model_dump_json()).rationale  # whatever the order
        needs_review = False
        if self.samples > 1:
            audit = audit.model_copy(update={"agreement": share})
            if share < self.min_agreement:
                needs_review = True
                kept = ", ".join(f"turn {o.turn}" for o in occurrences) or "∅"
                rationale += "\n" + self._low_agreement(share, round(share * len(answers)), kept)
        confidence = combine(agreeing=round(share * len(answers)), samples=self.samples)
        return Judgement(
            item_id=item.id,
            occurrences=occurrences,
            evidence=occurrences,
            rationale=rationale,
            needs_review=needs_review,
            confidence=confidence,
            usage=usage,
            audit=audit,
        )

    def _tiered(
        self, item: Item, answers: Sequence[Any], audit: Audit, usage: Usage, probs: list[Any]
    ) -> Judgement:
        """The samples' verdict (:func:`~llm_grader._sampling.majority_verdict`), whatever their order.

        A flag the samples disagree on lowers the agreement and sends the item to review.
        """
        decided = [by_checks(item, a, self.rubric.language) if item.checks else None for a in answers]
        if bad := next((d for d in decided if d and d.error), None):
            return Judgement(item_id=item.id, error=bad.error, needs_review=True, usage=usage, audit=audit)
        raised = [flag_values(a) for a in answers]
        votes = [
            Vote(
                tier=d.tier if d else a.tier,
                flags={f.id: bool(given.get(f.id, False) or (d and f.id in d.flags)) for f in item.flags},
                evidence=located(a),
                key=a.model_dump_json(),
            )
            for a, d, given in zip(answers, decided, raised, strict=True)
        ]
        verdict = majority_verdict(votes, {t.id: item.tier_points(t) for t in item.tiers})
        tier, needs_review = verdict.tier, False
        rationale = answers[verdict.chosen].rationale
        measured, chosen = None, decided[verdict.chosen]
        if chosen is not None and chosen.results is not None:
            audit = audit.model_copy(update={"checks": chosen.results})
            measured = float(len(chosen.failed))
            rationale += "\n" + chosen.line
        if self.samples > 1:
            share = verdict.agreeing / self.samples
            audit = audit.model_copy(
                update={
                    "agreement": share,
                    "tiers": verdict.tier_votes,
                    "flag_votes": verdict.flag_votes or None,
                }
            )
            votes_for = verdict.tier_votes[tier]
            notes = [
                text(
                    "grader.flag_split", self.rubric.language, k=self.samples, n=verdict.flag_votes[f], flag=f
                )
                for f in verdict.split
            ]
            if votes_for / self.samples < self.min_agreement:
                notes.insert(0, self._low_agreement(votes_for / self.samples, votes_for, tier))
            needs_review = share < self.min_agreement or bool(notes)
            rationale = "\n".join([rationale, *notes])
        if item.checks:  # the tier is computed from the checks: the model's tier tokens do not tell it
            probs = [None] * len(answers)
        confidence, mean = item_confidence(verdict.agreeing_samples, self.samples, probs, tier)
        audit = audit.model_copy(update={"tier_probs": mean}) if mean else audit
        return Judgement(
            item_id=item.id,
            tier=None if tier == NOT_APPLICABLE else tier,
            not_applicable=tier == NOT_APPLICABLE,
            evidence=verdict.evidence,
            rationale=rationale,
            flags=verdict.flags,
            measured=measured,
            needs_review=needs_review,
            confidence=confidence,
            usage=usage,
            audit=audit.model_copy(update={"na_source": "model"}) if tier == NOT_APPLICABLE else audit,
        )


def _check_budget(request: JudgeRequest, judge: Judge, conversation_id: str) -> None:
    """Refuse a request over the judge's prompt budget: an over-long input is never sent blindly."""
    budget, size = judge.prompt_budget, request.size
    if budget is not None and size > budget:
        raise LLMGraderError(
            f"{conversation_id}: the prompt is {size:,} characters, over the budget of {budget:,} "
            "(ModelSettings.max_prompt_chars / --max-prompt-chars); not sent"
        )


def open_flags(item: Item, judgement: Judgement | None) -> bool:
    """A hybrid decided by its rule whose flags the rule could not answer (only a model can)."""
    return (
        judgement is not None
        and judgement.audit.decided_by == "rule"
        and any(f.id not in judgement.flags for f in item.flags)
    )


def merge_flags(item: Item, decided: Judgement, asked: Judgement) -> Judgement:
    """The rule's tier, evidence and rationale, with the flags the model answered (and its evidence).

    The model's rationale goes to ``audit.model_rationale``; a model tier other than the rule's
    to ``audit.rule_conflict`` (the rule's tier stands).

    The rule decides the tier of a hybrid when it fires; the model is asked only because the
    item has flags (e.g. a service taboo) no rule can see. A failed model answer leaves those
    flags undetermined — overrides on them stay pending — and marks the item for review.
    """
    if asked.error is not None:
        audit = decided.audit.model_copy(update={"failure": asked.audit.failure})
        return replace(
            decided,
            needs_review=True,
            usage=asked.usage,
            audit=audit,
            rationale=f"{decided.rationale}\n{asked.error}",
        )
    flags = {f.id: bool(decided.flags.get(f.id) or asked.flags.get(f.id)) for f in item.flags}
    # The model's evidence first: it is what an override on its flags (e.g. fatal) cites.
    seen = {(e.turn, e.quote) for e in asked.evidence}
    evidence = (*asked.evidence, *(e for e in decided.evidence if (e.turn, e.quote) not in seen))
    # The rationale shown is the rule's (it decided); the model's is kept apart, and a model
    # tier that contradicts the rule is a recorded fact, not a sentence glued to the rule's.
    model_tier = NOT_APPLICABLE if asked.not_applicable else asked.tier
    conflict = None
    if model_tier is not None and decided.tier is not None and model_tier != decided.tier:
        conflict = RuleConflict(rule_tier=decided.tier, model_tier=model_tier)
    audit = asked.audit.model_copy(
        update={
            "decided_by": "rule",
            "na_source": None,
            "model_rationale": asked.rationale,
            "rule_conflict": conflict,
        }
    )
    return replace(
        decided,
        flags=flags,
        evidence=evidence,
        rationale=decided.rationale,
        needs_review=decided.needs_review or asked.needs_review,
        usage=asked.usage,
        audit=audit,
    )
