"""eval/benchmarks/dch.py: the NTCIR-14 STC-3 DCH-1 benchmark, end to end against the fake server.

The corpus is not shipped; ``tests/data/dch/dch_sample.json`` holds six invented dialogues in
its format (19 annotations each).
"""

from __future__ import annotations

import importlib
import json
import math
import statistics
import threading
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from llm_grader.agreement import krippendorff_alpha
from llm_grader.testing import FakeOpenAIServer, Reply, answer, item_of, raw

from .conftest import ROOT

SAMPLE = ROOT / "tests" / "data" / "dch" / "dch_sample.json"
CORPUS: list[dict[str, Any]] = json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def dch(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "eval" / "benchmarks"))
    return importlib.import_module("dch")


def labels(dialogue: dict[str, Any], key: str) -> list[int]:
    return [a["quality"][key] for a in dialogue["annotations"]]


def counts(dialogue: dict[str, Any], key: str) -> list[int]:
    c = Counter(labels(dialogue, key))
    return [c[v] for v in (2, 1, 0, -1, -2)]


# --------------------------------------------------------------------------- the measures


def test_nmd_and_rsnod_are_the_official_scripts(dch: ModuleType) -> None:
    # p = [0, 1, 0, 0, 0], q = [.5, .5, 0, 0, 0] (bins 2, 1, 0, -1, -2).
    # NMD: cumulative sums 0,1,1,1,1 and .5,1,1,1,1 differ by .5 in all → .5 / 4.
    assert dch.nmd([0, 1, 0, 0, 0], [1, 1, 0, 0, 0]) == pytest.approx(0.125)
    # RSNOD: (p − q)² = [.25, .25, 0, 0, 0]; Σ_j |i − j| (p_j − q_j)² for i = 0..4 is
    # .25, .25, .75, 1.25, 1.75 — eval.py averages over EVERY bin: 4.25 / 5 = .85 (both ways),
    # so RSNOD = sqrt(.85 / 4). (The paper's OD, over the truth's non-zero bins only, would give .25.)
    assert dch.rsnod([0, 1, 0, 0, 0], [1, 1, 0, 0, 0]) == pytest.approx(math.sqrt(0.85 / 4))
    # Opposite ends: every cumulative difference is 1 → NMD 1; Σ_j |i − j| d²_j = |i| + |4 − i| = 4.
    assert dch.nmd([1, 0, 0, 0, 0], [0, 0, 0, 0, 1]) == pytest.approx(1.0)
    assert dch.rsnod([1, 0, 0, 0, 0], [0, 0, 0, 0, 1]) == pytest.approx(1.0)
    assert dch.nmd([3, 2, 0, 0, 1], [6, 4, 0, 0, 2]) == 0.0 == dch.rsnod([3, 2, 0, 0, 1], [6, 4, 0, 0, 2])
    with pytest.raises(ValueError):
        dch.nmd([0, 0, 0, 0, 0], [1, 0, 0, 0, 0])


def test_median_and_mode_of_the_annotators(dch: ModuleType) -> None:
    assert dch.median([1] * 10 + [0] * 9) == 1
    assert dch.median([2, -2]) == -2  # the lower middle one for an even count
    assert dch.mode([2, 2, 1, 1, 1, -2, -2, -2]) == 1  # a tie goes to the one nearest the median
    assert dch.mode([0, 0, 0, 1, 2]) == 0


# --------------------------------------------------------------------------- the corpus


def test_conversion_helpdesk_is_the_agent_and_empty_utterances_are_marked(dch: ModuleType) -> None:
    dialogues = dch.load_dch(SAMPLE)
    assert [d.conversation.id for d in dialogues] == [d["id"] for d in CORPUS]
    phone = dialogues[0].conversation
    assert [(t.speaker, t.text) for t in phone.turns][:2] == [
        ("customer", "@某某手机客服 我的手机昨晚升级系统以后就开不了机了,怎么办?"),
        ("agent", "您好,请您长按电源键和音量下键十秒钟强制重启试一下。\n如果还不行,请告诉我们手机型号。"),
    ]
    earphones = dialogues[3].conversation
    assert [(t.speaker, t.text) for t in earphones.turns] == [
        ("customer", "新买的耳机只有一边有声音\n[图片/表情]"),
        ("agent", "您好,请把耳机重新放回充电盒,合上盖子十秒后再取出试试。"),
        ("customer", "[图片/表情]\n[图片/表情]"),
        ("customer", "两边都有声音了"),
        ("agent", "好的,有问题随时联系我们\n[图片/表情]"),
    ]
    assert dialogues[1].human["A"] == labels(CORPUS[1], "A") and len(dialogues[1].human["E"]) == 19


