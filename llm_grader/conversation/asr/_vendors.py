"""The ASR result parsers of Alibaba Cloud, Tencent Cloud, iFlytek and Amazon Connect.

Each vendor has a ``detect_*`` function (does a parsed JSON object look like its result?)
and a ``parse_*`` function returning :class:`~._asr_base.Parsed` sentences. Amazon
Transcribe, whose sentences must be assembled from words, is in :mod:`._asr_transcribe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._base import (
    Parsed,
    Sentence,
    add_sentence,
    decode,
    get_list,
    has_list,
    join_words,
    label,
    path_get,
    unwrap,
)


def detect_alibaba(data: Mapping[str, Any]) -> bool:
    """``Result.Sentences[]``, or a task status (``TaskId``, ``StatusText``)."""
    return has_list(data, ("Result", "Sentences"), ("Sentences",)) or {"TaskId", "StatusText"} <= data.keys()


def detect_tencent(data: Mapping[str, Any]) -> bool:
    """``[Response.]Data.ResultDetail``, or a task status (``TaskId``, ``StatusStr``)."""
    body = path_get(data, "Response", "Data") or data.get("Data") or data
    return isinstance(body, Mapping) and ("ResultDetail" in body or {"TaskId", "StatusStr"} <= body.keys())


def detect_iflytek(data: Mapping[str, Any]) -> bool:
    """``[content.]orderResult`` or a bare ``lattice[]``."""
    return (
        path_get(data, "content", "orderResult") is not None
        or "orderResult" in data
        or has_list(data, ("lattice",))
    )


def detect_connect(data: Mapping[str, Any]) -> bool:
    """``Transcript[]``, or an analysis status (``JobStatus``, ``Participants``)."""
    return has_list(data, ("Transcript",)) or {"JobStatus", "Participants"} <= data.keys()


# --------------------------------------------------------------------------- Alibaba Cloud

_ALIBABA_NO_SPEECH = "SUCCESS_WITH_NO_VALID_FRAGMENT"


def parse_alibaba(data: Mapping[str, Any]) -> Parsed:
    """Alibaba Cloud recording-file recognition: ``Result.Sentences[]``, times in ms.

    Sentences carry ``ChannelId``; with speaker separation on (``auto_split``) they also
    carry ``SpeakerId``, which then says who spoke.
    """
    out = Parsed(source_id=label(data.get("TaskId")))
    status = data.get("StatusText")
    if status == _ALIBABA_NO_SPEECH:
        out.problem("StatusText", f"no speech was recognised in the recording ({status})")
        return out
    if isinstance(status, str) and status != "SUCCESS":
        out.problem(
            "StatusText", f"the task is {status}, not SUCCESS; fetch the result again once it has finished"
        )
        return out
    result, prefix = unwrap(data, "Result")
    sentences = get_list(out, result, "Sentences", prefix, "this is not a finished recording-file result")
    if sentences is None:
        return out
    by_speaker = any(isinstance(s, Mapping) and label(s.get("SpeakerId")) for s in sentences)
    key = "SpeakerId" if by_speaker else "ChannelId"
    for i, item in enumerate(sentences):
        add_sentence(
            out, item, f"{prefix}Sentences[{i}]", text="Text", start="BeginTime", end="EndTime", key=key
        )
    return out


# --------------------------------------------------------------------------- Tencent Cloud


def parse_tencent(data: Mapping[str, Any]) -> Parsed:
    """Tencent Cloud recording recognition (``DescribeTaskStatus``): ``Data.ResultDetail[]``, ms.

    ``SpeakerId`` is the channel when the task ran with ``ChannelNum=2`` and the speaker
    when it ran with ``SpeakerDiarization=1``.
    """
    body, prefix = unwrap(data, "Response", "Data")
    out = Parsed(source_id=label(body.get("TaskId")))
    status = body.get("Status")
    if status is not None and str(status) != "2":
        state = body.get("StatusStr") or status
        reason = f" ({body['ErrorMsg']})" if body.get("ErrorMsg") else ""
        out.problem(f"{prefix}Status", f"the task is {state}{reason}, not success (2)")
        return out
    hint = "submit the task with ResTextFormat 1 or more to get per-sentence times"
    details = get_list(out, body, "ResultDetail", prefix, hint)
    for i, item in enumerate(details or ()):
        path = f"{prefix}ResultDetail[{i}]"
        add_sentence(out, item, path, text="FinalSentence", start="StartMs", end="EndMs", key="SpeakerId")
    return out


# --------------------------------------------------------------------------- iFlytek


def _iflytek_words(rt: object) -> list[tuple[str, bool]]:
    """The best word of each ``rt[].ws[]``, without paragraph marks (``wp`` ``g``)."""
    tokens: list[tuple[str, bool]] = []
    for part in rt if isinstance(rt, list) else ():
        for ws in part.get("ws", ()) if isinstance(part, Mapping) else ():
            cw = ws.get("cw") if isinstance(ws, Mapping) else None
            best = cw[0] if isinstance(cw, list) and cw and isinstance(cw[0], Mapping) else {}
            if isinstance(best.get("w"), str) and best.get("wp") != "g":
                tokens.append((best["w"], best.get("wp") == "p"))
    return tokens


def _iflytek_status(out: Parsed, data: Mapping[str, Any], body: Mapping[str, Any], prefix: str) -> bool:
    """Whether the response is a finished order; records why not."""
    code = data.get("code")
    if code is not None and str(code) != "000000":
        out.problem("code", f"the request failed with code {code}: {data.get('descInfo', '')}")
        return False
    info = body.get("orderInfo")
    status = info.get("status") if isinstance(info, Mapping) else None
    if status is not None and str(status) != "4":
        out.problem(f"{prefix}orderInfo.status", f"the order is {status}, not 4 (finished)")
        return False
    return True


def _iflytek_sentence(
    out: Parsed, entry: object, path: str, track_of: Mapping[str | None, str | None]
) -> None:
    """Add the sentence of one ``lattice[]`` entry (``json_1best`` may be a JSON string)."""
    best = decode(out, entry.get("json_1best") if isinstance(entry, Mapping) else entry, path)
    st = best.get("st") if best is not None else None
    if not isinstance(st, Mapping):
        if best is not None:
            out.problem(f"{path}.st", "is missing")
        return
    role = label(st.get("rl"))
    track = track_of.get(role)
    out.sentences.append(
        Sentence(
            path=f"{path}.st",
            text=join_words(_iflytek_words(st.get("rt"))),
            start=st.get("bg"),
            end=st.get("ed"),
            start_path=f"{path}.st.bg",
            end_path=f"{path}.st.ed",
            key=role,
            key_name="rl",
            key_path=f"{path}.st.rl",
            aliases=(track,) if track else (),
        )
    )


def parse_iflytek(data: Mapping[str, Any]) -> Parsed:
    """Read iFlytek recording transcription (``getResult``): ``orderResult.lattice[].json_1best``, ms.

    ``orderResult`` and each ``json_1best`` may be embedded JSON strings, as the API returns
    them. Every word is kept, including those marked as smoothed-out disfluencies
    (``wp`` ``s``), since QA needs what was said. The role ``rl`` says who spoke; in
    dual-track mode ``label.rl_track`` also names each role's track (``L``/``R``).
    """
    body, prefix = unwrap(data, "content")
    out = Parsed()
    info = body.get("orderInfo")
    out.source_id = label(info.get("orderId")) if isinstance(info, Mapping) else None
    if not _iflytek_status(out, data, body, prefix):
        return out
    result: Mapping[str, Any] | None = body
    if "orderResult" in body:
        result, prefix = decode(out, body["orderResult"], f"{prefix}orderResult"), f"{prefix}orderResult."
    if result is None:
        return out
    tags = result.get("label")
    tracks = tags.get("rl_track") if isinstance(tags, Mapping) else None
    track_of = {label(t.get("rl")): label(t.get("track")) for t in tracks or () if isinstance(t, Mapping)}
    for i, entry in enumerate(get_list(out, result, "lattice", prefix) or ()):
        _iflytek_sentence(out, entry, f"{prefix}lattice[{i}].json_1best", track_of)
    return out


# --------------------------------------------------------------------------- Amazon Connect


def parse_connect(data: Mapping[str, Any]) -> Parsed:
    """Amazon Connect Contact Lens analysis output: ``Transcript[]``, offsets in ms.

    ``ParticipantId`` (``AGENT``/``CUSTOMER``) says who spoke, or ``ParticipantRole`` in
    outputs without ids.
    """
    meta = data.get("CustomerMetadata")
    out = Parsed(source_id=label(meta.get("ContactId")) if isinstance(meta, Mapping) else None)
    status = data.get("JobStatus")
    if isinstance(status, str) and status.upper() != "COMPLETED":
        out.problem("JobStatus", f"the analysis is {status}, not COMPLETED")
        return out
    transcript = get_list(out, data, "Transcript", "") or []
    by_id = any(isinstance(t, Mapping) and "ParticipantId" in t for t in transcript)
    key, alias = ("ParticipantId", "ParticipantRole") if by_id else ("ParticipantRole", "")
    for i, item in enumerate(transcript):
        path = f"Transcript[{i}]"
        add_sentence(
            out,
            item,
            path,
            text="Content",
            start="BeginOffsetMillis",
            end="EndOffsetMillis",
            key=key,
            alias=alias,
        )
    return out
