"""The shared parts of the ASR readers: sentences, JSON helpers and the label → speaker map.

A vendor parser (:mod:`._asr_vendors`, :mod:`._asr_transcribe`) only walks the vendor's
structure. It returns every sentence with its text, its raw start and end (in the vendor's
unit, converted later by :func:`.asr.to_seconds`), the channel, speaker or role label that
says who spoke, and the JSON path of each, so that every problem names the exact field
(``Result.Sentences[3].EndTime``). Structural problems (a missing list, a task that has not
finished, invalid embedded JSON) are collected as ``(field, message)`` pairs, not raised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._build import resolve_speaker
from .._turns import Speaker


@dataclass(frozen=True)
class Sentence:
    """One sentence (utterance) of a transcript, as the vendor gave it."""

    path: str
    """JSON path of the sentence, e.g. ``Result.Sentences[3]``."""
    text: str
    start: object
    """Start as found in the file, in the vendor's unit."""
    end: object
    start_path: str
    end_path: str
    key: str | None
    """The channel, speaker or role label that says who spoke, as text; None when absent."""
    key_name: str
    """The field that holds ``key`` (``ChannelId``, ``SpeakerId``, ``rl``...)."""
    key_path: str
    aliases: tuple[str, ...] = ()
    """Other labels of the same voice (iFlytek's left/right track ``L``/``R``)."""


@dataclass
class Parsed:
    """What a parser found: the sentences, the problems and the vendor's id of the recording."""

    sentences: list[Sentence] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    source_id: str | None = None

    def problem(self, path: str, message: str) -> None:
        """Record a problem at ``path``."""
        self.problems.append((path, message))


# --------------------------------------------------------------------------- helpers


def label(value: object) -> str | None:
    """A channel, speaker or role label as text; None when absent or empty."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def get_list(
    out: Parsed, container: Mapping[str, Any], key: str, prefix: str, hint: str = ""
) -> list[Any] | None:
    """``container[key]`` when it is a list, else None with a problem recorded."""
    value = container.get(key)
    if isinstance(value, list):
        return value
    what = "is missing" if value is None else f"must be a list, not {type(value).__name__}"
    out.problem(f"{prefix}{key}", what + (f"; {hint}" if hint else ""))
    return None


def add_sentence(
    out: Parsed, item: object, path: str, *, text: str, start: str, end: str, key: str, alias: str = ""
) -> None:
    """Add the sentence of a flat vendor object whose fields hold text, times and speaker."""
    if not isinstance(item, Mapping):
        out.problem(path, f"must be an object, not {type(item).__name__}")
        return
    value = item.get(text)
    if not isinstance(value, str):
        out.problem(f"{path}.{text}", "is missing" if value is None else "must be a string")
        return
    aliases = (a,) if alias and (a := label(item.get(alias))) else ()
    out.sentences.append(
        Sentence(
            path=path,
            text=value,
            start=item.get(start),
            end=item.get(end),
            start_path=f"{path}.{start}",
            end_path=f"{path}.{end}",
            key=label(item.get(key)),
            key_name=key,
            key_path=f"{path}.{key}",
            aliases=aliases,
        )
    )


def decode(out: Parsed, value: object, path: str) -> Mapping[str, Any] | None:
    """An object that may be embedded as a JSON string (iFlytek nests JSON in strings)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            out.problem(path, f"is not valid JSON: {exc.msg} (column {exc.colno})")
            return None
    if isinstance(value, Mapping):
        return value
    out.problem(path, "is missing" if value is None else "must be a JSON object")
    return None


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def join_words(tokens: list[tuple[str, bool]]) -> str:
    """Words ``(text, is_punctuation)`` as one text: a space between words unless CJK meets CJK."""
    text = ""
    for word, punctuation in tokens:
        word = word.strip()
        if not word:
            continue
        gap = bool(text) and not punctuation and not (_CJK.match(text[-1]) and _CJK.match(word[0]))
        text += (" " if gap else "") + word
    return text


