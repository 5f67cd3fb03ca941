"""The Batch API path end to end: the real openai SDK and instructor against the fake server's
/v1/files and /v1/batches — batch bodies, grading from results, fallbacks, resuming, the CLI."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from llm_grader import Conversation, Grader, load_rubric
from llm_grader.batch import BatchPending, BatchState, collect_batch, state_path, submit_batch
from llm_grader.errors import LLMGraderError, ModelConfigurationError
from llm_grader.llm import ModelSettings
from llm_grader.llm._batch_api import BatchFormat, custom_id
from llm_grader.scoring import Scorecard
from llm_grader.testing import BatchScript, FakeOpenAIServer, Reply, answer, item_of

from .conftest import EXAMPLES

KEY = "sk-test-SECRET-4242"
FLAGSHIP = load_rubric("internet_cs_qa")
IDS = ["c006", "c003", "c005", "c007"]
FAST = 0.01  # seconds between polls

SCRIPTED = {
    ("c006", "politeness"): {"evidence": [{"turn": 3, "quote": "请不要着急"}], "rationale": "礼貌用语到位",
                             "tier": "good", "flags": {"service_taboo": False}},
    ("c006", "focus"): {"evidence": [{"turn": 7, "quote": "初步判断是入户光缆或者楼道分光箱的问题"}],
                        "rationale": "偶有需要客户重复", "tier": "fair"},
    ("c003", "politeness"): {"evidence": [{"turn": 1, "quote": "喂,你说。"}, {"turn": 9, "quote": "不明白你说什么"}],
                             "rationale": "使用服务禁语,顶撞客户", "tier": "poor", "flags": {"service_taboo": True}},
    ("c005", "proactiveness"): {"evidence": [{"turn": 5, "quote": "这个不归我们管,你去找营业厅"}],
                                "rationale": "推诿且问题未解决", "tier": "poor", "flags": {"shirked_unsolved": True}},
}
BAD_QUOTE = {"evidence": [{"turn": 3, "quote": "欢迎您再次光临"}], "rationale": "x", "tier": "fair",
             "flags": {"service_taboo": False}}


def top(item_id: str) -> dict[str, Any]:
    item = FLAGSHIP.item(item_id)
    obj: dict[str, Any] = {"evidence": [], "rationale": "符合标准", "tier": item.tiers[0].id}
    if item.flags:
        obj["flags"] = {f.id: False for f in item.flags}
    return obj


def settings(server: FakeOpenAIServer, mode: str = "tools", **options: Any) -> ModelSettings:
    return ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr(KEY),
                         mode=mode, transport_retries=1, **options)  # type: ignore[arg-type]


def make(server: FakeOpenAIServer, mode: str = "tools", **options: Any) -> Grader:
    options.setdefault("cache", None)
    return Grader(FLAGSHIP, model=settings(server, mode), **options)


def keyed(conversations: list[Conversation], answers: dict[tuple[str, str], Any]) -> Callable[[dict[str, Any]], Reply]:
    """Answers per (conversation, item), found from the request's transcript; unscripted: top tier."""
    grader = Grader(FLAGSHIP, cache=None)
    first = next(i for _, i in FLAGSHIP.items() if i.judge == "model")
    by_transcript: dict[str, str] = {}
    for c in conversations:  # a twin (same transcript) is answered as the first of its kind
        by_transcript.setdefault(grader.messages(first, c)[1]["content"], c.id)

    def respond(request: dict[str, Any]) -> Reply:
        sent = request["messages"][1]["content"]
        conversation = next(cid for t, cid in by_transcript.items() if sent.startswith(t))
        item = item_of(request)
        return answer(request, answers.get((conversation, item), top(item)))

    return respond


def conversation_of(conversations: list[Conversation], line: dict[str, Any]) -> str:
    grader = Grader(FLAGSHIP, cache=None)
    first = next(i for _, i in FLAGSHIP.items() if i.judge == "model")
    sent = line["body"]["messages"][1]["content"]
    return next(c.id for c in conversations if sent.startswith(grader.messages(first, c)[1]["content"]))


