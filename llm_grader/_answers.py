"""The structured answers the model gives: one shared answer schema, checked per item.

Every model-judged item of a rubric is answered in the **same** schema (:func:`answer_model`):
``evidence`` (turn + verbatim quote), ``occurrences`` (deduction items), ``flags`` (each
yes/no question answered with its own evidence), ``checks`` (only in a rubric with decomposed
items: per check its evidence, then ``passed``), ``rationale``, ``tier`` and
``cannot_determine_reason`` — evidence, flags and checks before the verdict on purpose. ``tier``
may be ``cannot_determine`` (:data:`~llm_grader.types.CANNOT_DETERMINE`, any item): the model
abstains, saying why, and the item is left unscored for review — never a guess. Because tools /
response_format are byte-identical for every item, a conversation's requests share their
prefix up to the item block, which providers' prompt caches reuse (see ``prompting``).
What the schema holds is decided once per rubric (:func:`answer_shape`): when every model
item has the same tier ids, ``tier`` is an enum of them, so constrained decoding cannot
produce another; ``tier`` is required unless the rubric has model-judged deduction items.

What differs per item is checked on our side, by the item's *checked* model
(:func:`checked_model`, built once per item): the tier must be one of the item's tiers, the
flags exactly the item's flags, and every quote must be in a turn of the allowed speakers of
the conversation passed as the validation context (``context={"conversation": ...}``
given to pydantic, or :func:`validation_context` around a call that validates). An answer
that fails gets a message, in the prompt's language, that goes back to the model as a re-ask.
A checked answer keeps the evidence it located (turn, speaker, offsets; :func:`located`), so
quotes are verified once, by the validator, and never searched for again.

Grouped judging (:func:`group_model`) asks for several items in one call; its model checks
structure only, and each entry is then checked by its item's model (:func:`check_entry`),
so one bad entry is re-asked alone instead of failing the group.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)

from ._evidence import MIN_QUOTE_CHARS, QuoteNotFound, verify_quote
from ._prompting import Prompts
from .conversation import Conversation
from .errors import LLMGraderError
from .rubric import Item, Rubric
from .types import CANNOT_DETERMINE, NOT_APPLICABLE, Evidence

_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("llm_grader_validation_context", default=None)


@contextmanager
def validation_context(context: Mapping[str, Any] | None) -> Iterator[None]:
    """Make ``context`` the validation context of answers validated inside the block.

    For callers that cannot pass ``context=`` to pydantic themselves: instructor's
    ``context=`` argument also renders the messages as Jinja templates, which must never
    happen to a transcript, so the instructor judge validates inside this block instead.
    """
    token = _CONTEXT.set(context)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class Answer(BaseModel):
    """Base of every answer model: unknown fields are an error.

    A checked answer (:func:`checked_model`) also holds the evidence its validator located, one
    per quote cited (private: not in the schema, not dumped; read it with :func:`located`).
    """

    model_config = ConfigDict(extra="forbid")
    _located: tuple[Evidence, ...] | None = PrivateAttr(default=None)
    _located_checks: dict[str, tuple[Evidence, ...]] | None = PrivateAttr(default=None)


def located(answer: BaseModel) -> tuple[Evidence, ...]:
    """The evidence a checked answer's validator located: one per quote, in the answer's order.

    The quotes of the flags the answer raised, then of ``answer.evidence`` (or the quotes of
    ``answer.occurrences``, for a deduction item), then those of its checks (a decomposed item;
    by check: :func:`located_checks`), each with the turn it was found in, its speaker and its
    offsets. Raises ``LLMGraderError`` for an
    answer that no item's checked model validated (its quotes were never verified).
    """
    found = getattr(answer, "_located", None)
    if found is None:
        raise LLMGraderError(
            f"{type(answer).__name__}: an answer not validated by an item's checked model "
            "(checked_model) has no verified evidence"
        )
    return cast("tuple[Evidence, ...]", found)


def located_checks(answer: BaseModel) -> dict[str, tuple[Evidence, ...]]:
    """The verified evidence of each check of a decomposed item's checked answer, by check id.

    Empty for an item without checks (or a not-applicable answer). Raises ``LLMGraderError``
    for an answer that no item's checked model validated, like :func:`located`.
    """
    located(answer)
    return dict(getattr(answer, "_located_checks", None) or {})


class _Cited(Protocol):
    turn: int
    quote: str


EXTRA_TIERS: Final[tuple[str, ...]] = (CANNOT_DETERMINE,)
"""Answers every tiered item may give besides its tiers and ``not_applicable``; they join the
``tier`` enum of :func:`answer_shape`: the abstention answer (``cannot_determine``, with its
``cannot_determine_reason``; see :func:`abstained`), which is checked before the tier and so is
not among the :func:`tier_choices` a wrong tier's re-ask lists."""


