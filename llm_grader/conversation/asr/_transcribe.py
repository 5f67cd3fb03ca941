"""The Amazon Transcribe batch-output parser: sentences assembled from words.

Transcribe gives times as strings of seconds. Outputs since 2023 carry
``results.audio_segments`` (one sentence each); older ones give words (``results.items``)
with ``speaker_labels`` segments (diarization) or per-channel words
(``channel_labels``, channel identification), from which sentences are assembled here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._base import Parsed, Sentence, add_sentence, get_list, join_words, label


def detect_transcribe(data: Mapping[str, Any]) -> bool:
    """A ``results`` object, or a job status (``jobName``, ``status``)."""
    return isinstance(data.get("results"), Mapping) or {"jobName", "status"} <= data.keys()


@dataclass(frozen=True)
class _Word:
    """A pronounced word with the punctuation that follows it."""

    path: str
    tokens: list[tuple[str, bool]]
    start: float
    end: float
    label: str | None


def _seconds(out: Parsed, value: object, path: str) -> float | None:
    """A Transcribe time (a string of seconds) as a number, for ordering words."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out.problem(path, "is missing" if value is None else f"{value!r} is not a number of seconds")
        return None


def _words(
    out: Parsed, items: list[Any], path: str, label_key: str, default: str | None = None
) -> list[_Word]:
    """The pronounced words of ``items``, each with its following punctuation attached.

    A word's label is its ``label_key`` field, else ``default``.
    """
    words: list[_Word] = []
    for i, item in enumerate(items):
        at = f"{path}[{i}]"
        alternatives = item.get("alternatives") if isinstance(item, Mapping) else None
        best = alternatives[0] if isinstance(alternatives, list) and alternatives else None
        content = best.get("content") if isinstance(best, Mapping) else None
        if not isinstance(content, str) or not isinstance(item, Mapping):
            out.problem(f"{at}.alternatives", "must hold at least one alternative with a content string")
            continue
        if item.get("type") == "punctuation":
            if words:
                words[-1].tokens.append((content, True))
            continue
        start = _seconds(out, item.get("start_time"), f"{at}.start_time")
        end = _seconds(out, item.get("end_time"), f"{at}.end_time")
        if start is not None and end is not None:
            words.append(_Word(at, [(content, False)], start, end, label(item.get(label_key)) or default))
    return words


_Group = Callable[[_Word], tuple[object, str | None]]
"""A word's group (consecutive words of one group make a sentence) and its speaker label."""


def _turns(words: list[_Word], group_of: _Group, key_name: str) -> list[Sentence]:
    """One sentence per run of consecutive words in the same group."""
    runs: list[list[_Word]] = []
    for word in words:
        if runs and group_of(runs[-1][-1])[0] == group_of(word)[0]:
            runs[-1].append(word)
        else:
            runs.append([word])
    return [
        Sentence(
            path=run[0].path,
            text=join_words([t for w in run for t in w.tokens]),
            start=run[0].start,
            end=run[-1].end,
            start_path=f"{run[0].path}.start_time",
            end_path=f"{run[-1].path}.end_time",
            key=group_of(run[0])[1],
            key_name=key_name,
            key_path=f"{run[0].path}.{key_name}",
        )
        for run in runs
    ]


def _by_segment(out: Parsed, segments: list[Any]) -> _Group:
    """Group words by the ``speaker_labels`` segment they start in, labelled by its speaker."""
    spans: list[tuple[float, float, str | None]] = []
    for i, segment in enumerate(segments):
        at = f"results.speaker_labels.segments[{i}]"
        if not isinstance(segment, Mapping):
            out.problem(at, "must be an object")
            continue
        start = _seconds(out, segment.get("start_time"), f"{at}.start_time")
        end = _seconds(out, segment.get("end_time"), f"{at}.end_time")
        if start is not None and end is not None:
            spans.append((start, end, label(segment.get("speaker_label"))))

    def group(word: _Word) -> tuple[object, str | None]:
        index = next((i for i, (a, b, _) in enumerate(spans) if a <= word.start <= b), -1)
        return index, word.label or (spans[index][2] if index >= 0 else None)

    return group


def _transcribe_segments(out: Parsed, segments: list[Any]) -> None:
    """One sentence per ``results.audio_segments[]`` entry (outputs since 2023)."""
    for i, segment in enumerate(segments):
        key = (
            "speaker_label"
            if isinstance(segment, Mapping) and "speaker_label" in segment
            else "channel_label"
        )
        path = f"results.audio_segments[{i}]"
        add_sentence(out, segment, path, text="transcript", start="start_time", end="end_time", key=key)


def _transcribe_channels(out: Parsed, channels: object) -> None:
    """Channel identification: words of all channels by time, a sentence per run of one channel."""
    words: list[_Word] = []
    for i, channel in enumerate(channels if isinstance(channels, list) else ()):
        path = f"results.channel_labels.channels[{i}]"
        items = get_list(out, channel, "items", f"{path}.") if isinstance(channel, Mapping) else None
        default = label(channel.get("channel_label")) if isinstance(channel, Mapping) else None
        words += _words(out, items or [], f"{path}.items", "channel_label", default)
    out.sentences += _turns(
        sorted(words, key=lambda w: w.start), lambda w: (w.label, w.label), "channel_label"
    )


def parse_transcribe(data: Mapping[str, Any]) -> Parsed:
    """Amazon Transcribe batch output: ``results``, times as strings of seconds.

    Uses ``results.audio_segments`` when present; otherwise one sentence per
    ``speaker_labels`` segment (diarization), or per run of words on one channel
    (channel identification).
    """
    out = Parsed(source_id=label(data.get("jobName")))
    status = data.get("status")
    if isinstance(status, str) and status.upper() != "COMPLETED":
        out.problem("status", f"the job is {status}, not COMPLETED")
        return out
    results = data.get("results")
    if not isinstance(results, Mapping):
        out.problem("results", "is missing")
        return out
    segments = results.get("audio_segments")
    if isinstance(segments, list) and segments:
        _transcribe_segments(out, segments)
    elif isinstance(results.get("channel_labels"), Mapping):
        _transcribe_channels(out, results["channel_labels"].get("channels"))
    else:
        items = get_list(out, results, "items", "results.") or []
        speaker_labels = results.get("speaker_labels")
        spans = speaker_labels.get("segments") if isinstance(speaker_labels, Mapping) else None
        words = _words(out, items, "results.items", "speaker_label")
        group = _by_segment(out, spans) if isinstance(spans, list) else (lambda w: (w.label, w.label))
        out.sentences += _turns(words, group, "speaker_label")
    return out
