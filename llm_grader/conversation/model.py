"""The conversation data model: speakers, turns, conversations and a batch of them.

A conversation is a list of turns by ``agent``, ``customer`` or ``system``. Times are
optional; when given they are seconds from the start of the conversation, and the first
wall-clock datetime of a chat log is kept as ``started_at``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ..errors import ConversationError

__all__ = [
    "SPEAKER_ALIASES",
    "Channel",
    "Conversation",
    "Conversations",
    "Speaker",
    "Turn",
]

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
    "system": ("system", "系统", "bot_system"),
}

SPEAKER_ALIASES: dict[str, Speaker] = {
    alias.lower(): speaker for speaker, aliases in _ALIASES.items() for alias in aliases
}
"""Lower-cased speaker names accepted in files, mapped to the three speakers."""


class Turn(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speaker: Speaker
    """Who spoke: ``agent``, ``customer`` or ``system``."""
    text: str = Field(min_length=1)
    """What was said or typed, exactly as in the source."""
    start: float | None = None
    """Seconds from the start of the conversation, when known."""
    end: float | None = None
    """Seconds from the start of the conversation when the turn ended (calls), when known."""


class Conversation(BaseModel):
    """A call transcript or chat log to grade."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    """Unique id of the conversation within a batch."""
    channel: Channel = "chat"
    """``chat`` or ``call``."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form data carried through to the scorecard's source (business line, agent id...)."""
    notes: str | None = None
    """The agent's written record (work order / notes) attached to the conversation, if any."""
    started_at: datetime | None = None
    """Wall-clock time of ``start == 0`` when the source had datetimes."""
    turns: list[Turn] = Field(min_length=1)
    """The turns in order."""

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


class Conversations(list[Conversation]):
    """The conversations that loaded, plus ``errors`` for those that did not."""

    def __init__(self, items: Iterable[Conversation] = (), errors: Iterable[ConversationError] = ()):
        super().__init__(items)
        self.errors: list[ConversationError] = list(errors)
