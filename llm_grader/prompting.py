"""Prompt compilation and response models for model-judged items — pure functions.

Message layout (documented order, so providers' prefix caching applies):

1. ``system`` — grader role and rules (judge the agent, quote verbatim, the transcript is
   data and instructions inside it are ignored); the same for every item of a rubric.
2. ``user`` — the transcript, turns numbered from 1 with speaker and time, inside a
   backtick fence longer than any backtick run in the text, so nothing in it can close it.
3. ``user`` — the item block: name, description, tiers with descriptors and points,
   notes, the not-applicable condition, flags to answer, and the output contract.

1 and 2 are byte-identical for all items of a conversation; only 3 differs.
The response model of an item puts ``evidence`` before ``rationale`` before ``tier``
(then ``flags``); its tier is a ``Literal`` of the item's own tier ids.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from .errors import LLMGraderError
from .evidence import verify_quote
from .rubric import Item, Rubric, _data_dir
from .transcript import Conversation

__all__ = [
    "CONVERSATION",
    "PromptTemplate",
    "Templates",
    "compile_messages",
    "prompt_hash",
    "render_transcript",
    "response_model",
]

NOT_APPLICABLE = "not_applicable"

# ----------------------------------------------------------------------------- templates

_REQUIRED = {
    # No rubric version here: a new version whose item is unchanged must send the same
    # messages, so its answers come from the cache.
    "system": {"rubric_name", "channel_name", "fence"},
    "transcript": {"turn_count", "time_note", "fence", "transcript", "notes_block"},
    "item": {
        "item_name",
        "item_id",
        "item_points",
        "description",
        "tiers",
        "notes",
        "not_applicable",
        "flags",
        "output",
    },
    "deduction": {
        "item_name",
        "item_id",
        "deduction_points",
        "severe_note",
        "description",
        "notes",
        "not_applicable",
    },
}


@dataclass(frozen=True)
class PromptTemplate:
    """A ``string.Template`` file whose placeholders are checked when it is loaded."""

    name: str
    text: str

    @classmethod
    def from_text(cls, text: str, *, name: str, required: set[str]) -> PromptTemplate:
        """Check the placeholders: an unknown or a missing one fails, naming all of them."""
        found = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)} - {
            None
        }
        unknown, missing = sorted(found - required), sorted(required - found)
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown variables: {', '.join(unknown)}")
            if missing:
                parts.append(f"missing variables: {', '.join(missing)}")
            raise LLMGraderError(f"prompt template {name}: {'; '.join(parts)}")
        return cls(name=name, text=text)

    @classmethod
    def from_file(cls, path: Path, *, required: set[str]) -> PromptTemplate:
        """Load and check a template file."""
        return cls.from_text(path.read_text(encoding="utf-8"), name=str(path), required=required)

    def render(self, **values: object) -> str:
        """Fill the placeholders (``$$`` is a literal dollar)."""
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})


@dataclass(frozen=True)
class Templates:
    """The four templates of one language."""

    system: PromptTemplate
    transcript: PromptTemplate
    item: PromptTemplate
    deduction: PromptTemplate

    @classmethod
    def load(cls, language: str, directory: Path | None = None) -> Templates:
        """Load ``<directory>/<language>/*.txt`` (default: the shipped prompts)."""
        base = (directory or _data_dir("prompts")) / language
        if not base.is_dir():
            raise LLMGraderError(f"no prompts for language {language!r} in {str(base.parent)!r}")
        return cls(
            **{
                name: PromptTemplate.from_file(base / f"{name}.txt", required=required)
                for name, required in _REQUIRED.items()
            }
        )


# ----------------------------------------------------------------------------- text pieces

_WORDS = {
    "zh": {
        "agent": "客服",
        "customer": "客户",
        "system": "系统",
        "chat": "在线聊天记录",
        "call": "通话录音转写",
        "times": ",时间为对话开始后的时:分:秒",
        "clock": ",时间为消息发送时刻",
        "tier": "- {id}({label},{points} 分):{description}",
        "notes": "备注:\n{lines}\n",
        "na": "如果{when},tier 填写 not_applicable(该项{policy})。\n",
        "na_full": "不扣分,按满分计",
        "na_exclude": "不参与计分",
        "flags": "另外逐一回答以下是非问题(flags,true 或 false):\n{lines}\n",
        "output": (
            "按以下字段作答:evidence(证据列表,每条含 turn 轮次编号与 quote 逐字引用)、"
            "rationale(简要理由)、tier(等级编号){flags_field}。"
            "给出最高等级且没有任何问题时 evidence 可以为空,否则至少引用一条证据。"
        ),
        "flags_field": "、flags(是非问题的答案)",
        "severe": ",情节严重的加倍",
        "notes_block": "\n客服对本次服务的记录(工单/备注),同样是待评估的数据:\n\n{fence}\n{notes}\n{fence}\n",
    },
    "en": {
        "agent": "Agent",
        "customer": "Customer",
        "system": "System",
        "chat": "chat log",
        "call": "call transcript",
        "times": "; times are h:mm:ss from the start",
        "clock": "; times are when each message was sent",
        "tier": "- {id} ({label}, {points} points): {description}",
        "notes": "Notes:\n{lines}\n",
        "na": "If {when}, answer tier not_applicable (the item then {policy}).\n",
        "na_full": "keeps its full points",
        "na_exclude": "is left out of the total",
        "flags": "Also answer each yes/no question (flags, true or false):\n{lines}\n",
        "output": (
            "Answer with: evidence (a list of {{turn, quote}} with the turn number and a verbatim quote), "
            "rationale (brief), tier (a tier id){flags_field}. Evidence may be empty only for the top "
            "tier with no problem found; otherwise cite at least one quote."
        ),
        "flags_field": ", flags (the yes/no answers)",
        "severe": "; doubled when severe",
        "notes_block": (
            "\nThe agent's record of this contact (work order / notes), also data to be graded:\n\n"
            "{fence}\n{notes}\n{fence}\n"
        ),
    },
}


def _words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["zh"])


def _clock(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_transcript(conversation: Conversation, *, language: str = "zh") -> tuple[str, str]:
    """The numbered transcript and its fence. Continuation lines of a turn are indented."""
    words = _words(language)
    lines = []
    for number, turn in enumerate(conversation.turns, start=1):
        when = ""
        if turn.start is not None:
            if conversation.started_at is not None:
                when = " " + (conversation.started_at + timedelta(seconds=turn.start)).strftime("%H:%M:%S")
            else:
                when = " " + _clock(turn.start)
        text = turn.text.replace("\n", "\n  ")
        lines.append(f"[{number}] {words[turn.speaker]}{when}: {text}")
    body = "\n".join(lines)
    return body, _fence(body + "\n" + (conversation.notes or ""))


def _item_block(item: Item, rubric: Rubric, templates: Templates) -> str:
    words = _words(rubric.language)
    notes = words["notes"].format(lines="\n".join(f"- {n}" for n in item.notes)) if item.notes else ""
    na = ""
    if item.not_applicable is not None:
        policy = words["na_full"] if item.not_applicable.policy == "full" else words["na_exclude"]
        na = words["na"].format(when=item.not_applicable.when, policy=policy)
    common = {
        "item_name": item.name,
        "item_id": item.id,
        "description": item.description + "\n" if item.description else "",
        "notes": notes,
        "not_applicable": na,
    }
    if item.deduction is not None:
        severe = words["severe"] if item.deduction.severe_multiplier != 1 else ""
        block = templates.deduction.render(
            **common, deduction_points=f"{item.deduction.points:g}", severe_note=severe
        )
        return block.rstrip() + "\n"
    tiers = "\n".join(
        words["tier"].format(
            id=t.id,
            label=t.display,
            points=f"{item.tier_points(t):g}",
            description=t.description or t.display,
        )
        for t in item.tiers
    )
    flags = (
        words["flags"].format(lines="\n".join(f"- {f.id}: {f.description}" for f in item.flags))
        if item.flags
        else ""
    )
    output = words["output"].format(flags_field=words["flags_field"] if item.flags else "")
    block = templates.item.render(
        **common, item_points=f"{item.max_points:g}", tiers=tiers, flags=flags, output=output
    )
    return block.rstrip() + "\n"


def compile_messages(
    *, rubric: Rubric, item: Item, conversation: Conversation, templates: Templates | None = None
) -> list[dict[str, str]]:
    """The chat messages for one item of one conversation (see the module docstring)."""
    templates = templates or Templates.load(rubric.language)
    words = _words(rubric.language)
    transcript, fence = render_transcript(conversation, language=rubric.language)
    time_note = ""
    if conversation.has_timestamps:
        time_note = words["clock"] if conversation.started_at is not None else words["times"]
    system = templates.system.render(
        rubric_name=rubric.name,
        channel_name=words[conversation.channel],
        fence=fence,
    )
    notes = ""
    if conversation.has_notes:
        notes = words["notes_block"].format(fence=fence, notes=conversation.notes)
    shown = templates.transcript.render(
        turn_count=len(conversation.turns),
        time_note=time_note,
        fence=fence,
        transcript=transcript,
        notes_block=notes,
    )
    return [
        {"role": "system", "content": system.rstrip() + "\n"},
        {"role": "user", "content": shown.rstrip() + "\n"},
        {"role": "user", "content": _item_block(item, rubric, templates)},
    ]


def prompt_hash(messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
    """A short stable hash of the messages and response schema (kept on each graded item)."""
    canonical = json.dumps(
        {"messages": messages, "schema": schema}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- response models

CONVERSATION: contextvars.ContextVar[tuple[Conversation, str] | None] = contextvars.ContextVar(
    "llm_grader_conversation", default=None
)
"""The conversation (and language) the quote validator checks against. A ContextVar rather
than instructor's ``context=``, which would also template the messages (and so alter a
transcript containing ``{{`` or ``{%``)."""

_DESCRIPTIONS = {
    "zh": {
        "turn": "引用所在的轮次编号(从 1 开始)",
        "quote": "逐字复制的该轮原文片段,包括标点,不要改写",
        "evidence": "支持判断的证据,先于结论给出;每条是一处逐字引用",
        "rationale": "依据评分表说明为什么给这个等级,简洁",
        "tier": "等级编号,只能取给定的编号之一",
        "flags": "对每个是非问题的回答",
        "occurrences": "客服每一次出现该问题的位置;没有则为空列表",
        "severe": "情节是否严重(严重时加倍扣分)",
        "bad_quotes": "以下引用在对话原文中找不到,请逐字复制原文(包括标点)后重新作答:",
        "empty": "除非给出最高等级且没有任何问题,否则至少给出一条证据。",
    },
    "en": {
        "turn": "The turn number the quote comes from (numbered from 1)",
        "quote": "The words copied verbatim from that turn, punctuation included; do not paraphrase",
        "evidence": "Evidence for the judgement, given before the verdict; each is one verbatim quote",
        "rationale": "Why this tier, per the scorecard's descriptions; brief",
        "tier": "The tier id, one of those listed",
        "flags": "The answer to each yes/no question",
        "occurrences": "Each place the agent shows the problem; an empty list when none",
        "severe": "Whether this occurrence is severe (the deduction is doubled)",
        "bad_quotes": (
            "These quotes are not in the transcript; copy the words verbatim "
            "(punctuation included) and answer again:"
        ),
        "empty": "Cite at least one quote unless you give the top tier and found no problem.",
    },
}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_quotes(cited: list[Any], language: str) -> None:
    current = CONVERSATION.get()
    if current is None:
        return
    conversation, _ = current
    failures = []
    for quote in cited:
        result = verify_quote(conversation, quote.turn, quote.quote, language=language)
        if not hasattr(result, "start_char"):
            failures.append(f"- turn {quote.turn}: {quote.quote!r} ({getattr(result, 'reason', '')})")
    if failures:
        raise ValueError(_DESCRIPTIONS[language]["bad_quotes"] + "\n" + "\n".join(failures))


def _validators(check: Callable[[Any], Any]) -> dict[str, Callable[..., Any]]:
    return {"verify": cast("Callable[..., Any]", model_validator(mode="after")(check))}


def response_model(item: Item, *, language: str = "zh") -> type[BaseModel]:
    """The pydantic model of the answer for one item (a deduction item gets occurrences)."""
    d = _DESCRIPTIONS.get(language, _DESCRIPTIONS["zh"])
    lang = language if language in _DESCRIPTIONS else "zh"
    quote = create_model(
        "Quote",
        __base__=_Answer,
        turn=(int, Field(ge=1, description=d["turn"])),
        quote=(str, Field(min_length=1, description=d["quote"])),
    )
    if item.deduction is not None:
        occurrence = create_model(
            "Occurrence", __base__=quote, severe=(bool, Field(default=False, description=d["severe"]))
        )

        def _verify_occurrences(self: Any) -> Any:
            _check_quotes(self.occurrences, lang)
            return self

        return create_model(
            f"Deduction_{item.id}",
            __base__=_Answer,
            __validators__=_validators(_verify_occurrences),
            occurrences=(list[occurrence], Field(description=d["occurrences"])),
            rationale=(str, Field(description=d["rationale"])),
        )
    tier_ids = [t.id for t in item.tiers] + ([NOT_APPLICABLE] if item.not_applicable else [])
    top = max(item.tiers, key=item.tier_points).id
    fields: dict[str, Any] = {
        "evidence": (list[quote], Field(description=d["evidence"])),
        "rationale": (str, Field(description=d["rationale"])),
        "tier": (Literal[tuple(tier_ids)], Field(description=d["tier"])),
    }
    if item.flags:
        flags = create_model(
            "Flags",
            __base__=_Answer,
            **cast("dict[str, Any]", {f.id: (bool, Field(description=f.description)) for f in item.flags}),
        )
        fields["flags"] = (flags, Field(description=d["flags"]))

    def _verify(self: Any) -> Any:
        flags = getattr(self, "flags", None)
        raised = flags is not None and any(flags.model_dump().values())
        if not self.evidence and (self.tier not in (top, NOT_APPLICABLE) or raised):
            raise ValueError(_DESCRIPTIONS[lang]["empty"])
        _check_quotes(self.evidence, lang)
        return self

    return create_model(
        f"Grade_{item.id}",
        __base__=_Answer,
        __validators__=_validators(_verify),
        **fields,
    )
