"""Conversations: the data model, the builder from raw records and the file readers.

A conversation is a list of turns by ``agent``, ``customer`` or ``system``. Times are
optional; when given they are normalised to seconds from the start of the conversation,
whether the file had seconds, ``mm:ss``, ``hh:mm:ss`` or ISO-8601 datetimes (chat logs),
and the first datetime is kept as ``started_at``.

- :mod:`.model` — ``Turn``, ``Conversation``, ``Conversations`` and the speaker aliases;
- :mod:`.build` — ``parse_time``, speaker resolution and ``conversation_from_record``;
- :mod:`.limits` — every size limit the readers enforce (``LIMITS``);
- :mod:`.readers` — JSONL, CSV and plain-text files: ``iter_conversations``;
- :mod:`.sources` — ``load_conversations`` (and ``stream_conversations``, lazy): files, folders, tables
  and ASR results, time units;
- :mod:`.tables` — pandas DataFrames, ``datasets.Dataset`` and lists of dicts: ``conversations_from_table``;
- :mod:`.asr` — vendor ASR results (Alibaba, Tencent, iFlytek, Amazon Transcribe/Connect): ``read_asr``;
- :mod:`.masking` — personal data: ``mask_conversation`` (counts per kind), ``mask_personal_data``,
  the ``Masker`` type and the built-in detectors.
"""

from __future__ import annotations

from ._build import conversation_from_record, parse_time, resolve_speaker
from ._frames import RowProblem, conversations_from_table, table_records
from ._limits import LIMITS, InputLimits
from ._masking import (
    DEFAULT_MASKERS,
    Masker,
    Span,
    find_bank_cards,
    find_emails,
    find_id_cards,
    find_landlines,
    find_mobiles,
    find_personal_data,
    mask_conversation,
    mask_personal_data,
    mask_text,
)
from ._readers import iter_conversations
from ._sources import FORMATS, load_conversations, stream_conversations
from ._turns import (
    SPEAKER_ALIASES,
    Channel,
    Conversation,
    Conversations,
    Speaker,
    Turn,
    normalise_line_breaks,
)
from .asr import (
    VENDORS,
    AsrVendor,
    TimeUnit,
    detect_vendor,
    implausible_seconds,
    parse_channel_map,
    read_asr,
    to_seconds,
)

__all__ = [
    "DEFAULT_MASKERS",
    "FORMATS",
    "LIMITS",
    "SPEAKER_ALIASES",
    "VENDORS",
    "AsrVendor",
    "Channel",
    "Conversation",
    "Conversations",
    "InputLimits",
    "Masker",
    "RowProblem",
    "Span",
    "Speaker",
    "TimeUnit",
    "Turn",
    "conversation_from_record",
    "conversations_from_table",
    "detect_vendor",
    "find_bank_cards",
    "find_emails",
    "find_id_cards",
    "find_landlines",
    "find_mobiles",
    "find_personal_data",
    "implausible_seconds",
    "iter_conversations",
    "load_conversations",
    "mask_conversation",
    "mask_personal_data",
    "mask_text",
    "normalise_line_breaks",
    "parse_channel_map",
    "parse_time",
    "read_asr",
    "resolve_speaker",
    "stream_conversations",
    "table_records",
    "to_seconds",
]
