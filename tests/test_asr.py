"""Vendor ASR transcripts: every vendor's turns field by field, detection, maps, units, errors.

The fixtures in ``tests/data/asr`` were written by hand from each vendor's published
response example (``tests/data/asr/README.md`` cites the pages).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from llm_grader.conversation import (
    VENDORS,
    Conversation,
    Turn,
    detect_vendor,
    implausible_seconds,
    parse_channel_map,
    read_asr,
    to_seconds,
)
from llm_grader.conversation.asr import _read as asr_module
from llm_grader.errors import ConversationError, NotFoundError, Problem

ASR = Path(__file__).resolve().parent / "data" / "asr"
BAD = ASR / "malformed"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ASR / name).read_text(encoding="utf-8"))
    return data


def turns(conversation: Conversation) -> list[tuple[str, str, float | None, float | None]]:
    return [(t.speaker, t.text, t.start, t.end) for t in conversation.turns]


def problems(exc: pytest.ExceptionInfo[ConversationError]) -> dict[str, str]:
    return {p.field: p.message for p in exc.value.problems}


# --------------------------------------------------------------------------- every vendor

ALIBABA = [
    ("agent", "您好，很高兴为您服务，请问有什么可以帮您？", 0.32, 2.85),
    ("customer", "喂，你好，我家宽带从昨天晚上开始就上不了网了。", 3.4, 7.12),
    ("agent", "非常抱歉给您带来不便，麻烦您提供一下宽带账号或者装机电话。", 7.56, 11.98),
    ("customer", "账号是零二八零零一二三四五六。", 12.64, 15.21),
    ("agent", "好的，我这边看到您所在的小区有线路故障，预计今天下午六点前修复。", 15.9, 21.38),
    ("customer", "好吧，那我等一下。", 21.95, 23.3),
    ("agent", "感谢您的耐心，请问还有其他可以帮您的吗？", 23.9, 27.45),
    ("customer", "没有了。", 28.01, 28.9),
    ("agent", "好的，祝您生活愉快，再见。", 29.3, 31.6),
]

ALIBABA_SPLIT = [
    ("agent", "您好，这里是话费查询服务，工号八零三。", 0.26, 2.48),
    ("customer", "你好，我想问一下这个月话费怎么多扣了二十块。", 3.05, 6.01),
    ("agent", "我帮您查一下，是本月开通的视频会员包产生的费用，需要为您退订吗？", 6.62, 12.3),
    ("customer", "要退订，我没开过这个。", 12.9, 16.35),
]

TENCENT = [
    ("agent", "您好，这里是信用卡中心，请问有什么可以帮您？", 0.48, 3.92),
    ("customer", "我上个月的账单已经还了，怎么还显示逾期？", 4.6, 8.15),
    ("agent", "请您稍等，我帮您查询一下还款记录。", 8.9, 14.3),
    ("agent", "查到了，您是在到期日后一天还款的，我这边可以帮您申请减免滞纳金。", 15.02, 21.65),
]

IFLYTEK = [
    ("agent", "您好，燃气服务热线，请问有什么可以帮您？", 0.56, 3.38),
    ("customer", "嗯，我家厨房有股煤气味，是不是漏气了？", 4.02, 8.46),
    ("agent", "请您先关闭燃气总阀，打开门窗通风，不要开关电器。", 9.01, 15.2),
    ("customer", "好的，已经关了。", 15.9, 17.05),
    ("agent", "维修师傅会在三十分钟内上门，请保持电话畅通。", 17.6, 22.9),
]

TRANSCRIBE_DIARIZATION = [
    ("agent", "您好，欢迎致电客服中心。", 0.52, 3.1),
    ("customer", "我上周买的耳机想退货。", 3.6, 6.95),
    ("agent", "好的，请提供一下订单号。", 7.4, 11.2),
    ("customer", "订单号是七七八九。", 11.8, 13.4),
    ("customer", "谢谢。", 14.3, 15.1),
    ("agent", "已为您提交退货申请。", 15.6, 18.9),
]

TRANSCRIBE_CHANNELS = [
    ("agent", "您好，请问预约哪天？", 0.4, 2.3),
    ("customer", "周六上午可以吗？", 2.9, 4.4),
    ("agent", "可以，已帮您约好了。", 5.0, 6.65),
    ("customer", "好，谢谢。", 7.1, 7.9),
]

CONNECT = [
    ("agent", "您好，这里是航空公司客服，请问有什么可以帮您？", 0.31, 3.76),
    ("customer", "我明天上午的航班想改签到下午。", 4.42, 7.69),
    ("agent", "好的，请提供一下您的订单号和乘机人姓名。", 8.2, 11.85),
    ("customer", "订单号是[PII]，乘机人是[PII]。", 12.5, 17.54),
    ("agent", "已为您改签到明天下午三点的航班，差价免收，祝您旅途愉快。", 18.33, 24.3),
]

CASES = [
    ("alibaba_dual_channel.json", "alibaba", None, ALIBABA),
    ("alibaba_speaker_split.json", "alibaba", "1=agent,2=customer", ALIBABA_SPLIT),
    ("tencent_dual_channel.json", "tencent", "0=客服,1=客户", TENCENT),
    ("iflytek_getresult.json", "iflytek", "1=agent,2=customer", IFLYTEK),
    ("iflytek_getresult.json", "iflytek", "L=agent,R=customer", IFLYTEK),
    ("iflytek_order_result.json", "iflytek", "1=agent,2=customer", IFLYTEK),
    ("transcribe_diarization.json", "transcribe", "spk_0=agent,spk_1=customer", TRANSCRIBE_DIARIZATION),
    ("transcribe_channels.json", "transcribe", "ch_0=agent,ch_1=customer", TRANSCRIBE_CHANNELS),
    ("connect_contact_lens.json", "connect", None, CONNECT),
]


@pytest.mark.parametrize(("name", "vendor", "channel_map", "expected"), CASES)
def test_each_vendor_fixture_converts_turn_by_turn(
    name: str, vendor: str, channel_map: str | None, expected: list[tuple[str, str, float, float]]
) -> None:
    mapping = parse_channel_map(channel_map) if channel_map else None
    conversation = read_asr(ASR / name, channel_map=mapping)
    assert conversation.channel == "call"
    assert conversation.id == Path(name).stem
    assert conversation.metadata["asr_vendor"] == vendor
    got = turns(conversation)
    assert [(s, t) for s, t, _, _ in got] == [(s, t) for s, t, _, _ in expected]
    for (_, _, start, end), (_, _, want_start, want_end) in zip(got, expected, strict=True):
        assert start == pytest.approx(want_start, abs=1e-9)
        assert end == pytest.approx(want_end, abs=1e-9)


@pytest.mark.parametrize(("name", "vendor", "channel_map", "expected"), CASES)
def test_the_vendor_named_explicitly_reads_the_same(
    name: str, vendor: str, channel_map: str | None, expected: list[tuple[str, str, float, float]]
) -> None:
    mapping = parse_channel_map(channel_map) if channel_map else None
    assert (
        read_asr(load(name), vendor=vendor, channel_map=mapping, conversation_id="x").turns
        == read_asr(ASR / name, channel_map=mapping).turns
    )


def test_transcribe_audio_segments_give_one_turn_per_segment() -> None:
    # Outputs since 2023 add results.audio_segments (one entry per segment) to the same file.
    data = load("transcribe_diarization.json")
    data["results"]["audio_segments"] = [
        {"id": 0, "transcript": "您好，欢迎致电客服中心。", "start_time": "0.52", "end_time": "3.1",
         "speaker_label": "spk_0", "items": [0, 1, 2, 3, 4, 5, 6]},
        {"id": 1, "transcript": "我上周买的耳机想退货。", "start_time": "3.6", "end_time": "6.95",
         "speaker_label": "spk_1", "items": [7, 8, 9, 10, 11, 12, 13, 14]},
    ]  # fmt: skip
    conversation = read_asr(data, channel_map={"spk_0": "agent", "spk_1": "customer"})
    assert turns(conversation) == [
        ("agent", "您好，欢迎致电客服中心。", 0.52, 3.1),
        ("customer", "我上周买的耳机想退货。", 3.6, 6.95),
    ]
    assert conversation.id == "return-call-20240513-0931"


def test_transcribe_words_without_labels_take_their_segments_speaker() -> None:
    # Older diarization outputs label only the speaker_labels segments, not the words.
    data = load("transcribe_diarization.json")
    for item in data["results"]["items"]:
        item.pop("speaker_label", None)
    conversation = read_asr(data, channel_map=parse_channel_map("spk_0=agent,spk_1=customer"))
    assert turns(conversation) == TRANSCRIBE_DIARIZATION


def test_contact_lens_roles_without_participant_ids() -> None:
    data = load("connect_contact_lens.json")
    for item in data["Transcript"]:
        item["ParticipantRole"] = item.pop("ParticipantId")
    assert turns(read_asr(data)) == CONNECT


def test_ids_come_from_the_argument_then_the_file_then_the_vendor() -> None:
    assert read_asr(ASR / "connect_contact_lens.json", conversation_id="call-1").id == "call-1"
    assert read_asr(load("connect_contact_lens.json")).id == "7d9a5e3c-21b4-4f08-8c5e-6a1f0b2c9d47"
    assert read_asr(load("alibaba_dual_channel.json")).id == "8f1e2b6cd75711e89305ab6170fe****"
    tencent = read_asr(load("tencent_dual_channel.json"), channel_map={0: "agent", 1: "customer"})
    assert tencent.id == "10248866"
    assert tencent.metadata == {
        "asr_vendor": "tencent",
        "asr_source_id": "10248866",
        "asr_speakers": {"0": "agent", "1": "customer"},
    }


def test_sentences_are_one_turn_each_ordered_by_start_and_empty_ones_skipped() -> None:
    data = load("alibaba_dual_channel.json")
    sentences = data["Result"]["Sentences"]
    # Channels listed one after the other, plus a sentence with no text (noise).
    sentences[:] = [s for s in sentences if s["ChannelId"] == 1] + [
        s for s in sentences if s["ChannelId"] == 0
    ]
    sentences.append({"BeginTime": 500, "EndTime": 800, "Text": " ", "ChannelId": 1})
    assert turns(read_asr(data)) == turns(read_asr(ASR / "alibaba_dual_channel.json"))


def test_a_whole_vendor_result_is_not_modified() -> None:
    data = load("iflytek_getresult.json")
    before = copy.deepcopy(data)
    read_asr(data, channel_map={"1": "agent", "2": "customer"})
    assert data == before


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(("name", "vendor", "_map", "_expected"), CASES)
def test_detect_vendor(name: str, vendor: str, _map: object, _expected: object) -> None:
    assert detect_vendor(load(name)) == vendor


@pytest.mark.parametrize(
    ("name", "vendor"),
    [
        ("alibaba_running.json", "alibaba"),
        ("tencent_failed.json", "tencent"),
        ("iflytek_bad_json_1best.json", "iflytek"),
    ],
)
def test_unfinished_tasks_are_still_detected(name: str, vendor: str) -> None:
    assert detect_vendor(json.loads((BAD / name).read_text(encoding="utf-8"))) == vendor


def test_an_unknown_result_lists_the_vendors() -> None:
    with pytest.raises(ConversationError) as exc:
        read_asr(BAD / "unknown_vendor.json")
    message = str(exc.value)
    assert message.startswith(f"{BAD / 'unknown_vendor.json'}: is not a known ASR result (")
    for name, vendor in VENDORS.items():
        assert f"{name}: {vendor.shape}" in message
    assert "--format" in message


def test_an_unknown_vendor_name_lists_the_vendors() -> None:
    with pytest.raises(ValueError, match="unknown ASR vendor 'huawei'; use one of alibaba, tencent, iflytek"):
        read_asr(load("connect_contact_lens.json"), vendor="huawei")
    assert (
        read_asr(load("connect_contact_lens.json"), vendor="Contact-Lens").metadata["asr_vendor"] == "connect"
    )


def test_vendor_time_units_are_documented_and_explicit() -> None:
    assert {name: v.time_unit for name, v in VENDORS.items()} == {
        "alibaba": "ms",
        "tencent": "ms",
        "iflytek": "ms",
        "transcribe": "s",
        "connect": "ms",
    }


# --------------------------------------------------------------------------- channel maps


def test_parse_channel_map_accepts_aliases_and_labels() -> None:
    assert parse_channel_map("0=agent, 1 = 客户") == {"0": "agent", "1": "customer"}
    assert parse_channel_map("SPK_0=坐席,spk_1=user") == {"spk_0": "agent", "spk_1": "customer"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0agent", "channel map entry '0agent' is not LABEL=SPEAKER; write e.g. 0=agent,1=customer"),
        ("0=agent,", "channel map entry '' is not LABEL=SPEAKER"),
        ("=agent", "channel map entry '=agent' is not LABEL=SPEAKER"),
        ("0=agent,0=customer", "channel '0' is mapped twice"),
        ("0=manager", "unknown speaker 'manager'"),
    ],
)
def test_parse_channel_map_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_channel_map(text)


def test_a_channel_map_replaces_the_default() -> None:
    flipped = read_asr(ASR / "alibaba_dual_channel.json", channel_map={0: "customer", 1: "agent"})
    assert [t.speaker for t in flipped.turns] == ["customer", "agent"] * 4 + ["customer"]
    assert flipped.metadata["asr_speakers"] == {"0": "customer", "1": "agent"}


def test_connect_role_labels_are_matched_without_regard_to_case() -> None:
    data = load("connect_contact_lens.json")
    for item in data["Transcript"]:
        item["ParticipantId"] = item["ParticipantId"].lower()
    assert turns(read_asr(data)) == CONNECT


def test_an_unmapped_channel_names_the_channel_and_the_option() -> None:
    with pytest.raises(ConversationError) as exc:
        read_asr(ASR / "tencent_dual_channel.json", channel_map={"0": "agent"})
    assert [str(p) for p in exc.value.problems] == [
        f"{ASR / 'tencent_dual_channel.json'}: Response.Data.ResultDetail[1].SpeakerId: SpeakerId '1' is not in "
        "the channel map (0=agent); add it, e.g. --channel-map 0=agent,1=customer"
    ]
    assert exc.value.conversation_id == "tencent_dual_channel"


def test_labels_without_a_default_need_a_map() -> None:
    with pytest.raises(ConversationError) as exc:
        read_asr(ASR / "transcribe_diarization.json")
    assert problems(exc) == {
        "results.items[0].speaker_label": "the transcript tells speakers apart only by speaker_label (spk_0, "
        "spk_1); say which is the agent with channel_map (command line: --channel-map spk_0=agent,spk_1=customer)"
    }


def test_alibaba_default_needs_both_channels_and_channel_ids() -> None:
    # Speaker separation on a mono file: SpeakerId, not ChannelId, says who spoke.
    with pytest.raises(ConversationError) as exc:
        read_asr(ASR / "alibaba_speaker_split.json")
    assert list(problems(exc)) == ["Result.Sentences[0].SpeakerId"]
    assert "--channel-map 1=agent,2=customer" in str(exc.value)
    # A mono file without speaker separation: one channel, so no default.
    mono = load("alibaba_dual_channel.json")
    for sentence in mono["Result"]["Sentences"]:
        sentence["ChannelId"] = 0
    with pytest.raises(ConversationError) as exc:
        read_asr(mono)
    assert problems(exc)["Result.Sentences[0].ChannelId"].endswith(
        "--channel-map 0=agent); only one label occurs, so the recording was mono or speaker separation was off"
    )
    everyone_agent = read_asr(mono, channel_map={0: "agent"})
    assert {t.speaker for t in everyone_agent.turns} == {"agent"}


def test_a_missing_label_is_reported_once_with_a_count() -> None:
    data = load("tencent_dual_channel.json")
    for detail in data["Response"]["Data"]["ResultDetail"]:
        detail["SpeakerId"] = None
    with pytest.raises(ConversationError) as exc:
        read_asr(data, channel_map={0: "agent", 1: "customer"})
    assert problems(exc) == {
        "Response.Data.ResultDetail[0].SpeakerId": "is missing (and in 3 more sentences), so who spoke is unknown"
    }


def test_a_bad_channel_map_argument_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="channel True must be a non-empty label or number"):
        read_asr(ASR / "alibaba_dual_channel.json", channel_map={True: "agent"})
    with pytest.raises(ValueError, match="unknown speaker 'boss'"):
        read_asr(ASR / "alibaba_dual_channel.json", channel_map={0: "boss"})


# --------------------------------------------------------------------------- time units


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [(2365, "ms", 2.365), ("2365", "ms", 2.365), (" 4.87 ", "s", 4.87), (0, "ms", 0.0), (12.5, "s", 12.5)],
)
def test_to_seconds(value: object, unit: asr_module.TimeUnit, seconds: float) -> None:
    assert to_seconds(value, unit) == seconds


@pytest.mark.parametrize(
    ("value", "unit", "message"),
    [
        (True, "ms", "time True is not a number of milliseconds"),
        ("abc", "s", "time 'abc' is not a number of seconds"),
        (None, "ms", "time None is not a number of milliseconds"),
        (-1, "ms", "time -1 must be a finite number ≥ 0"),
        (float("nan"), "s", "time nan must be a finite number ≥ 0"),
        (1, "min", "unknown time unit 'min'; use 's' or 'ms'"),
    ],
)
def test_to_seconds_errors(value: object, unit: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_seconds(value, unit)


def test_milliseconds_are_never_taken_as_seconds() -> None:
    # The same sentence times in two vendors' units give the same seconds.
    alibaba = read_asr(ASR / "alibaba_dual_channel.json")
    assert alibaba.turns[0].start == 0.32
    assert max(t.end or 0 for t in alibaba.turns) == 31.6
    assert implausible_seconds(alibaba) is None


# --------------------------------------------------------------------------- plausibility


def call(*turn_list: tuple[str, str, float | None, float | None]) -> Conversation:
    return Conversation(
        id="c1", channel="call", turns=[Turn(speaker=s, text=t, start=a, end=b) for s, t, a, b in turn_list]
    )


def test_every_fixture_is_plausible() -> None:
    for name, _vendor, channel_map, _expected in CASES:
        mapping = parse_channel_map(channel_map) if channel_map else None
        assert implausible_seconds(read_asr(ASR / name, channel_map=mapping)) is None, name


def test_milliseconds_read_as_seconds_are_flagged() -> None:
    as_read = call(*((s, t, a * 1000, b * 1000) for s, t, a, b in ALIBABA))
    warning = implausible_seconds(as_read)
    assert warning == (
        "conversation 'c1': the agent speaks 0.006 characters per second: times look like milliseconds "
        "read as seconds; give the time unit (--time-unit ms)"
    )


def test_a_call_longer_than_a_day_is_flagged() -> None:
    long_call = call(("agent", "您好", 0.0, 1.0), ("customer", "你好", 90_000.0, 90_001.0))
    assert implausible_seconds(long_call) == (
        "conversation 'c1' lasts 25.0 h: times look like milliseconds read as seconds; "
        "give the time unit (--time-unit ms)"
    )


def test_start_times_only_use_the_whole_conversation() -> None:
    slow = call(("agent", "您好，很高兴为您服务", 320.0, None), ("customer", "我的宽带坏了", 3400.0, None))
    assert implausible_seconds(slow) is not None
    assert "the conversation carries 0.005 characters per second" in (implausible_seconds(slow) or "")
    normal = call(("agent", "您好，很高兴为您服务", 0.32, None), ("customer", "我的宽带坏了", 3.4, None))
    assert implausible_seconds(normal) is None


def test_short_or_untimed_conversations_are_not_flagged() -> None:
    assert implausible_seconds(call(("agent", "您好", None, None))) is None
    assert implausible_seconds(call(("agent", "好", 1000.0, 2000.0))) is None  # too little text to judge
    # A long hold: the rate uses the agent's own talk, not the silence between turns.
    hold = call(
        ("agent", "您好，请稍等，我帮您查询一下", 0.0, 3.0),
        ("agent", "让您久等了，已经为您处理好", 1200.0, 1203.5),
    )
    assert implausible_seconds(hold) is None


# --------------------------------------------------------------------------- malformed input


def test_an_unfinished_alibaba_task() -> None:
    with pytest.raises(ConversationError) as exc:
        read_asr(BAD / "alibaba_running.json")
    assert problems(exc) == {
        "StatusText": "the task is RUNNING, not SUCCESS; fetch the result again once it has finished"
    }
    assert exc.value.conversation_id == "alibaba_running"


def test_a_failed_tencent_task_gives_its_reason() -> None:
    with pytest.raises(ConversationError) as exc:
        read_asr(BAD / "tencent_failed.json")
    assert problems(exc) == {
        "Response.Data.Status": "the task is failed (Failed to download audio file!), not success (2)"
    }


def test_every_bad_sentence_is_reported_with_its_path() -> None:
    with pytest.raises(ConversationError) as exc:
        read_asr(BAD / "alibaba_bad_sentences.json")
    assert problems(exc) == {
        "Result.Sentences[2].Text": "is missing",
        "Result.Sentences[0].EndTime": "end 3900 is before start 4200 (milliseconds)",
        "Result.Sentences[1].BeginTime": "time 'abc' is not a number of milliseconds",
    }
    first = exc.value.problems[0]
    assert first.file == str(BAD / "alibaba_bad_sentences.json") and first.line is None


def test_invalid_embedded_json_is_located() -> None:
    with pytest.raises(ConversationError) as exc:
        read_asr(BAD / "iflytek_bad_json_1best.json", channel_map={"1": "agent"})
    assert problems(exc) == {
        "content.orderResult.lattice[1].json_1best": "is not valid JSON: Expecting ':' delimiter (column 24)"
    }


def test_invalid_json_names_the_line() -> None:
    with pytest.raises(ConversationError) as exc:
        read_asr(BAD / "not_json.json")
    assert str(exc.value) == f"{BAD / 'not_json.json'}:7: invalid JSON: Expecting value (column 1)"


def test_missing_and_non_object_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        read_asr(tmp_path / "nope.json")
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConversationError, match="expected a JSON object, got list"):
        read_asr(listing)
    gbk = tmp_path / "gbk.json"
    gbk.write_bytes('{"Transcript": [{"Content": "您好"}]}'.encode("gb18030"))
    with pytest.raises(ConversationError, match="is not UTF-8"):
        read_asr(gbk)


def test_structural_problems_are_located() -> None:
    cases: list[tuple[dict[str, Any], str, dict[str, str]]] = [
        ({"Result": {"Sentences": []}}, "alibaba", {"": "no sentence with text found (Result.Sentences[])"}),
        ({"StatusText": "SUCCESS_WITH_NO_VALID_FRAGMENT", "StatusCode": 21050003}, "alibaba", {
            "StatusText": "no speech was recognised in the recording (SUCCESS_WITH_NO_VALID_FRAGMENT)"
        }),
        ({"Data": {"ResultDetail": None, "StatusStr": "success", "Status": 2}}, "tencent", {
            "Data.ResultDetail": "is missing; submit the task with ResTextFormat 1 or more to get per-sentence times"
        }),
        ({"results": {"transcripts": []}}, "transcribe", {"results.items": "is missing"}),
        ({"Transcript": [{"Content": "您好", "ParticipantId": "AGENT"}]}, "connect", {
            "Transcript[0].BeginOffsetMillis": "is missing",
            "Transcript[0].EndOffsetMillis": "is missing",
        }),
        ({"Transcript": ["您好"]}, "connect", {"Transcript[0]": "must be an object, not str"}),
        ({"code": "100001", "descInfo": "订单不存在"}, "iflytek", {"code": "the request failed with code 100001: 订单不存在"}),
        ({"content": {"orderInfo": {"status": 3}, "orderResult": ""}}, "iflytek", {
            "content.orderInfo.status": "the order is 3, not 4 (finished)"
        }),
        ({"status": "IN_PROGRESS", "jobName": "j"}, "transcribe", {"status": "the job is IN_PROGRESS, not COMPLETED"}),
    ]  # fmt: skip
    for data, vendor, expected in cases:
        with pytest.raises(ConversationError) as exc:
            read_asr(data, vendor=vendor, conversation_id="x")
        assert problems(exc) == expected, data


def test_transcribe_word_problems_are_located() -> None:
    data = load("transcribe_channels.json")
    data["results"]["channel_labels"]["channels"][1]["items"][2]["start_time"] = "soon"
    del data["results"]["channel_labels"]["channels"][0]["items"][3]["alternatives"]
    with pytest.raises(ConversationError) as exc:
        read_asr(data, channel_map={"ch_0": "agent", "ch_1": "customer"})
    assert problems(exc) == {
        "results.channel_labels.channels[1].items[2].start_time": "'soon' is not a number of seconds",
        "results.channel_labels.channels[0].items[3].alternatives": (
            "must hold at least one alternative with a content string"
        ),
    }


def test_a_result_without_an_id_needs_one() -> None:
    data = load("alibaba_dual_channel.json")
    del data["TaskId"]
    with pytest.raises(ConversationError) as exc:
        read_asr(data)
    assert problems(exc) == {"": "the result carries no id; pass conversation_id"}
    assert read_asr(data, conversation_id="c9").id == "c9"


def test_builder_problems_name_the_vendor_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    def reject(record: Any, *, file: str, line: int | None = None) -> Conversation:
        raise ConversationError(
            [
                Problem(file=file, line=None, field="turns[1].end", message="too late"),
                Problem(file=file, line=None, field="turns[2].text", message="too long"),
                Problem(file=file, line=None, field="id", message="bad id"),
            ]
        )

    monkeypatch.setattr(asr_module, "conversation_from_record", reject)
    data = load("connect_contact_lens.json")
    data["Transcript"].reverse()  # the turns are re-ordered by time; paths follow the sentences
    with pytest.raises(ConversationError) as exc:
        read_asr(data)
    assert problems(exc) == {
        "Transcript[3].EndOffsetMillis": "too late",
        "Transcript[2]": "too long",
        "id": "bad id",
    }