def stripped(card: Scorecard) -> dict[str, Any]:
    """A scorecard without usage and audit trails (what differs between the two paths)."""
    data = card.model_dump(exclude={"usage"})
    for item in data["items"]:
        item.pop("usage")
        item.pop("audit")
    return data


@pytest.fixture
def conversations(by_id: dict[str, Conversation]) -> list[Conversation]:
    return [by_id[i] for i in IDS]


# ----------------------------------------------------------------------------- the batch line


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize(("mode", "provider"), [("tools", None), ("json_schema", None), ("json", "dashscope"),
                                                ("md_json", None)])
def test_batch_body_is_exactly_the_synchronous_request(mode: str, provider: str | None,
                                                      by_id: dict[str, Conversation]) -> None:
    conversation = by_id["c006"]
    with FakeOpenAIServer(keyed([conversation], {})) as server:
        grader = Grader(FLAGSHIP, model=settings(server, mode, provider=provider), cache=None)
        grader.grade_many([conversation])
        lines = [BatchFormat(grader.judge.settings).line(r) for r in grader.plan(conversation)]  # type: ignore[union-attr]
    assert len(lines) == len(server.requests) == 9
    assert sorted(canonical(line["body"]) for line in lines) == sorted(canonical(b) for b in server.requests)
    assert {(line["method"], line["url"]) for line in lines} == {("POST", "/v1/chat/completions")}
    assert len({line["custom_id"] for line in lines}) == 9
    assert all(len(line["custom_id"]) == 37 and line["custom_id"].startswith("llmg-") for line in lines)
    if provider == "dashscope":  # the profile's extra_body is merged into the body, as the SDK sends it
        assert all(line["body"]["enable_thinking"] is False for line in lines)


def test_custom_id_is_a_hash_of_messages_schema_and_sample(by_id: dict[str, Conversation]) -> None:
    grader = Grader(FLAGSHIP, model=ModelSettings(model="m", temperature=0.7), cache=None, samples=2)
    first, second = grader.plan(by_id["c006"])[:2]
    # Sample 1 lists the tiers in another order (issue 18.4): the same prefix, another item block.
    assert first.messages[:2] == second.messages[:2] and (first.sample, second.sample) == (0, 1)
    assert first.messages[2] != second.messages[2]
    assert custom_id(first) != custom_id(second)
    again = grader.plan(by_id["c006"])[0]
    assert custom_id(again) == custom_id(first)  # deterministic: results map back by id, not order


# ----------------------------------------------------------------------------- grading from a batch


def test_batch_grades_exactly_like_ordinary_calls(conversations: list[Conversation], tmp_path: Path) -> None:
    twin = conversations[0].model_copy(update={"id": "c006-twin"})  # the same requests: sent once
    everyone = [*conversations, twin]
    with FakeOpenAIServer(keyed(everyone, SCRIPTED)) as server:
        ordinary = make(server).grade_many(everyone)
        calls = len(server.requests)
        assert server.batches is not None
        server.batches.script = BatchScript(polls=3)
        grader = make(server)
        path = tmp_path / "cards.jsonl.batch.json"
        state = submit_batch(grader, everyone, state=path, max_lines=10)
        saved = json.loads(path.read_text(encoding="utf-8"))
        seen: list[tuple[str, int, int]] = []
        cards = collect_batch(grader, everyone, state=path, output=tmp_path / "cards.jsonl", poll_interval=FAST,
                                     progress=lambda s: seen.append((s.status, s.completed, s.total)))
        batch_lines = len(server.batches.lines)
    unique = calls - 9  # the twin's nine requests are the same lines as c006's
    assert len(server.requests) == calls  # nothing asked by an ordinary call
    assert batch_lines == state.total == unique == 33
    assert len(server.batches.created) == len(state.parts) == math.ceil(unique / 10) == 4
    assert [stripped(c) for c in cards] == [stripped(c) for c in ordinary]
    assert cards[0].total_score == cards[4].total_score == 98 and cards[1].fatal and cards[2].zero_score
    assert sum(c.usage.calls for c in cards) == calls  # the twin's answers are counted per conversation
    model_items = [i for c in cards for i in c.items if i.judge == "model" and i.audit.attempts is not None]
    assert len(model_items) == calls and all((i.audit.attempts, i.usage.calls) == (1, 1) for i in model_items)
    assert [s for s in seen if s[0] == "in_progress"] and seen[-1] == ("completed", unique, unique)
    # The state file said what was sent, to whom, for which rubric; never the key. It is gone once collected.
    assert saved["rubric"] == {"id": "internet_cs_qa", "version": FLAGSHIP.version}
    assert saved["judge"]["model"] == "fake-model" and saved["judge"]["mode"] == "tools"
    assert saved["conversations"] == [*IDS, "c006-twin"]
    assert [p["id"] for p in saved["parts"]] == state.batch_ids and all(p["input_file_id"] for p in saved["parts"])
    assert sum(len(p["custom_ids"]) for p in saved["parts"]) == unique
    assert KEY not in path.parent.joinpath("cards.jsonl").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cards.jsonl"]  # and no stray .lock (issue 19.5)