def tier_choices(item: Item) -> list[str]:
    """The tier ids a model may answer for ``item`` (``not_applicable`` where allowed)."""
    return [t.id for t in item.tiers] + ([NOT_APPLICABLE] if item.not_applicable else [])


@dataclass(frozen=True)
class AnswerShape:
    """What a rubric's shared answer schema holds; the same for every item of the rubric.

    The default is the plain schema: ``tier`` a free string (checked per item), optional.
    """

    tiers: tuple[str, ...] | None = None
    """The ``tier`` enum, when every model item has the same tier ids (None: a checked string)."""
    tier_required: bool = False
    """Whether ``tier`` is required (every model item is tiered: none is a deduction)."""
    checks: bool = False
    """Whether the schema has ``checks`` (some item is decomposed into checks)."""


def answer_shape(rubric: Rubric) -> AnswerShape:
    """The shape of ``rubric``'s shared answer schema, from its model-judged items.

    When they all have the same tier ids (the flagship: good/fair/poor), ``tier`` is their enum,
    with ``not_applicable`` when some item allows it (and :data:`EXTRA_TIERS`): providers with
    constrained decoding cannot answer another, and the schema stays one for every item.
    """
    items = [item for _, item in rubric.items() if item.judge == "model"]
    tiered = bool(items) and all(item.deduction is None for item in items)
    tier_ids = {tuple(t.id for t in item.tiers) for item in items}
    enum = None
    if tiered and len(tier_ids) == 1:
        (shared,) = tier_ids
        na = (NOT_APPLICABLE,) if any(item.not_applicable for item in items) else ()
        enum = (*shared, *na, *EXTRA_TIERS)
    return AnswerShape(tiers=enum, tier_required=tiered, checks=any(item.checks for item in items))


def _flag_shorthand(data: Any) -> Any:
    # ``{"flag": true}`` (the answer shape before flags had evidence) is a flag without evidence.
    return {"answer": data} if isinstance(data, bool) else data


def _fields(prompts: Prompts, shape: AnswerShape) -> dict[str, Any]:
    d = prompts.text["fields"]
    quote = create_model(
        "Quote",
        __base__=Answer,
        turn=(int, Field(ge=1, description=d["turn"])),
        quote=(str, Field(min_length=1, description=d["quote"])),
    )
    occurrence = create_model(
        "Occurrence", __base__=quote, severe=(bool, Field(default=False, description=d["severe"]))
    )
    flag = create_model(
        "FlagAnswer",
        __base__=Answer,
        __validators__={
            "shorthand": cast("Callable[..., Any]", model_validator(mode="before")(_flag_shorthand))
        },
        evidence=(list[quote], Field(default_factory=list, description=d["flag_evidence"])),
        answer=(bool, Field(description=d["flag_answer"])),
    )
    evidence: tuple[Any, Any] = (list[quote], Field(default_factory=list, description=d["evidence"]))
    fields: dict[str, Any] = {
        "evidence": evidence,
        "occurrences": (list[occurrence], Field(default_factory=list, description=d["occurrences"])),
        "flags": (dict[str, flag], Field(default_factory=dict, description=d["flags"])),
    }
    if shape.checks:
        check = create_model(
            "CheckAnswer", __base__=Answer, evidence=evidence, passed=(bool, Field(description=d["passed"]))
        )
        fields["checks"] = (dict[str, check], Field(default_factory=dict, description=d["checks"]))
    # The enum is in the schema only: the value is checked per item (_tier_problem), so a wrong
    # tier is re-asked in the prompt's language by providers that do not constrain decoding.
    tier: dict[str, Any] = {"description": d["tier"]}
    if shape.tiers is not None:
        tier["json_schema_extra"] = {"enum": list(shape.tiers)}
    if not shape.tier_required:
        tier["default"] = ""
    # Field order is the order of generation: evidence, flags (each with its own evidence),
    # checks, rationale, then the verdict.
    return {
        **fields,
        "rationale": (str, Field(description=d["rationale"])),
        "tier": (str, Field(**tier)),
        "cannot_determine_reason": (str, Field(default="", description=d["cannot_determine_reason"])),
    }


