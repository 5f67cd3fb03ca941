"""ASR transcripts: the result JSON of speech-recognition and contact-center vendors.

:func:`read_asr` turns one vendor result (a file or an already-parsed object) into a
:class:`~.model.Conversation` of channel ``call``. Each vendor sentence becomes one turn;
consecutive sentences of the same speaker are *not* merged, so turn times stay the
vendor's sentence times. Sentences with no text are skipped and turns are ordered by start
time. Times are converted explicitly from the vendor's documented unit (see
:data:`VENDORS`) to seconds; nothing is guessed.

Who spoke comes from a channel, speaker or role label. A vendor that labels speakers by
role (Amazon Connect: ``AGENT``/``CUSTOMER``) needs nothing more; for the others a
``channel_map`` says which label is the agent (``parse_channel_map("0=agent,1=customer")``
reads the command line's form). Alibaba dual-channel call recordings default to channel 0 =
agent, 1 = customer, the usual call-center wiring; pass a map when yours differs.

:func:`to_seconds` and :func:`implausible_seconds` help with times in general: the first
converts an explicit unit, the second warns when a conversation's times look like
milliseconds read as seconds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ...errors import ConversationError, NotFoundError, Problem
from .._build import conversation_from_record, resolve_speaker
from .._turns import Conversation, Speaker
from . import _vendors as vendors
from ._base import Parsed, Sentence, sentence_speakers, speaker_map
from ._transcribe import detect_transcribe, parse_transcribe

TimeUnit = Literal["s", "ms"]
"""A unit of time in a file: seconds or milliseconds."""

_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds"}


def to_seconds(value: object, unit: TimeUnit) -> float:
    """A time given in ``unit`` (a number or a numeric string) as seconds.

    Raises ``ValueError`` for an unknown unit, a value that is not a number, a negative or a
    non-finite one.
    """
    if unit not in _UNIT_NAMES:
        raise ValueError(f"unknown time unit {unit!r}; use 's' or 'ms'")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"time {value!r} is not a number of {_UNIT_NAMES[unit]}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise ValueError(f"time {value!r} is not a number of {_UNIT_NAMES[unit]}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"time {value!r} must be a finite number ≥ 0")
    return number / 1000 if unit == "ms" else number


# --------------------------------------------------------------------------- vendors


@dataclass(frozen=True)
class AsrVendor:
    """One vendor's result format: how to recognise it, read it, and its time unit."""

    name: str
    title: str
    detect: Callable[[Mapping[str, Any]], bool]
    """Whether a parsed JSON object looks like this vendor's result."""
    parse: Callable[[Mapping[str, Any]], Parsed]
    time_unit: TimeUnit
    """The unit of the sentence times, as the vendor documents it."""
    shape: str
    """Where the sentences are, for messages (``Result.Sentences[]``)."""
    default_channel_map: Mapping[str, Speaker] | None = None
    """Label (lower-case) → speaker used when no ``channel_map`` is given, if any."""
    default_keys: tuple[str, ...] = ()
    """The label fields the default map is for (``ChannelId``, not ``SpeakerId``)."""
    default_min_labels: int = 1
    """How many distinct labels must occur for the default to apply (2: a dual-channel call)."""


VENDORS: dict[str, AsrVendor] = {
    v.name: v
    for v in (
        AsrVendor(
            "alibaba",
            "Alibaba Cloud Intelligent Speech Interaction, recording-file recognition",
            vendors.detect_alibaba,
            vendors.parse_alibaba,
            "ms",
            "Result.Sentences[]",
            default_channel_map={"0": "agent", "1": "customer"},
            default_keys=("ChannelId",),
            default_min_labels=2,
        ),
        AsrVendor(
            "tencent",
            "Tencent Cloud ASR, recording recognition (DescribeTaskStatus)",
            vendors.detect_tencent,
            vendors.parse_tencent,
            "ms",
            "Data.ResultDetail[]",
        ),
        AsrVendor(
            "iflytek",
            "iFlytek recording transcription (getResult)",
            vendors.detect_iflytek,
            vendors.parse_iflytek,
            "ms",
            "content.orderResult.lattice[].json_1best",
        ),
        AsrVendor(
            "transcribe",
            "Amazon Transcribe batch transcription",
            detect_transcribe,
            parse_transcribe,
            "s",
            "results.items[] / results.audio_segments[]",
        ),
        AsrVendor(
            "connect",
            "Amazon Connect Contact Lens conversational analytics",
            vendors.detect_connect,
            vendors.parse_connect,
            "ms",
            "Transcript[]",
            default_channel_map={"agent": "agent", "customer": "customer", "system": "system"},
            default_keys=("ParticipantId", "ParticipantRole"),
        ),
    )
}
"""The supported vendors by name."""

