"""load_conversations over every source, ASR on the command line, and explicit time units (9.4)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_grader.conversation import implausible_seconds, load_conversations

ROOT = Path(__file__).resolve().parent.parent
ASR = ROOT / "tests" / "data" / "asr"


def cli(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llm_grader", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", cwd=cwd, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"})


def call_in_ms(tmp_path: Path) -> Path:
    record = {"id": "ms", "channel": "call", "turns": [
        {"speaker": "agent", "text": "您好，很高兴为您服务，请问有什么可以帮您", "start": 0, "end": 4200},
        {"speaker": "customer", "text": "我的宽带断了", "start": 4500, "end": 6000},
        {"speaker": "agent", "text": "好的，我马上帮您查询一下线路情况", "start": 6300, "end": 9800}]}
    path = tmp_path / "ms.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_milliseconds_read_as_seconds_are_flagged_and_an_explicit_unit_converts(tmp_path: Path) -> None:
    path = call_in_ms(tmp_path)
    guessed = load_conversations(path)
    assert len(guessed) == 1 and len(guessed.warnings) == 1
    assert "look like milliseconds read as seconds" in guessed.warnings[0] and "--time-unit ms" in guessed.warnings[0]
    explicit = load_conversations(path, time_unit="ms")
    assert explicit.warnings == [] and [t.end for t in explicit[0].turns] == [4.2, 6.0, 9.8]
    assert load_conversations(path, time_unit="s").warnings == []


def test_asr_results_are_read_with_the_vendors_unit(tmp_path: Path) -> None:
    loaded = load_conversations(ASR / "alibaba_dual_channel.json")
    assert loaded.errors == [] and loaded[0].channel == "call"
    assert loaded[0].metadata["asr_vendor"] == "alibaba" and loaded.warnings == []
    by_vendor = load_conversations(ASR / "alibaba_dual_channel.json", format="alibaba",
                                   channel_map={"0": "customer", "1": "agent"})
    assert [t.speaker for t in by_vendor[0].turns] != [t.speaker for t in loaded[0].turns]
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        load_conversations(ASR / "alibaba_dual_channel.json", format="xml")


def test_grade_reads_asr_results_and_channel_maps_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    result = cli("grade", ASR / "tencent_dual_channel.json", "-r", "service_quality_scoring", "--rules-only",
                 "--format", "tencent", "--channel-map", "0=agent,1=customer", "-o", out)
    assert result.returncode == 0, result.stderr
    card = json.loads(out.read_text(encoding="utf-8"))
    assert card["metadata"]["asr_vendor"] == "tencent" and card["metadata"]["channel"] == "call"
    bad = cli("grade", ASR / "tencent_dual_channel.json", "-r", "service_quality_scoring", "--rules-only",
              "--format", "tencent", "--channel-map", "0=boss", "-o", tmp_path / "b.jsonl")
    assert bad.returncode == 1 and "error: --channel-map:" in bad.stderr and "unknown speaker 'boss'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_time_unit_and_channel_options(tmp_path: Path) -> None:
    path = call_in_ms(tmp_path)
    warned = cli("grade", path, "-r", "service_quality_scoring", "--rules-only", "-o", tmp_path / "a.jsonl")
    assert "warning:" in warned.stderr and "--time-unit ms" in warned.stderr
    converted = cli("grade", path, "-r", "service_quality_scoring", "--rules-only", "--time-unit", "ms",
                    "-o", tmp_path / "b.jsonl")
    assert "warning:" not in converted.stderr
    text = tmp_path / "t.txt"
    text.write_text("客服：您好，很高兴为您服务\n客户：我想查话费\n", encoding="utf-8")
    chat = cli("grade", text, "-r", "phone_answering", "--rules-only", "--channel", "call", "-o", tmp_path / "c.jsonl")
    assert chat.returncode == 0 and json.loads((tmp_path / "c.jsonl").read_text())["metadata"]["channel"] == "call"
    wrong = cli("grade", text, "-r", "phone_answering", "--rules-only", "--time-unit", "minutes",
                "-o", tmp_path / "d.jsonl")
    assert wrong.returncode == 1 and "valid units: s, ms" in wrong.stderr


def test_a_chat_with_iso_datetimes_is_not_taken_for_milliseconds() -> None:
    # k022 of the shipped calibration set: a takeaway chat over 5.5 minutes, no end times,
    # 0.47 characters per second with the waits between messages; it once warned.
    shipped = ROOT / "eval" / "calibration" / "conversations.jsonl"
    loaded = load_conversations(shipped)
    assert "k022" in {c.id for c in loaded} and loaded.errors == []
    assert loaded.warnings == []
    # The same chat with its offsets in milliseconds read as seconds still warns (at x60,
    # 5.5 hours, by the rate; at x1000 by the length).
    (k022,) = [c for c in loaded if c.id == "k022"]
    for factor, said in ((60, "the conversation carries 0.008 characters per second"), (1000, "lasts 92.2 h")):
        turns = [t.model_copy(update={"start": (t.start or 0) * factor}) for t in k022.turns]
        assert said in (implausible_seconds(k022.model_copy(update={"turns": turns})) or "")