def flag_values(answer: Any) -> dict[str, bool]:
    """An answer's flags as ``{flag id: answer}`` (their evidence is in :func:`located`)."""
    return {flag_id: bool(flag.answer) for flag_id, flag in answer.flags.items()}


def answer_model(prompts: Prompts, shape: AnswerShape | None = None) -> type[Answer]:
    """The answer schema shared by every item (structure only; see :func:`checked_model`).

    ``shape``: the rubric's :func:`answer_shape` (default: the plain schema).
    """
    return create_model("ItemAnswer", __base__=Answer, **_fields(prompts, shape or AnswerShape()))


def group_model(prompts: Prompts, shape: AnswerShape | None = None) -> type[Answer]:
    """The answer to several items in one call: ``answers``, one entry per item id."""
    d = prompts.text["fields"]
    entry = create_model(
        "ItemAnswerEntry",
        __base__=Answer,
        item_id=(str, Field(description=d["item_id"])),
        **_fields(prompts, shape or AnswerShape()),
    )
    return create_model(
        "ItemAnswers", __base__=Answer, answers=(list[entry], Field(description=d["answers"]))
    )


def response_model(item: Item, prompts: Prompts) -> type[Answer]:
    """The answer schema for ``item``: the shared one (kept for callers of the old per-item API)."""
    del item
    return answer_model(prompts)


def _reason(found: QuoteNotFound, speakers: Collection[str], prompts: Prompts) -> str:
    who = prompts.text["speakers"]
    return prompts.word(
        "quote_reasons",
        found.code,
        turn=found.turn,
        n=found.turns,
        found_turn=found.found_turn,
        found_speaker=who.get(found.found_speaker or "", found.found_speaker),
        allowed="/".join(who.get(s, s) for s in speakers),
        min=MIN_QUOTE_CHARS,
    )


def _verify(
    cited: Sequence[_Cited], conversation: Conversation, prompts: Prompts, speakers: Collection[str]
) -> tuple[list[Evidence], str | None]:
    """Every quote located, and the re-ask message for those that were not (None: all were)."""
    evidence: list[Evidence] = []
    failures = []
    for quote in cited:
        found = verify_quote(conversation, quote.turn, quote.quote, speakers=speakers)
        if isinstance(found, QuoteNotFound):
            reason = _reason(found, speakers, prompts)
            failures.append(prompts.word("reask", "quote", turn=quote.turn, quote=quote.quote, reason=reason))
        else:
            evidence.append(found)
    if not failures:
        return evidence, None
    return evidence, prompts.word("reask", "bad_quotes") + "\n" + "\n".join(failures)


def quote_problems(
    cited: Sequence[_Cited],
    conversation: Conversation,
    prompts: Prompts,
    *,
    speakers: Collection[str] = ("agent",),
) -> str | None:
    """The re-ask message for the quotes not found in a turn of ``speakers``, or None."""
    return _verify(cited, conversation, prompts, speakers)[1]


def abstained(answer: Any) -> bool:
    """Whether the model answered ``cannot_determine`` (it abstains; the item stays unscored)."""
    return getattr(answer, "tier", "") == CANNOT_DETERMINE