@pytest.mark.parametrize("mode", ["json_schema", "json", "md_json"])
def test_every_mode_reads_batch_answers_as_instructor_does(mode: str, by_id: dict[str, Conversation],
                                                           tmp_path: Path) -> None:
    conversations = [by_id["c006"], by_id["c003"]]
    with FakeOpenAIServer(keyed(conversations, SCRIPTED)) as server:
        ordinary = make(server, mode).grade_many(conversations)
        calls = len(server.requests)
        grader = make(server, mode)
        submit_batch(grader, conversations, state=tmp_path / "deep" / "s.json")
        cards = collect_batch(grader, conversations, state=tmp_path / "deep" / "s.json", poll_interval=FAST)
    assert len(server.requests) == calls  # every batch answer was read and verified: none asked again
    assert [stripped(c) for c in cards] == [stripped(c) for c in ordinary]
    assert cards[0].item("focus").evidence[0].quote == "初步判断是入户光缆或者楼道分光箱的问题"


def test_expired_batch_failed_and_invalid_lines_are_asked_again(conversations: list[Conversation],
                                                                tmp_path: Path) -> None:
    def batch_answers(request: dict[str, Any]) -> Reply:
        item = item_of(request)
        if item == "politeness":  # a quote that is not in the transcript
            return answer(request, BAD_QUOTE)
        if item == "answer_rigor":  # a tier the item does not have
            return answer(request, {**top(item), "tier": "excellent"})
        return respond(request)

    respond = keyed(conversations, SCRIPTED)
    with FakeOpenAIServer(respond) as server:
        ordinary = make(server).grade_many(conversations)
        calls = len(server.requests)
        assert server.batches is not None
        server.batches.script = BatchScript(
            polls=2, expire_after=20, responder=batch_answers,
            fail=lambda line: "the model is overloaded" if item_of(line["body"]) == "focus" else None)
        grader = make(server)
        path = tmp_path / "state.json"
        submit_batch(grader, conversations, state=path)
        cards = collect_batch(grader, conversations, state=path, poll_interval=FAST)
        again = server.requests[calls:]
    batches = server.batches
    (batch,) = batches.batches.values()
    assert (batch.status, len(batch.lines), batch.done) == ("expired", calls, calls)
    answered = batch.output  # lines answered before the batch expired; the rest are in the error file
    failed = [e for e in batch.errors if e["error"]["code"] == "server_error"]
    expired = [e for e in batch.errors if e["error"]["code"] == "batch_expired"]
    invalid = [o for o in answered if item_of(_asked(batches, o)) in ("politeness", "answer_rigor")]
    assert len(answered) + len(failed) == 20 and len(expired) == calls - 20 and failed and invalid
    # Every line not answered validly went through one ordinary call (top tier there): nothing lost.
    assert len(again) == len(failed) + len(expired) + len(invalid)
    assert [stripped(c) for c in cards] == [stripped(c) for c in ordinary]
    assert not any(c.errors or any(i.audit.failure for i in c.items) for c in cards)
    politeness = cards[0].item("politeness")
    assert (politeness.audit.attempts, politeness.usage.calls) == (2, 2)  # the invalid batch answer counts
    assert not path.exists()