def test_a_bad_file_is_refused_naming_file_line_and_field(
    dch: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = json.loads(json.dumps(CORPUS[:2]))
    bad[1]["turns"][0]["sender"] = "agent"
    bad[1]["annotations"][3]["quality"]["S"] = 3
    path = tmp_path / "bad.json"
    text = "[\n" + ",\n".join(json.dumps(d, ensure_ascii=False) for d in bad) + "\n]\n"
    path.write_text(text, encoding="utf-8")
    code = dch.main(
        ["--data", str(path), "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "-o", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert f"{path}:3: [1].turns[0].sender: must be customer or helpdesk, not 'agent'" in err
    assert f"{path}:3: [1].annotations[3].quality.S: must be an integer from -2 to 2, not 3" in err
    assert not (tmp_path / "scorecards.jsonl").exists()  # nothing graded from a bad file
    path.write_text('[{"id": "x", "turns": [', encoding="utf-8")
    assert dch.main(["--data", str(path), "--model", "m", "-o", str(tmp_path)]) == 1
    assert f"{path}:1: not valid JSON" in capsys.readouterr().err


def test_sample_is_seeded_and_keeps_file_order(dch: ModuleType) -> None:
    dialogues = dch.load_dch(SAMPLE)
    picked = [d.conversation.id for d in dch.sample(dialogues, 3, 5)]
    assert picked == [d.conversation.id for d in dch.sample(dialogues, 3, 5)]
    assert len(picked) == 3 and picked == sorted(picked, key=[d["id"] for d in CORPUS].index)
    assert dch.sample(dialogues, None, 0) == dialogues == dch.sample(dialogues, 10, 0)


# --------------------------------------------------------------------------- end to end


def scripted_server() -> FakeOpenAIServer:
    """A: two votes for the annotators' median and one for its neighbour; S: always 0; E: the
    annotators' mode, except dialogue 6, whose E answer is never valid JSON."""
    calls: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    def respond(request: dict[str, Any]) -> Reply:
        transcript = "\n".join(str(m.get("content") or "") for m in request["messages"])
        (dialogue,) = [d for d in CORPUS if d["turns"][0]["utterances"][0] in transcript]
        item = item_of(request)
        with lock:
            calls[dialogue["id"], item] += 1
            n = calls[dialogue["id"], item]
        if item == "accomplishment":
            mid = statistics.median_low(labels(dialogue, "A"))
            tier = mid if n % 3 else (mid - 1 if mid > -2 else mid + 1)
        elif item == "satisfaction":
            tier = 0
        else:
            if dialogue["id"] == "4000000000000006":
                return raw("不是JSON")
            tier = statistics.mode(labels(dialogue, "E"))
        quote = dialogue["turns"][1]["utterances"][0]
        return answer(
            request, {"evidence": [{"turn": 2, "quote": quote}], "rationale": "依据对话", "tier": str(tier)}
        )

    return FakeOpenAIServer(respond)


def test_the_benchmark_end_to_end_against_the_scripted_server(
    dch: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "out"
    with scripted_server() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)  # honoured like `grade`: no --base-url
        code = dch.main(
            ["--data", str(SAMPLE), "--model", "fake", "--samples", "3", "--no-cache", "-o", str(out)]
        )
        assert server.requests and all(
            r["model"] == "fake" and r["temperature"] == 0.7 for r in server.requests
        )
    assert code == 3  # one item could not be graded: the exit code says so
    printed = capsys.readouterr().out
    assert "DCH-1: 6 of 6 dialogues, model fake, 3 sample(s) each, distribution from votes" in printed
    assert "α 3700" in printed

    converted = [
        json.loads(line) for line in (out / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert converted[3]["turns"][2] == {"speaker": "customer", "text": "[图片/表情]\n[图片/表情]"}
    assert len(converted) == 6 and {t["speaker"] for c in converted for t in c["turns"]} == {
        "agent",
        "customer",
    }
    assert len((out / "scorecards.jsonl").read_text(encoding="utf-8").splitlines()) == 6

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["dialogues"] == report["graded_dialogues"] == 6
    assert report["rubric"] == {"id": "dch_quality", "version": "1.0"} and report["samples"] == 3
    a, s, e = (report["scores"][k] for k in "ASE")
    assert (a["graded"], a["failed"], s["graded"], e["graded"], e["failed"]) == (6, 0, 6, 5, 1)
    assert e["failed_ids"] == ["4000000000000006"]
    assert a["qwk_median"] == 1.0  # the majority tier is the median every time
    assert s["qwk_median"] == 0.0  # a constant answer agrees no better than chance
    assert e["qwk_mode"] == 1.0
    assert (a["alpha_annotators_all_3700"], s["alpha_annotators_all_3700"], e["alpha_annotators_all_3700"]) == (
        0.26, 0.29, 0.20,
    )  # fmt: skip
    table = [[labels(d, "A")[r] for d in CORPUS] for r in range(19)]
    assert a["alpha_annotators"] == round(krippendorff_alpha(table, level="ordinal"), 4)
    model_a = [statistics.median_low(labels(d, "A")) for d in CORPUS]
    assert a["alpha_with_model"] == round(krippendorff_alpha([*table, model_a], level="ordinal"), 4)

    submission = {
        d["id"]: d["quality"] for d in json.loads((out / "submission.json").read_text(encoding="utf-8"))
    }
    assert set(submission["4000000000000006"]) == {"A", "S"}  # no E distribution for the failed item
    # Dialogue 2, A: annotators 10 × 1 and 9 × 0; the model's votes 2 × 1 and 1 × 0.
    refund = submission["4000000000000002"]["A"]
    assert refund == {"2": 0.0, "1": 0.666667, "0": 0.333333, "-1": 0.0, "-2": 0.0}
    truth = counts(CORPUS[1], "A")
    # Cumulative sums differ only at bin 1: |2/3 − 10/19| = 8/57 → NMD = 8/57 / 4 = 2/57.
    assert dch.nmd(list(refund.values()), truth) == pytest.approx(2 / 57, abs=1e-5)
    # p − q = [0, 8/57, −8/57, 0, 0]: Σ_j |i − j| d²_j = a(|i − 1| + |i − 2|) with a = (8/57)², over
    # i = 0..4: 3a, a, a, 3a, 5a → mean 2.6a → RSNOD = sqrt(2.6a / 4).
    assert dch.rsnod(list(refund.values()), truth) == pytest.approx(math.sqrt(0.65 * 64 / 3249), abs=1e-5)
    # Dialogue 1, S: annotators 12 × 2, 6 × 1, 1 × 0; the model 0 every time.
    # Cumulative: 12/19, 18/19, 1, 1, 1 against 0, 0, 1, 1, 1 → NMD = 30/19 / 4 = 15/38.
    assert dch.nmd(
        list(submission["4000000000000001"]["S"].values()), counts(CORPUS[0], "S")
    ) == pytest.approx(15 / 38)
    for key, score in report["scores"].items():
        pairs = [
            (list(submission[d["id"]][key].values()), counts(d, key))
            for d in CORPUS
            if key in submission[d["id"]]
        ]
        assert score["nmd"] == pytest.approx(statistics.fmean(dch.nmd(p, q) for p, q in pairs), abs=1e-4)
        assert score["rsnod"] == pytest.approx(statistics.fmean(dch.rsnod(p, q) for p, q in pairs), abs=1e-4)
    assert s["nmd"] > a["nmd"]  # the constant answer is further from the annotators than the median's votes