def _tier_problem(answer: Any, item: Item, prompts: Prompts) -> str | None:
    choices = tier_choices(item)
    if abstained(answer):
        return None if answer.cannot_determine_reason.strip() else prompts.word("reask", "unsure_reason")
    if answer.tier not in choices:
        return prompts.word("reask", "tier", tier=answer.tier, item_id=item.id, choices=", ".join(choices))
    wanted = {f.id for f in item.flags}
    if set(answer.flags) != wanted:
        if not wanted:
            return prompts.word("reask", "no_flags", item_id=item.id)
        return prompts.word("reask", "flags", item_id=item.id, flags=", ".join(sorted(wanted)))
    given = getattr(answer, "checks", None) or {}
    if item.checks or given:
        return _checks_problem(answer.tier, given, item, prompts)
    top = max(item.tiers, key=item.tier_points).id
    raised = [flag for flag in answer.flags.values() if flag.answer]
    cited = answer.evidence or any(flag.evidence for flag in raised)
    if not cited and (answer.tier not in (top, NOT_APPLICABLE) or raised):
        return prompts.word("reask", "empty")
    return None


def _checks_problem(tier: str, given: Mapping[str, Any], item: Item, prompts: Prompts) -> str | None:
    """A decomposed item's checks: exactly its own answered, each failed one with evidence."""
    if not item.checks:
        return prompts.word("reask", "no_checks", item_id=item.id)
    if tier == NOT_APPLICABLE and not given:
        return None
    wanted = [check.id for check in item.checks]
    if set(given) != set(wanted):
        return prompts.word("reask", "checks", item_id=item.id, checks=", ".join(wanted))
    for check_id in wanted:
        if not given[check_id].passed and not given[check_id].evidence:
            return prompts.word("reask", "check_evidence", item_id=item.id, check=check_id)
    return None


def _check_quotes(answer: Any, item: Item) -> list[tuple[str, Sequence[_Cited]]]:
    """The quotes of each check answered (in the item's order); none for an item without checks."""
    given = getattr(answer, "checks", None) or {}
    return [(check.id, given[check.id].evidence) for check in item.checks if check.id in given]


def _cited(answer: Any) -> list[_Cited]:
    """A tiered answer's quotes: those of the flags it raised (in its order), then its evidence."""
    flagged = [quote for flag in answer.flags.values() if flag.answer for quote in flag.evidence]
    return [*flagged, *answer.evidence]


def _checker(item: Item, prompts: Prompts) -> Callable[..., Any]:
    deduction = item.deduction is not None

    def check(answer: Any, info: ValidationInfo) -> Any:
        conversation = (info.context or _CONTEXT.get() or {}).get("conversation")
        if not isinstance(conversation, Conversation):
            raise ValueError(
                f"item {item.id}: no conversation to verify the quotes against "
                '(validate with context={"conversation": ...})'
            )
        if deduction and abstained(answer) and not answer.cannot_determine_reason.strip():
            raise ValueError(prompts.word("reask", "unsure_reason"))
        problem = None if deduction else _tier_problem(answer, item, prompts)
        if problem:
            raise ValueError(problem)
        cited = answer.occurrences if deduction else _cited(answer)
        per_check = [] if deduction else _check_quotes(answer, item)
        every = [*cited, *(quote for _, quotes in per_check for quote in quotes)]
        evidence, problem = _verify(every, conversation, prompts, item.evidence_from)
        if problem:
            raise ValueError(problem)
        answer._located = tuple(evidence)  # verified once, here; judging reads it (located())
        at = len(cited)
        answer._located_checks = {}
        for check_id, quotes in per_check:
            answer._located_checks[check_id] = tuple(evidence[at : at + len(quotes)])
            at += len(quotes)
        return answer

    return check


def checked_model(base: type[Answer], item: Item, prompts: Prompts) -> type[Answer]:
    """``base`` (the shared schema) with ``item``'s checks: tier, flags and quotes.

    The derived class keeps the name and the JSON schema of ``base``; only validation
    differs. Quotes are verified against ``context["conversation"]``, and the evidence located
    is kept on the validated answer (:func:`located`).
    """
    validator = model_validator(mode="after")(_checker(item, prompts))
    return create_model(
        base.__name__,
        __base__=base,
        __validators__={"verify": cast("Callable[..., Any]", validator)},
    )


def check_entry(
    entry: BaseModel, checked: type[Answer], context: Mapping[str, Any]
) -> tuple[Answer | None, str | None]:
    """One entry of a grouped answer checked as its item's own answer: (answer, None) or (None, why)."""
    try:
        return checked.model_validate(entry.model_dump(exclude={"item_id"}), context=dict(context)), None
    except ValidationError as exc:
        why = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        return None, why