def _asked(batches: Any, output_line: dict[str, Any]) -> dict[str, Any]:
    """The request body of an output line (found by its custom id in the answered lines)."""
    (batch,) = batches.batches.values()
    line = next(i for i in batch.lines if i["custom_id"] == output_line["custom_id"])
    return line["body"]  # type: ignore[no-any-return]


def test_a_killed_run_picks_its_batch_up_by_id(conversations: list[Conversation], tmp_path: Path) -> None:
    path = tmp_path / "cards.jsonl.batch.json"
    with FakeOpenAIServer(keyed(conversations, SCRIPTED)) as server:
        assert server.batches is not None
        server.batches.script = BatchScript(polls=10_000)
        first = submit_batch(make(server), conversations, state=path)
        with pytest.raises(BatchPending, match=r"is in_progress \(\d+ of 33 requests answered, 0 failed\)"):
            collect_batch(make(server), conversations, state=path, wait=False)
        assert json.loads(path.read_text(encoding="utf-8"))["parts"][0]["status"] == "in_progress"
        # A new process: the same command picks the batch up; nothing is uploaded or created again.
        grader = make(server)
        again = submit_batch(grader, conversations, state=path)
        assert again.batch_ids == first.batch_ids
        server.batches.script.polls = 1
        cards = collect_batch(grader, conversations, state=path, poll_interval=FAST)
        uploads = [c for c in server.batches.calls if c == ("POST", "/v1/files")]
    assert len(server.batches.created) == len(uploads) == 1
    assert len(cards) == 4 and not server.requests and cards[0].total_score == 98


