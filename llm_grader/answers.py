"""The structured answers the model gives, as pydantic models built per item.

A tiered item's answer has, in this order, ``evidence`` (turn + verbatim quote), then
``rationale``, then ``tier`` (a ``Literal`` of the item's tier ids, plus ``not_applicable``
where the item allows it) and ``flags``; a deduction item's answer has ``occurrences`` and
``rationale``. Evidence comes before the verdict on purpose.

:func:`response_model` is the item's model: its JSON schema is what the model is asked to
fill, and it checks the structure. :func:`bind` derives the model that also checks every
quote against one conversation — the conversation is passed in and closed over, never read
from a global — so an answer whose quotes are not in the transcript fails validation with
a message (in the prompt's language) that goes back to the model as a re-ask.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from .conversation import Conversation
from .evidence import QuoteNotFound, verify_quote
from .prompting import Prompts
from .rubric import Item
from .types import NOT_APPLICABLE

__all__ = ["Answer", "bind", "quote_problems", "response_model", "tier_choices"]


class Answer(BaseModel):
    """Base of every answer model: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class _Cited(Protocol):
    turn: int
    quote: str


def tier_choices(item: Item) -> list[str]:
    """The tier ids a model may answer for ``item`` (``not_applicable`` where allowed)."""
    return [t.id for t in item.tiers] + ([NOT_APPLICABLE] if item.not_applicable else [])


def response_model(item: Item, prompts: Prompts) -> type[Answer]:
    """The pydantic model of the answer for one item (a deduction item gets occurrences)."""
    d = prompts.text["fields"]
    quote = create_model(
        "Quote",
        __base__=Answer,
        turn=(int, Field(ge=1, description=d["turn"])),
        quote=(str, Field(min_length=1, description=d["quote"])),
    )
    if item.deduction is not None:
        occurrence = create_model(
            "Occurrence", __base__=quote, severe=(bool, Field(default=False, description=d["severe"]))
        )
        return create_model(
            f"Deduction_{item.id}",
            __base__=Answer,
            occurrences=(list[occurrence], Field(description=d["occurrences"])),
            rationale=(str, Field(description=d["rationale"])),
        )
    fields: dict[str, Any] = {
        "evidence": (list[quote], Field(description=d["evidence"])),
        "rationale": (str, Field(description=d["rationale"])),
        "tier": (Literal[tuple(tier_choices(item))], Field(description=d["tier"])),
    }
    if item.flags:
        flags = create_model(
            "Flags",
            __base__=Answer,
            **cast("dict[str, Any]", {f.id: (bool, Field(description=f.description)) for f in item.flags}),
        )
        fields["flags"] = (flags, Field(description=d["flags"]))
    return create_model(f"Grade_{item.id}", __base__=Answer, **fields)


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
    )


def quote_problems(
    cited: Sequence[_Cited],
    conversation: Conversation,
    prompts: Prompts,
    *,
    speakers: Collection[str] = ("agent",),
) -> str | None:
    """The re-ask message for the quotes not found in a turn of ``speakers``, or None."""
    failures = []
    for quote in cited:
        found = verify_quote(conversation, quote.turn, quote.quote, speakers=speakers)
        if isinstance(found, QuoteNotFound):
            reason = _reason(found, speakers, prompts)
            failures.append(prompts.word("reask", "quote", turn=quote.turn, quote=quote.quote, reason=reason))
    if not failures:
        return None
    return prompts.word("reask", "bad_quotes") + "\n" + "\n".join(failures)


def _checker(item: Item, conversation: Conversation, prompts: Prompts) -> Callable[[Any], Any]:
    if item.deduction is not None:

        def check_occurrences(answer: Any) -> Any:
            problem = quote_problems(answer.occurrences, conversation, prompts, speakers=item.evidence_from)
            if problem:
                raise ValueError(problem)
            return answer

        return check_occurrences
    top = max(item.tiers, key=item.tier_points).id

    def check(answer: Any) -> Any:
        flags = getattr(answer, "flags", None)
        raised = flags is not None and any(flags.model_dump().values())
        if not answer.evidence and (answer.tier not in (top, NOT_APPLICABLE) or raised):
            raise ValueError(prompts.word("reask", "empty"))
        problem = quote_problems(answer.evidence, conversation, prompts, speakers=item.evidence_from)
        if problem:
            raise ValueError(problem)
        return answer

    return check


def bind(model: type[Answer], item: Item, conversation: Conversation, prompts: Prompts) -> type[Answer]:
    """``model`` that also verifies the answer's quotes against ``conversation``.

    The derived class keeps the name and the JSON schema of ``model``; only validation differs.
    """
    validator = model_validator(mode="after")(_checker(item, conversation, prompts))
    return create_model(
        model.__name__,
        __base__=model,
        __validators__={"verify": cast("Callable[..., Any]", validator)},
    )