_VENDOR_ALIASES = {
    "aliyun": "alibaba",
    "xfyun": "iflytek",
    "xunfei": "iflytek",
    "aws-transcribe": "transcribe",
    "amazon-transcribe": "transcribe",
    "contact-lens": "connect",
    "amazon-connect": "connect",
}


def _vendor(name: str) -> AsrVendor:
    key = _VENDOR_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in VENDORS:
        raise ValueError(f"unknown ASR vendor {name!r}; use one of {', '.join(VENDORS)}")
    return VENDORS[key]


def detect_vendor(data: Mapping[str, Any], *, file: str = "<asr>") -> str:
    """The name of the vendor whose result ``data`` is.

    Raises :class:`~llm_grader.errors.ConversationError` listing the vendors and where each
    keeps its sentences when no vendor, or more than one, matches.
    """
    found = [v.name for v in VENDORS.values() if v.detect(data)]
    if len(found) == 1:
        return found[0]
    shapes = "; ".join(f"{v.name}: {v.shape}" for v in VENDORS.values())
    what = "matches several vendors" if found else "is not a known ASR result"
    raise ConversationError.at(file, None, "", f"{what} ({shapes}); name the vendor (--format)")


# --------------------------------------------------------------------------- channel maps


def parse_channel_map(text: str) -> dict[str, Speaker]:
    """Read ``"0=agent,1=customer"`` (speakers may be aliases such as 客服) into a map.

    Raises ``ValueError`` naming the malformed entry.
    """
    out: dict[str, Speaker] = {}
    for part in text.split(","):
        label, sep, speaker = part.partition("=")
        if not sep or not label.strip() or not speaker.strip():
            raise ValueError(
                f"channel map entry {part.strip()!r} is not LABEL=SPEAKER; write e.g. 0=agent,1=customer"
            )
        key = label.strip().casefold()
        if key in out:
            raise ValueError(f"channel {label.strip()!r} is mapped twice")
        out[key] = resolve_speaker(speaker)
    return out


# --------------------------------------------------------------------------- reading