def unwrap(data: Mapping[str, Any], *keys: str) -> tuple[Mapping[str, Any], str]:
    """Descend through the wrapper objects present (``Response.Data``), with the path prefix."""
    prefix = ""
    for key in keys:
        inner = data.get(key)
        if isinstance(inner, Mapping):
            data, prefix = inner, f"{prefix}{key}."
    return data, prefix


def path_get(data: Mapping[str, Any], *keys: str) -> object:
    """``data[k1][k2]...``, or None when any level is missing."""
    value: object = data
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def has_list(data: Mapping[str, Any], *paths: tuple[str, ...]) -> bool:
    """Whether any of the key paths leads to a list."""
    return any(isinstance(path_get(data, *p), list) for p in paths)


# --------------------------------------------------------------------------- speakers


def normalise_map(channel_map: Mapping[Any, Any]) -> dict[str, Speaker]:
    """A channel map with case-folded text labels and resolved speakers; ValueError if bad."""
    out: dict[str, Speaker] = {}
    for key, value in channel_map.items():
        if isinstance(key, bool) or not isinstance(key, (str, int)) or not str(key).strip():
            raise ValueError(f"channel {key!r} must be a non-empty label or number")
        out[str(key).strip().casefold()] = resolve_speaker(value)
    return out


def speaker_map(
    sentences: list[Sentence],
    channel_map: Mapping[Any, Any] | None,
    default: Mapping[str, Speaker] | None,
    *,
    default_keys: tuple[str, ...],
    min_labels: int,
) -> tuple[dict[str, Speaker] | None, list[tuple[str, str]]]:
    """The label → speaker map to use, or None and the problem saying that a map is needed.

    ``channel_map`` wins; else ``default`` applies when every sentence is labelled by
    one of ``default_keys``, every label is in it and at least ``min_labels`` distinct labels occur.
    """
    if channel_map is not None:
        return normalise_map(channel_map), []
    labels = list(dict.fromkeys(s.key for s in sentences if s.key is not None))
    folded = {key.casefold() for key in labels}
    keyed = {s.key_name for s in sentences} <= set(default_keys)
    if default is not None and keyed and folded <= set(default) and len(folded) >= min_labels:
        return dict(default), []
    if not labels:
        return None, []
    first = next(s for s in sentences if s.key is not None)
    example = ",".join(
        f"{key}={role}" for key, role in zip(sorted(labels), ("agent", "customer"), strict=False)
    )
    message = (
        f"the transcript tells speakers apart only by {first.key_name} ({', '.join(labels)}); "
        f"say which is the agent with channel_map (command line: --channel-map {example})"
    )
    if len(labels) == 1:
        message += "; only one label occurs, so the recording was mono or speaker separation was off"
    return None, [(first.key_path, message)]


def _lookup(mapping: dict[str, Speaker], sentence: Sentence) -> Speaker | None:
    labels = (sentence.key, *sentence.aliases) if sentence.key else ()
    return next((mapping[k.casefold()] for k in labels if k.casefold() in mapping), None)


def sentence_speakers(
    sentences: list[Sentence], mapping: dict[str, Speaker] | None
) -> tuple[list[Speaker | None], list[tuple[str, str]]]:
    """The speaker of each sentence, and a problem for missing labels and per unmapped label."""
    speakers = [_lookup(mapping, s) if mapping is not None else None for s in sentences]
    problems: list[tuple[str, str]] = []
    unlabelled = [s for s in sentences if s.key is None]
    if unlabelled:
        more = f" (and in {len(unlabelled) - 1} more sentences)" if len(unlabelled) > 1 else ""
        problems.append((unlabelled[0].key_path, f"is missing{more}, so who spoke is unknown"))
    reported: set[str] = set()
    for s, speaker in zip(sentences, speakers, strict=True):
        if mapping is None or speaker is not None or s.key is None or s.key in reported:
            continue
        reported.add(s.key)
        given = ",".join(f"{key}={role}" for key, role in mapping.items())
        problems.append(
            (
                s.key_path,
                f"{s.key_name} {s.key!r} is not in the channel map ({given or 'empty'}); "
                f"add it, e.g. --channel-map {given + ',' if given else ''}{s.key}=customer",
            )
        )
    return speakers, problems
