r"""The conversation data model: speakers, turns, conversations and a batch of them.

A conversation is a list of turns by ``agent``, ``customer`` or ``system``. Times are
optional; when given they are seconds from the start of the conversation, and the first
wall-clock datetime of a chat log is kept as ``started_at``.

Every line break in a turn's text or the notes is stored as ``\n`` (see
:func:`normalise_line_breaks`); the model enforces the size limits of
:data:`~.limits.LIMITS` too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ..errors import ConversationError
from ._limits import LIMITS

Speaker = Literal["agent", "customer", "system"]
Channel = Literal["chat", "call"]

_ALIASES: dict[Speaker, tuple[str, ...]] = {
    "agent": (
        "agent",
        "staff",
        "客服",
        "坐席",
        "客服代表",
        "工作人员",
        "客服员",
        "服务代表",
        "operator",
        "representative",
        "rep",
        "assistant",
    ),
    "customer": ("customer", "user", "client", "caller", "客户", "用户", "顾客", "来电人", "业主"),
    "system": ("system", "系统", "bot_system", "developer"),
}

SPEAKER_ALIASES: dict[str, Speaker] = {
    alias.lower(): speaker for speaker, aliases in _ALIASES.items() for alias in aliases
}
"""Lower-cased speaker names accepted in files, mapped to the three speakers."""

_LINE_BREAKS = re.compile(r"\r\n|[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def normalise_line_breaks(text: str) -> str:
    r"""``text`` with every line break written as ``\n``.

    A line break is anything :meth:`str.splitlines` breaks on: ``\r\n``, ``\r``, vertical
    tab, form feed, ``\x1c``-``\x1e``, U+0085, U+2028 and U+2029. Stored text then has one
    kind of line break, which the transcript renders as an indented continuation, so no
    character in a turn can start a line of its own in what the model reads.
    """
    return _LINE_BREAKS.sub("\n", text)


class Turn(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speaker: Speaker
    """Who spoke: ``agent``, ``customer`` or ``system``."""
    text: str = Field(min_length=1, max_length=LIMITS.max_text_chars)
    r"""What was said or typed, as in the source with line breaks written as ``\n``."""
    start: float | None = None
    """Seconds from the start of the conversation, when known."""
    end: float | None = None
    """Seconds from the start of the conversation when the turn ended (calls), when known."""

    @field_validator("text")
    @classmethod
    def _one_kind_of_line_break(cls, text: str) -> str:
        return normalise_line_breaks(text)


class Conversation(BaseModel):
    """A call transcript or chat log to grade."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=LIMITS.max_id_chars)
    """Unique id of the conversation within a batch."""
    channel: Channel = "chat"
    """``chat`` or ``call``."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form data carried through to the scorecard's source (business line, agent id...)."""
    notes: str | None = Field(default=None, max_length=LIMITS.max_text_chars)
    """The agent's written record (work order / notes) attached to the conversation, if any."""
    knowledge: str | None = Field(default=None, max_length=LIMITS.max_text_chars)
    """Reference for grading this conversation: knowledge-base snippets or reference answers
    (shown to the model as data in every item's shared prefix). A list of snippets is joined
    with blank lines; when absent, ``metadata.knowledge`` is taken."""
    started_at: datetime | None = None
    """Wall-clock time of ``start == 0`` when the source had datetimes."""
    turns: list[Turn] = Field(min_length=1, max_length=LIMITS.max_turns)
    """The turns in order."""

    @field_validator("notes", "knowledge")
    @classmethod
    def _one_kind_of_line_break(cls, notes: str | None) -> str | None:
        return None if notes is None else normalise_line_breaks(notes)

    @model_validator(mode="before")
    @classmethod
    def _knowledge(cls, data: Any) -> Any:
        # ``knowledge`` may come as a list of snippets, or inside the metadata (a field many
        # exports have room for); the metadata itself is left as it is.
        if not isinstance(data, dict):
            return data

        def snippets(value: Any) -> Any:
            if isinstance(value, list) and all(isinstance(k, str) for k in value):
                return "\n\n".join(k.strip() for k in value if k.strip())
            return value

        knowledge = snippets(data.get("knowledge"))
        metadata = data.get("metadata")
        if knowledge is None and isinstance(metadata, dict):
            # Only text is taken from the metadata; anything else stays metadata.
            knowledge = snippets(metadata.get("knowledge"))
            knowledge = knowledge if isinstance(knowledge, str) else None
        if knowledge is None or knowledge is data.get("knowledge"):
            return data
        return {**data, "knowledge": knowledge}

    _source: tuple[str, int] | None = PrivateAttr(default=None)
    """Where the conversation was read from (file, first line), to name it in later errors."""

    @property
    def has_timestamps(self) -> bool:
        """Whether every turn has a start time."""
        return all(t.start is not None for t in self.turns)

    @property
    def has_end_times(self) -> bool:
        """Whether every turn has both a start and an end time (needed for overlaps, rates)."""
        return all(t.start is not None and t.end is not None for t in self.turns)

    @property
    def has_notes(self) -> bool:
        """Whether an agent record is attached."""
        return bool(self.notes and self.notes.strip())

    @property
    def has_knowledge(self) -> bool:
        """Whether reference knowledge is attached."""
        return bool(self.knowledge and self.knowledge.strip())


class Conversations(list[Conversation]):
    """The conversations that loaded, plus ``errors`` for those that did not."""

    def __init__(self, items: Iterable[Conversation] = (), errors: Iterable[ConversationError] = ()):
        super().__init__(items)
        self.errors: list[ConversationError] = list(errors)
        self.warnings: list[str] = []
        """Conversations that loaded but look wrong (e.g. times that seem to be milliseconds)."""