def _load(
    data: Mapping[str, Any] | str | Path, file: str | None
) -> tuple[Mapping[str, Any], str, str | None]:
    """The JSON object, the name to use in errors, and the file's stem when read from a file."""
    if isinstance(data, Mapping):
        return data, file or "<asr>", None
    path = Path(data)
    where = file or str(path)
    if not path.is_file():
        raise NotFoundError(f"ASR transcript file {str(path)!r} does not exist", name=str(path))
    try:
        loaded = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConversationError.at(
            where, None, "", f"is not UTF-8 ({exc.reason}); vendors write UTF-8 JSON"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConversationError.at(
            where, exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    if not isinstance(loaded, dict):
        raise ConversationError.at(where, None, "", f"expected a JSON object, got {type(loaded).__name__}")
    return loaded, where, path.stem


def _timed(
    vendor: AsrVendor, sentences: list[Sentence]
) -> tuple[list[tuple[float, float]], list[tuple[str, str]]]:
    """Each sentence's (start, end) in seconds, and the problems with them."""
    times: list[tuple[float, float]] = []
    problems: list[tuple[str, str]] = []
    for s in sentences:
        pair: list[float] = []
        for value, path in ((s.start, s.start_path), (s.end, s.end_path)):
            try:
                pair.append(to_seconds(value, vendor.time_unit))
            except ValueError as exc:
                problems.append((path, "is missing" if value is None else str(exc)))
        if len(pair) == 2 and pair[1] < pair[0]:
            problems.append(
                (s.end_path, f"end {s.end} is before start {s.start} ({_UNIT_NAMES[vendor.time_unit]})")
            )
        times.append((pair[0], pair[1]) if len(pair) == 2 else (0.0, 0.0))
    return times, problems


def _relocated(exc: ConversationError, sentences: list[Sentence]) -> ConversationError:
    """The builder's error with ``turns[i]`` fields renamed to the vendor's JSON paths."""

    def field(name: str) -> str:
        match = re.fullmatch(r"turns\[(\d+)\](?:\.(\w+))?(.*)", name)
        if not match or int(match[1]) >= len(sentences):
            return name
        s = sentences[int(match[1])]
        paths = {"start": s.start_path, "end": s.end_path, "speaker": s.key_path}
        return paths.get(match[2] or "", s.path) + (match[3] or "")

    problems = [
        Problem(file=p.file, line=p.line, field=field(p.field), message=p.message) for p in exc.problems
    ]
    return ConversationError(problems, conversation_id=exc.conversation_id)


def read_asr(
    data: Mapping[str, Any] | str | Path,
    *,
    vendor: str | None = None,
    channel_map: Mapping[Any, Any] | None = None,
    conversation_id: str | None = None,
    file: str | None = None,
) -> Conversation:
    """Read one vendor ASR result as a call conversation.

    ``data`` is the parsed JSON object or the path of a JSON file. ``vendor`` is one of
    :data:`VENDORS` (detected when omitted). ``channel_map`` maps the vendor's channel,
    speaker or role labels to speakers (``{0: "agent", 1: "customer"}``; speakers may be
    aliases such as ``客服``); when given it replaces the vendor's default. The id is
    ``conversation_id``, else the file's stem, else the vendor's task/contact id. ``file``
    names the input in errors (default: the path, or ``<asr>``).

    Raises :class:`~llm_grader.errors.ConversationError` listing every problem, each naming
    the JSON path (``Result.Sentences[3].EndTime: ...``); ``ValueError`` for an unknown
    vendor or a malformed ``channel_map``; :class:`~llm_grader.errors.NotFoundError` for a
    missing file.
    """
    raw, where, stem = _load(data, file)
    spec = _vendor(vendor) if vendor else VENDORS[detect_vendor(raw, file=where)]
    parsed = spec.parse(raw)
    sentences = [s for s in parsed.sentences if s.text.strip()]
    problems = list(parsed.problems)
    if not problems and not sentences:
        problems.append(("", f"no sentence with text found ({spec.shape})"))
    mapping, map_problems = speaker_map(
        sentences,
        channel_map,
        spec.default_channel_map,
        default_keys=spec.default_keys,
        min_labels=spec.default_min_labels,
    )
    speakers, speaker_problems = sentence_speakers(sentences, mapping)
    times, time_problems = _timed(spec, sentences)
    problems += map_problems + speaker_problems + time_problems
    conv_id = conversation_id or stem or parsed.source_id
    if conv_id is None:
        problems.append(("", "the result carries no id; pass conversation_id"))
    if problems:
        raise ConversationError(
            [Problem(file=where, line=None, field=f, message=m) for f, m in problems], conversation_id=conv_id
        )
    order = sorted(range(len(sentences)), key=lambda i: times[i][0])
    record = {
        "id": conv_id,
        "channel": "call",
        "metadata": {
            "asr_vendor": spec.name,
            **({"asr_source_id": parsed.source_id} if parsed.source_id else {}),
            "asr_speakers": {s.key: sp for s, sp in zip(sentences, speakers, strict=True) if s.key},
        },
        "turns": [
            {
                "speaker": speakers[i],
                "text": sentences[i].text.strip(),
                "start": times[i][0],
                "end": times[i][1],
            }
            for i in order
        ],
    }
    try:
        return conversation_from_record(record, file=where)
    except ConversationError as exc:
        raise _relocated(exc, [sentences[i] for i in order]) from None


# --------------------------------------------------------------------------- plausibility

_MAX_CALL_SECONDS = 24 * 3600
_MIN_CHARS_PER_SECOND = 0.5
_MIN_CHARS_PER_SECOND_OVERALL = 0.05
"""Over a whole conversation (no end times), waits included: a chat typed at a normal pace
carries some 0.3-2 characters per second, and read as seconds, milliseconds make it ~0.001."""


def implausible_seconds(conversation: Conversation) -> str | None:
    """A warning when the times look like milliseconds read as seconds, else None.

    Warns when the conversation lasts more than 24 h, or when the agent speaks fewer than
    0.5 characters per second over the agent's turns (people say 3-5 Chinese characters,
    about 15 Latin letters, per second; read as seconds, milliseconds make it ~1000 times
    slower). Without end times the rate is taken over the whole conversation, waits between
    messages included, and warns below 0.05 characters per second: a chat log's customer
    and agent take their time to type, but not a thousand times as long.
    """
    starts = [t.start for t in conversation.turns if t.start is not None]
    if not starts:
        return None
    last = max(t.end if t.end is not None else t.start or 0.0 for t in conversation.turns)
    span = last - min(starts)
    hint = "times look like milliseconds read as seconds; give the time unit (--time-unit ms)"
    if span > _MAX_CALL_SECONDS:
        return f"conversation {conversation.id!r} lasts {span / 3600:.1f} h: {hint}"
    agent = [
        t for t in conversation.turns if t.speaker == "agent" and t.start is not None and t.end is not None
    ]
    if agent:
        seconds, floor = sum((t.end or 0.0) - (t.start or 0.0) for t in agent), _MIN_CHARS_PER_SECOND
        chars, who = sum(len("".join(t.text.split())) for t in agent), "the agent speaks"
    else:
        seconds, floor = span, _MIN_CHARS_PER_SECOND_OVERALL
        chars, who = sum(len("".join(t.text.split())) for t in conversation.turns), "the conversation carries"
    if seconds > 0 and chars >= 10 and chars / seconds < floor:
        return f"conversation {conversation.id!r}: {who} {chars / seconds:.3f} characters per second: {hint}"
    return None