def test_killed_between_create_and_save_finds_the_batch_instead_of_creating_another(
        conversations: list[Conversation], tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with FakeOpenAIServer(keyed(conversations, {})) as server:
        assert server.batches is not None
        submit_batch(make(server), conversations, state=path)
        data = json.loads(path.read_text(encoding="utf-8"))
        data["parts"][0].update(id=None, status="uploaded")  # as saved just before the batch was created
        path.write_text(json.dumps(data), encoding="utf-8")
        state = submit_batch(make(server), conversations, state=path)
        assert len(server.batches.created) == 1 and state.batch_ids == [next(iter(server.batches.batches))]
        cards = collect_batch(make(server), conversations, state=path, poll_interval=FAST)
    assert len(cards) == 4 and all(c.complete for c in cards)


def test_a_batch_that_failed_as_a_whole_stops_instead_of_paying_full_price(
        conversations: list[Conversation], tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with FakeOpenAIServer(keyed(conversations, {})) as server:
        assert server.batches is not None
        server.batches.script = BatchScript(status="failed")
        grader = make(server)
        submit_batch(grader, conversations, state=path)
        with pytest.raises(LLMGraderError, match=r"^batch batch_\d+ failed at 127.0.0.1:\d+: the input file failed "
                                                 r"validation \(scripted\); none of its 33 request\(s\) was answered. "
                                                 r"Delete .*s.json to submit anew, or grade without --batch$"):
            collect_batch(grader, conversations, state=path, poll_interval=FAST)
    assert not server.requests and path.exists()


def test_a_state_file_for_other_options_is_refused(conversations: list[Conversation], tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with FakeOpenAIServer(keyed(conversations, {})) as server:
        submit_batch(make(server), conversations, state=path)
        with pytest.raises(LLMGraderError, match=r"s.json holds batch batch_\d+ made with judge .*'mode': 'tools'.*"
                                                 r"but this run has .*'mode': 'json_schema'.*delete the file"):
            submit_batch(make(server, "json_schema"), conversations, state=path)
        with pytest.raises(LLMGraderError, match=re.escape("made with options {'strategy': 'item', 'samples': 1}")):
            collect_batch(make(server, strategy="category"), conversations, state=path)


def test_an_endpoint_without_a_batch_api_is_a_clear_error(conversations: list[Conversation], tmp_path: Path) -> None:
    with FakeOpenAIServer(keyed(conversations, {}), batches=False) as server, \
            pytest.raises(ModelConfigurationError) as caught:
        submit_batch(make(server), conversations, state=tmp_path / "s.json")
    assert str(caught.value) == (
        f"127.0.0.1:{server.base_url.split(':')[2].split('/')[0]} has no Batch API (upload the batch input file "
        "(POST /files): 404 Not Found); the Batch API is offered by OpenAI, Azure OpenAI (global batch deployments) "
        "and DashScope: grade without --batch here")
    assert list(tmp_path.iterdir()) == []  # nothing reached the provider: nothing left behind


def test_rules_only_and_in_process_judges_cannot_batch(conversations: list[Conversation], tmp_path: Path) -> None:
    from llm_grader.testing import FakeJudge

    with pytest.raises(LLMGraderError, match=r"^the Batch API needs a model: this grader grades rule items only$"):
        submit_batch(Grader(FLAGSHIP), conversations, state=tmp_path / "s.json")
    with pytest.raises(LLMGraderError, match=r"needs a model endpoint .*not a FakeJudge"):
        submit_batch(Grader(FLAGSHIP, model=FakeJudge.top_tier(FLAGSHIP)), conversations, state=tmp_path / "s.json")


def test_cached_answers_are_not_sent_and_batch_answers_are_cached(conversations: list[Conversation],
                                                                  tmp_path: Path) -> None:
    cache = tmp_path / "answers.sqlite"
    with FakeOpenAIServer(keyed(conversations, SCRIPTED)) as server:
        assert server.batches is not None
        make(server, cache=cache).grade_many(conversations[:1])  # c006's nine answers cached
        state = submit_batch(make(server, cache=cache), conversations, state=tmp_path / "a.json")
        assert state.total == 33 - 9
        collect_batch(make(server, cache=cache), conversations, state=tmp_path / "a.json", poll_interval=FAST)
        again = submit_batch(make(server, cache=cache), conversations, state=tmp_path / "b.json")
    assert again.total == 0 and again.parts == [] and again.status == "empty"
    assert len(server.batches.created) == 1 and len(server.requests) == 9


def test_batch_answers_are_priced_at_the_batch_rate(by_id: dict[str, Conversation], tmp_path: Path) -> None:
    conversation = by_id["c006"]
    with FakeOpenAIServer(keyed([conversation], {})) as server:
        priced = ModelSettings(model="gpt-4o-mini", provider="openai", base_url=server.base_url,
                               api_key=SecretStr(KEY))
        (ordinary,) = Grader(FLAGSHIP, model=priced, cache=None).grade_many([conversation])
        grader = Grader(FLAGSHIP, model=priced, cache=None)
        submit_batch(grader, [conversation], state=tmp_path / "s.json")
        (batched,) = collect_batch(grader, [conversation], state=tmp_path / "s.json", poll_interval=FAST)
    # 9 calls of 100 prompt + 20 completion tokens at $0.15 / $0.60 per million; the batch at half.
    assert ordinary.usage.cost == pytest.approx(9 * (100 * 0.15 + 20 * 0.60) / 1e6)
    assert batched.usage.cost == pytest.approx(ordinary.usage.cost / 2)
    assert (batched.usage.calls, batched.usage.prompt_tokens) == (ordinary.usage.calls, ordinary.usage.prompt_tokens)


def test_state_file_round_trips_and_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "x.batch.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(LLMGraderError, match=r"x.batch.json:1: not a batch state file of this version .*delete it"):
        BatchState.load(path)
    assert state_path(tmp_path / "cards.jsonl") == tmp_path / "cards.jsonl.batch.json"


# ----------------------------------------------------------------------------- never twice, never lost (issue 17.4)


def _crashed_after_create(path: Path) -> None:
    """The state as saved just before ``batches.create`` returned (the batch exists, its id was never saved)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["parts"][0].update(id=None, status="uploaded")
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_rerun_refuses_to_create_a_batch_when_the_list_cannot_be_read(conversations: list[Conversation],
                                                                        tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with FakeOpenAIServer(keyed(conversations, {})) as server:
        assert server.batches is not None
        submit_batch(make(server), conversations, state=path)
        _crashed_after_create(path)
        server.batches.script.list_error = 400
        with pytest.raises(LLMGraderError, match=r"^cannot list the batches at 127.0.0.1:\d+ \(BadRequestError 400 "
                                                 r"after retries: listing failed \(scripted\)\) to see whether a batch "
                                                 r"was created from file 'file-\d+' .*not creating another"):
            submit_batch(make(server), conversations, state=path)
        assert len(server.batches.created) == 1 and path.exists()
        server.batches.script.list_error = None  # listing works again: the batch is found, not made anew
        state = submit_batch(make(server), conversations, state=path)
        cards = collect_batch(make(server), conversations, state=path, poll_interval=FAST)
    assert len(server.batches.created) == 1 and state.batch_ids == [next(iter(server.batches.batches))]
    assert len(cards) == 4 and all(c.complete for c in cards) and not server.requests


def test_the_batch_is_found_past_the_first_page_of_the_list(conversations: list[Conversation],
                                                             tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with FakeOpenAIServer(keyed(conversations, {})) as server:
        assert server.batches is not None
        first = submit_batch(make(server), conversations, state=path)
        _crashed_after_create(path)
        server.batches.files["file-other"] = b""
        for _ in range(130):  # the account's later batches push ours to the second page of 100
            server.batches.post("/v1/batches", json.dumps({"input_file_id": "file-other"}).encode(), "")
        state = submit_batch(make(server), conversations, state=path)
        listed = [c for c in server.batches.calls if c[1].startswith("/v1/batches?")]
    assert len(server.batches.created) == 131 and state.batch_ids == first.batch_ids
    assert len(listed) == 2


def test_malformed_results_lines_are_failed_lines_asked_again(conversations: list[Conversation],
                                                               tmp_path: Path) -> None:
    def mangle(line: dict[str, Any]) -> Any:
        sent = next(i for b in batches.batches.values() for i in b.lines if i["custom_id"] == line["custom_id"])
        item = item_of(sent["body"])
        if item == "politeness":
            return {**line, "response": "oops"}
        if item == "focus":
            return {**line, "error": "boom"}
        if item == "proactiveness":
            body = line["response"]["body"]
            return {**line, "response": {**line["response"], "body": {**body, "usage": {"prompt_tokens": "many"}}}}
        if item == "answer_rigor":
            return {**line, "response": {**line["response"], "body": {**line["response"]["body"], "choices": 7}}}
        return line

    respond = keyed(conversations, SCRIPTED)
    path = tmp_path / "s.json"
    with FakeOpenAIServer(respond) as server:
        ordinary = make(server).grade_many(conversations)
        calls = len(server.requests)
        assert server.batches is not None
        batches = server.batches
        batches.script = BatchScript(mangle=mangle)
        grader = make(server)
        submit_batch(grader, conversations, state=path)
        current, answers = await_and_answer(grader, path)
        cards = answers.grade_many(conversations)
        again = server.requests[calls:]
    mangled = [i for b in batches.batches.values() for i in b.lines
               if item_of(i["body"]) in ("politeness", "focus", "proactiveness", "answer_rigor")]
    assert len(mangled) >= 4 and len(again) == len(mangled)  # one ordinary call each, nothing else lost
    assert [stripped(c) for c in cards] == [stripped(c) for c in ordinary]
    assert not any(c.errors or any(i.audit.failure for i in c.items) for c in cards)
    assert current.path.exists()  # kept until the caller finishes the batch


def await_and_answer(grader: Grader, path: Path) -> tuple[BatchState, Grader]:
    """The batch awaited and downloaded, and the grader answering from it."""
    from llm_grader._running import run_sync
    from llm_grader.batch import await_batch, batch_grader

    state = run_sync(await_batch(grader, path, poll_interval=FAST))
    return state, batch_grader(grader, state)[0]


GOOD_PART = {"custom_ids": ["llmg-1"], "input_file_id": "file-1", "id": "batch_1", "status": "in_progress",
             "total": 1, "completed": 0, "failed": 0, "output_file_id": None, "error_file_id": None, "problem": None}
GOOD_STATE = {"version": 1, "rubric": {"id": "r", "version": "1"}, "judge": {"model": "m"}, "options": {},
              "conversations": ["c1"], "parts": [GOOD_PART], "created_at": "2025-01-01T00:00:00+0000"}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("parts.0.output_file_id", "../../../home/x", "parts[0].output_file_id: '../../../home/x' is not a plain id (letters, digits, '-', '_')"),
    ("parts.0.input_file_id", "file 1", "parts[0].input_file_id: 'file 1' is not a plain id (letters, digits, '-', '_')"),
    ("parts.0.id", 7, 'parts[0].id: a string expected, got 7'),
    ("parts.0.total", "5", 'parts[0].total: a whole number of at least 0 expected, got "5"'),
    ("parts.0.failed", -1, "parts[0].failed: a whole number of at least 0 expected, got -1"),
    ("parts.0.custom_ids", [["x"]], 'parts[0].custom_ids[0]: a string expected, got ["x"]'),
    ("parts.0", [1], "parts[0]: an object expected, got list"),
    ("conversations", "c1", 'conversations: a list expected, got "c1"'),
    ("rubric", {"id": 1, "version": "1"}, "rubric.id: a string expected, got 1"),
    ("judge", None, "judge: an object expected, got null"),
    ("extra", 1, "extra: unknown field"),
])
def test_a_tampered_state_file_is_refused_field_by_field(field: str, value: Any, message: str,
                                                          tmp_path: Path) -> None:
    data: Any = json.loads(json.dumps(GOOD_STATE))
    *where, last = field.split(".")
    target = data
    for key in where:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = value
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(LLMGraderError) as caught:
        BatchState.load(path)
    assert str(caught.value) == f"{path}: {message}; delete it to submit anew"
    path.write_text(json.dumps(GOOD_STATE), encoding="utf-8")
    assert BatchState.load(path).parts[0].id == "batch_1"  # the untampered file loads
    path.write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(LLMGraderError, match="nested too deep"):
        BatchState.load(path)


# ----------------------------------------------------------------------------- the command line


def cli(*args: str | Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llm_grader", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8", cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", **env})


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    return process.returncode, stdout, stderr


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_cli_batch_run_and_its_summary(by_id: dict[str, Conversation], tmp_path: Path) -> None:
    everyone = list(by_id.values())
    out = tmp_path / "cards.jsonl"
    with FakeOpenAIServer(keyed(everyone, SCRIPTED)) as server:
        assert server.batches is not None
        server.batches.script = BatchScript(polls=2)
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, "LLM_GRADER_MODEL": "fake-model"}
        code, stdout, stderr = finished(cli("grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa",
                                            "-o", out, "--no-cache", "--batch", "--poll-interval", FAST,
                                            env=env, cwd=tmp_path))
    assert code == 0, stderr
    lines = server.batches.lines
    (created,) = server.batches.created
    assert (created["endpoint"], created["completion_window"]) == ("/v1/chat/completions", "24h")
    assert created["metadata"] == {"llm_grader": f"internet_cs_qa {FLAGSHIP.version}"}
    assert not server.requests
    err = stderr.splitlines()
    assert err[0] == (f"batch batch_2: {len(lines)} request(s) for 14 conversation(s), submitted; its state is "
                      f"in {out}.batch.json")
    assert f"batch in_progress: {math.ceil(len(lines) / 2)} completed, 0 failed of {len(lines)}" in err
    assert err[-1] == f"batch completed: {len(lines)} answered, 0 failed or expired, of {len(lines)}"
    assert "14 conversation(s) graded" in stdout and f"{len(lines)} call(s), 0 cached" in stdout
    assert stdout.rstrip().endswith(f"batch answers: {len(lines)} used; 0 asked again by ordinary calls "
                                    "(0 failed or expired, 0 invalid)")
    assert len(out.read_text(encoding="utf-8").splitlines()) == 14
    assert not (tmp_path / "cards.jsonl.batch.json").exists()


def test_cli_batch_with_failures_exits_3_and_loses_nothing(by_id: dict[str, Conversation], tmp_path: Path) -> None:
    everyone = list(by_id.values())
    respond = keyed(everyone, SCRIPTED)

    def ordinary(request: dict[str, Any]) -> Reply:  # c006's politeness never verifies
        if item_of(request) == "politeness" and request["messages"][1]["content"].startswith(transcript):
            return answer(request, BAD_QUOTE)
        return respond(request)

    transcript = Grader(FLAGSHIP, cache=None).messages(FLAGSHIP.item("politeness"), by_id["c006"])[1]["content"]
    out = tmp_path / "cards.jsonl"
    with FakeOpenAIServer(ordinary) as server:
        assert server.batches is not None
        def fail(line: dict[str, Any]) -> str | None:
            item = item_of(line["body"])
            c006 = line["body"]["messages"][1]["content"].startswith(transcript)
            return "overloaded" if item == "focus" or (item == "politeness" and c006) else None

        server.batches.script = BatchScript(expire_after=30, responder=respond, fail=fail)
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, "LLM_GRADER_MODEL": "fake-model"}
        code, stdout, stderr = finished(cli("grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa",
                                            "-o", out, "--no-cache", "--batch", "--poll-interval", FAST,
                                            env=env, cwd=tmp_path))
    (batch,) = server.batches.batches.values()
    failed = sum(1 for e in batch.errors if e["error"] and e["error"]["code"] == "server_error")
    expired = len(batch.lines) - 30
    assert code == 3, stderr
    assert f"batch expired: {30 - failed} answered, {failed + expired} failed or expired, of {len(batch.lines)}" in stderr
    assert stdout.rstrip().endswith(f"batch answers: {30 - failed} used; {failed + expired} asked again by ordinary "
                                    f"calls ({failed + expired} failed or expired, 0 invalid)")
    cards = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(cards) == 14
    failures = [(c["conversation_id"], i["item_id"], i["audit"]["failure"], i["audit"]["attempts"])
                for c in cards for i in c["items"] if i["audit"].get("failure")]
    # c006's politeness failed in the batch, then failed its three ordinary attempts: recorded, not lost.
    assert failures == [("c006", "politeness", "validation", 3)]
    assert len(server.requests) == failed + expired + 2  # one ordinary call each, two re-asks for c006
    assert "c006" in stderr  # the failed conversations are named


def test_cli_batch_survives_kill_and_ctrl_c_and_submits_once(by_id: dict[str, Conversation], tmp_path: Path) -> None:
    everyone = list(by_id.values())
    out = tmp_path / "cards.jsonl"
    state = tmp_path / "cards.jsonl.batch.json"
    with FakeOpenAIServer(keyed(everyone, SCRIPTED)) as server:
        assert server.batches is not None
        server.batches.script = BatchScript(polls=1_000_000)
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, "LLM_GRADER_MODEL": "fake-model"}
        args = ["grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa", "-o", out, "--no-cache",
                "--batch", "--poll-interval", FAST]

        def polled() -> bool:
            return state.exists() and json.loads(state.read_text(encoding="utf-8"))["parts"][0]["status"] == "in_progress"

        first = cli(*args, env=env, cwd=tmp_path)
        wait_for(polled)
        first.kill()  # SIGKILL: no clean-up runs
        first.communicate(timeout=30)
        before = len(server.batches.calls)
        second = cli(*args, env=env, cwd=tmp_path)
        wait_for(lambda: sum(1 for c in server.batches.calls[before:] if c[0] == "GET") >= 3)  # polling again
        second.send_signal(signal.SIGINT)
        code, _, stderr = finished(second)
        assert code == 130
        assert (f"batch batch_2: {len(server.batches.batches['batch_2'].lines)} request(s) for 14 conversation(s), "
                f"picked up from {state}") in stderr
        assert ("interrupted while waiting: batch batch_2 goes on at the provider. Its state is in "
                f"{state}: run the same command again to pick it up (nothing is submitted twice).") in stderr
        assert state.exists()
        server.batches.script.polls = 1
        code, stdout, stderr = finished(cli(*args, env=env, cwd=tmp_path))
    assert code == 0, stderr
    assert len(server.batches.created) == 1 and not server.requests
    assert "14 conversation(s) graded" in stdout and not state.exists()
    assert KEY not in stdout + stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
