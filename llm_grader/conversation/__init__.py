"""Conversations: the data model, the builder from raw records and the file readers.

A conversation is a list of turns by ``agent``, ``customer`` or ``system``. Times are
optional; when given they are normalised to seconds from the start of the conversation,
whether the file had seconds, ``mm:ss``, ``hh:mm:ss`` or ISO-8601 datetimes (chat logs),
and the first datetime is kept as ``started_at``.

- :mod:`.model` — ``Turn``, ``Conversation``, ``Conversations`` and the speaker aliases;
- :mod:`.build` — ``parse_time``, speaker resolution and ``conversation_from_record``;
- :mod:`.readers` — JSONL, CSV and plain-text files: ``load_conversations``;
- :mod:`.masking` — ``mask_personal_data``.
"""

from __future__ import annotations

from .build import conversation_from_record, parse_time, resolve_speaker
from .masking import mask_personal_data
from .model import SPEAKER_ALIASES, Channel, Conversation, Conversations, Speaker, Turn
from .readers import iter_conversations, load_conversations

__all__ = [
    "SPEAKER_ALIASES",
    "Channel",
    "Conversation",
    "Conversations",
    "Speaker",
    "Turn",
    "conversation_from_record",
    "iter_conversations",
    "load_conversations",
    "mask_personal_data",
    "parse_time",
    "resolve_speaker",
]
