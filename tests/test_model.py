"""Model-judged grading through the real openai SDK and instructor, against a local fake server."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from llm_grader import Conversation, Grader, Rubric, load_rubric
from llm_grader.errors import RescoreError
from llm_grader.llm import ModelSettings
from llm_grader.rubric import builtin_rubrics, rubric_from_text
from llm_grader.scoring import Scorecard, rescore
from llm_grader.testing import FakeOpenAIServer, Reply, answer, error, raw, refusal

KEY = "sk-test-SECRET-4242"
MODES = ["tools", "json_schema", "md_json"]
FLAGSHIP = load_rubric("internet_cs_qa")
FAST = {"retry-after-ms": "5"}  # keep the SDK's backoff short in tests

Answer = dict[str, Any] | Callable[[dict[str, Any]], Reply]


def top(item_id: str, rubric: Rubric = FLAGSHIP) -> dict[str, Any]:
    item = rubric.item(item_id)
    obj: dict[str, Any] = {"evidence": [], "rationale": "符合标准", "tier": item.tiers[0].id}
    if item.flags:
        obj["flags"] = {f.id: False for f in item.flags}
    return obj


class Script:
    """Answers per (conversation, item); a list gives successive attempts. Unscripted: top tier."""

    def __init__(self, grader: Grader, conversations: list[Conversation],
                 answers: dict[tuple[str, str], Answer | list[Answer]]) -> None:
        first = next(i for _, i in grader.rubric.items() if i.judge == "model")
        self.by_transcript = {grader.messages(first, c)[1]["content"]: c.id for c in conversations}
        self.answers = answers
        self.rubric = grader.rubric
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.requests: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)

    def __call__(self, request: dict[str, Any]) -> Reply:
        # md_json mode merges consecutive user messages: match the transcript as a prefix.
        sent = request["messages"][1]["content"]
        transcript = next(t for t in self.by_transcript if sent.startswith(t))
        conversation = self.by_transcript[transcript]
        rest = "".join(str(m.get("content") or "") for m in request["messages"][1:])[len(transcript):]
        match = re.search(r"(?:编号|\(id) (\w+)", rest)
        assert match, rest
        key = (conversation, match.group(1))
        self.requests[key].append(request)
        n = self.calls[key]
        self.calls[key] += 1
        scripted = self.answers.get(key, top(match.group(1), self.rubric))
        if isinstance(scripted, list):
            scripted = scripted[min(n, len(scripted) - 1)]
        return scripted(request) if callable(scripted) else answer(request, scripted)


def make_grader(server: FakeOpenAIServer | None, mode: str = "tools", rubric: Rubric = FLAGSHIP,
                **options: Any) -> Grader:
    base_url = server.base_url if server else "http://127.0.0.1:9/v1"
    settings_options = {k: options.pop(k) for k in ("transport_retries", "timeout", "reasks", "temperature")
                        if k in options}
    settings = ModelSettings(model="fake-model", base_url=base_url, api_key=SecretStr(KEY), mode=mode,  # type: ignore[arg-type]
                             **settings_options)
    options.setdefault("cache", None)
    return Grader(rubric, model=settings, **options)


def run(by_id: dict[str, Conversation], ids: list[str], answers: dict[tuple[str, str], Any],
        mode: str = "tools", **options: Any) -> tuple[list[Scorecard], Script, FakeOpenAIServer]:
    conversations = [by_id[i] for i in ids]
    script: Script | None = None
    with FakeOpenAIServer(lambda r: script(r)) as server:  # type: ignore[misc]
        grader = make_grader(server, mode, **options)
        script = Script(grader, conversations, answers)
        cards = grader.grade_many(conversations)
    return cards, script, server


# ----------------------------------------------------------------------------- end to end

SCRIPTED = {
    ("c006", "politeness"): {"evidence": [{"turn": 3, "quote": "请不要着急"}], "rationale": "礼貌用语到位",
                             "tier": "good", "flags": {"service_taboo": False}},
    ("c006", "focus"): {"evidence": [{"turn": 7, "quote": "初步判断是入户光缆或者楼道分光箱的问题"}],
                        "rationale": "偶有需要客户重复", "tier": "fair"},
    ("c006", "answer_rigor"): {"evidence": [{"turn": 9, "quote": "加急升级工单"}], "rationale": "提醒不全面",
                               "tier": "fair", "flags": {"wrong_answer_overall": False}},
    ("c003", "politeness"): {"evidence": [{"turn": 1, "quote": "喂,你说。"}, {"turn": 9, "quote": "不明白你说什么"}],
                             "rationale": "使用服务禁语,顶撞客户", "tier": "poor",
                             "flags": {"service_taboo": True}},
    ("c005", "proactiveness"): {"evidence": [{"turn": 5, "quote": "这个不归我们管,你去找营业厅"}],
                                "rationale": "推诿且问题未解决", "tier": "poor", "flags": {"shirked_unsolved": True}},
}


@pytest.mark.parametrize("mode", MODES)
def test_scripted_answers_give_hand_computed_totals(mode: str, by_id: dict[str, Conversation]) -> None:
    cards, _script, server = run(by_id, ["c006", "c003", "c005"], SCRIPTED, mode)
    c006, c003, c005 = cards
    # c006: 服务礼仪 5 + 5 (first response 10 s) = 10; 信息录入 10 (notes attached, 好); 规范执行 10;
    # 服务态度 5 + 3 (专注度 一般) = 8; 业务能力 12 (一般) + 15 = 27; 服务能力 15 + 15 = 30. Total 95.
    assert c006.total_score == 95 and c006.complete and not c006.fatal
    assert c006.item("focus").evidence[0].model_dump() == {
        "turn": 7, "speaker": "agent", "quote": "初步判断是入户光缆或者楼道分光箱的问题",
        "start_char": 34, "end_char": 53, "verified": True, "cited_turn": None}
    assert by_id["c006"].turns[6].text[34:53] == "初步判断是入户光缆或者楼道分光箱的问题"
    # c003: the service taboo flag fires the fatal override: total 0, with its evidence.
    assert (c003.fatal, c003.zero_score, c003.total_score) == (True, False, 0)
    (hit,) = c003.overrides
    assert (hit.id, hit.kind, hit.items) == ("service_taboo_fatal", "fatal", ["politeness"])
    # The model's evidence for the flag first, then what the hybrid's 禁语 rule found (it decided 差).
    cited = [(e.turn, e.quote, e.start_char, e.end_char) for e in hit.evidence]
    assert cited[:2] == [(1, "喂,你说。", 0, 5), (9, "不明白你说什么", 0, 7)]
    assert c003.item("politeness").tier == "poor" and c003.item("politeness").audit.decided_by == "rule"
    # c005: 推诿 and unsolved → 0分录音, not fatal.
    assert (c005.fatal, c005.zero_score, c005.total_score) == (False, True, 0)
    assert c005.overrides[0].id == "shirking_zero_score"
    # One request per model-judged item: c006 has notes (9 model items), c003/c005 do not (8).
    assert len(server.requests) == 9 + 8 + 8
    assert c006.usage.calls == 9 and c006.usage.prompt_tokens == 900
    audit = c006.item("politeness").audit
    assert audit.model == "fake-model" and audit.mode == mode and audit.rubric_version == "1.3"
    assert len(audit.prompt_hash) == 16 and '"tier":"good"' in audit.raw.replace(" ", "")


def test_shared_prefix_is_byte_identical_across_items(by_id: dict[str, Conversation]) -> None:
    _, script, _ = run(by_id, ["c006"], {}, "json_schema")
    prefixes = {tuple(m["content"] for m in reqs[0]["messages"][:2]) for reqs in script.requests.values()}
    assert len(prefixes) == 1 and len(script.requests) == 9


@pytest.mark.parametrize("mode", MODES)
def test_requests_agree_up_to_the_item_block_in_api_order(mode: str, by_id: dict[str, Conversation]) -> None:
    """Schema (tools / response_format), system and transcript are byte-identical for every item."""
    _, _, server = run(by_id, ["c006"], {}, mode)
    bodies = [json.dumps([r.get("tools"), r.get("response_format"), r["messages"][:-1]], ensure_ascii=False)
              for r in server.requests]
    assert len(bodies) == 9 and len(set(bodies)) == 1
    full = [json.dumps([r.get("tools"), r.get("response_format"), r["messages"]], ensure_ascii=False)
            for r in server.requests]
    common = next((i for i, chars in enumerate(zip(*full, strict=False)) if len(set(chars)) > 1), 0)
    shared = common / (sum(map(len, full)) / len(full))
    assert shared > 0.85  # the item block is all that differs (examples are short chats)


# ----------------------------------------------------------------------------- re-asks

BAD_QUOTE = {"evidence": [{"turn": 3, "quote": "欢迎您再次光临"}], "rationale": "x", "tier": "fair",
             "flags": {"service_taboo": False}}
GOOD_QUOTE = {"evidence": [{"turn": 5, "quote": "我很理解您的心情"}], "rationale": "x", "tier": "fair",
              "flags": {"service_taboo": False}}


@pytest.mark.parametrize("mode", MODES)
def test_quote_not_in_transcript_is_reasked_then_verified(mode: str, by_id: dict[str, Conversation]) -> None:
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): [BAD_QUOTE, GOOD_QUOTE]}, mode)
    requests = script.requests[("c006", "politeness")]
    assert len(requests) == 2
    reask = requests[1]["messages"][-2:]  # md_json merges the user messages, so count from the end
    feedback = reask[-1]["content"]
    assert "以下引用在对话原文中找不到" in feedback and "欢迎您再次光临" in feedback
    if mode == "tools":
        assert [m["role"] for m in reask] == ["assistant", "tool"]
        assert feedback.startswith("Validation Error found")
    else:
        assert [m["role"] for m in reask] == ["assistant", "user"]
        assert feedback.startswith("Correct your JSON ONLY RESPONSE")
    item = cards[0].item("politeness")
    assert (item.tier, item.points, item.needs_review) == ("fair", 3, False)
    assert item.evidence[0].turn == 5 and item.evidence[0].verified
    assert item.usage.calls == 2 and item.audit.attempts == 2


def test_quote_found_in_another_turn_is_corrected(by_id: dict[str, Conversation]) -> None:
    wrong_turn = {**GOOD_QUOTE, "evidence": [{"turn": 3, "quote": "我很理解您的心情"}]}
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): wrong_turn})
    assert len(script.requests[("c006", "politeness")]) == 1
    assert cards[0].item("politeness").evidence[0].turn == 5


def test_quote_that_never_verifies_is_marked_for_review(by_id: dict[str, Conversation]) -> None:
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): BAD_QUOTE})
    assert len(script.requests[("c006", "politeness")]) == 3  # first try + 2 re-asks
    item = cards[0].item("politeness")
    assert item.points is None and item.tier is None and item.needs_review
    assert item.error is not None and item.error.startswith(
        "no valid answer after 3 attempts: 以下引用在对话原文中找不到")
    assert item.audit.failure == "validation"
    assert not cards[0].complete and cards[0].unscored_points == 5


def test_unknown_tier_is_reasked(by_id: dict[str, Conversation]) -> None:
    great = {**GOOD_QUOTE, "tier": "excellent"}
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): [great, GOOD_QUOTE]})
    feedback = script.requests[("c006", "politeness")][1]["messages"][-1]["content"]
    assert "「excellent」不是质检项 politeness 的等级编号;tier 只能取:good, fair, poor" in feedback
    assert cards[0].item("politeness").tier == "fair"


@pytest.mark.parametrize("mode", ["json_schema", "md_json"])
def test_malformed_json_is_reasked(mode: str, by_id: dict[str, Conversation]) -> None:
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): [lambda r: raw('{"evidence": [{"turn": 5,'), GOOD_QUOTE]}, mode)
    assert len(script.requests[("c006", "politeness")]) == 2
    assert cards[0].item("politeness").tier == "fair"


def test_empty_evidence_below_top_tier_is_reasked(by_id: dict[str, Conversation]) -> None:
    bare = {**GOOD_QUOTE, "evidence": []}
    _, script, _ = run(by_id, ["c006"], {("c006", "politeness"): [bare, GOOD_QUOTE]})
    feedback = script.requests[("c006", "politeness")][1]["messages"][-1]["content"]
    assert "除非给出最高等级且没有任何问题,否则至少给出一条证据" in feedback


# ----------------------------------------------------------------------------- transport faults


def test_429_with_retry_after_is_honoured(by_id: dict[str, Conversation]) -> None:
    replies = [lambda r: error(429, "rate limited", {"retry-after": "1"}), GOOD_QUOTE]
    cards, script, server = run(by_id, ["c006"], {("c006", "politeness"): replies})
    assert len(script.requests[("c006", "politeness")]) == 2
    retried = [h for h in server.headers if h.get("x-stainless-retry-count") == "1"]
    assert len(retried) == 1
    assert cards[0].item("politeness").tier == "fair"


@pytest.mark.parametrize("fault", [
    lambda r: error(500, "boom", FAST),
    lambda r: Reply(drop=True),
    lambda r: Reply(delay=1.5, body={}),
])
def test_transient_faults_are_retried(fault: Callable[[dict[str, Any]], Reply], by_id: dict[str, Conversation]) -> None:
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): [fault, GOOD_QUOTE]}, timeout=0.5)
    assert len(script.requests[("c006", "politeness")]) == 2
    assert cards[0].item("politeness").tier == "fair" and cards[0].complete


def test_persistent_server_errors_are_recorded_not_scored(by_id: dict[str, Conversation]) -> None:
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): lambda r: error(500, "boom", FAST)},
                           transport_retries=2)
    assert len(script.requests[("c006", "politeness")]) == 3  # first try + 2 transport retries
    item = cards[0].item("politeness")
    assert item.error == "InternalServerError 500 after retries: boom"
    assert item.points is None and item.needs_review and item.audit.failure == "transport"
    assert cards[0].item("focus").tier == "good"  # the other items still graded


def test_truncated_answer_is_recorded(by_id: dict[str, Conversation]) -> None:
    cut = lambda r: answer(r, GOOD_QUOTE, finish_reason="length")  # noqa: E731
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): cut})
    assert len(script.requests[("c006", "politeness")]) == 1
    item = cards[0].item("politeness")
    assert item.error == "the answer was cut off (finish_reason=length); raise max_tokens"
    assert item.audit.failure == "truncated"


# ----------------------------------------------------------------------------- data handling


def test_transcript_sent_verbatim_and_personal_numbers_masked(by_id: dict[str, Conversation]) -> None:
    cards, _, server = run(by_id, ["c012"], {})
    assert cards[0].masked == {"bank_card": 1, "id_card": 1, "mobile": 1}
    sent = server.requests[0]["messages"][1]["content"]
    assert "分期订单{{订单号}}已受理" in sent and "{% raw %}【星河银行】" in sent
    assert "13812345678" not in sent and "110101199003071234" not in sent and "6222020200112233445" not in sent
    assert "手机号*******5678,身份证**************1234" in sent
    assert all(KEY not in str(r) for r in server.requests)


def test_cache_serves_a_rerun_with_zero_calls(tmp_path: Any, by_id: dict[str, Conversation]) -> None:
    conversations = [by_id["c006"], by_id["c007"]]
    script: Script | None = None
    with FakeOpenAIServer(lambda r: script(r)) as server:  # type: ignore[misc]
        grader = make_grader(server, cache=tmp_path / "cache.sqlite")
        script = Script(grader, conversations, SCRIPTED)
        first = grader.grade_many(conversations)
        n = len(server.requests)
        second = grader.grade_many(conversations)
        assert len(server.requests) == n == 17
        assert [c.total_score for c in first] == [c.total_score for c in second]
        assert sum(c.usage.calls for c in second) == 0 and sum(c.usage.cached_calls for c in second) == 17
        assert sum(c.usage.prompt_tokens for c in second) == 0
        changed = make_grader(server, cache=tmp_path / "cache.sqlite", temperature=0.7)
        changed.grade_many(conversations[:1])
        assert len(server.requests) == n + 9  # a different request is a different key
    assert KEY.encode() not in (tmp_path / "cache.sqlite").read_bytes()


def test_self_consistency_majority_and_review(by_id: dict[str, Conversation]) -> None:
    fair = GOOD_QUOTE
    good = {**GOOD_QUOTE, "tier": "good"}
    cards, script, _ = run(by_id, ["c006"], {("c006", "politeness"): [good, fair, good]}, samples=3,
                           min_agreement=0.8, temperature=0.7)
    item = cards[0].item("politeness")
    requests = script.requests[("c006", "politeness")]
    assert len(requests) == 3 and {r["temperature"] for r in requests} == {0.7}
    assert item.tier == "good" and item.audit.agreement == pytest.approx(2 / 3)
    assert item.needs_review and "3 次采样中只有 2 次给出 good" in item.rationale


def test_rescore_uses_stored_answers_and_refuses_changed_wording(by_id: dict[str, Conversation]) -> None:
    cards, _, _ = run(by_id, ["c006"], SCRIPTED)
    yaml_text = builtin_rubrics()["internet_cs_qa"].read_text(encoding="utf-8")
    # 业务能力 一般 12 → 10 for answer_rigor: 95 − 2 = 93.
    cheaper = rubric_from_text(yaml_text.replace('{id: fair, label: 一般, points: 12, description: "解答准确',
                                                 '{id: fair, label: 一般, points: 10, description: "解答准确'))
    assert rescore(cards[0], cheaper).total_score == 93
    reworded = rubric_from_text(yaml_text.replace("name: 服务专注度", "name: 服务专注程度"))
    with pytest.raises(RescoreError) as info:
        rescore(cards[0], reworded)
    assert info.value.items == ["focus"]


@pytest.mark.parametrize("mode", ["tools", "json_schema"])
def test_refusal_is_recorded_as_a_refusal(mode: str, by_id: dict[str, Conversation]) -> None:
    cards, _, _ = run(by_id, ["c006"], {("c006", "politeness"): lambda r: refusal("I can't help with that.")}, mode)
    item = cards[0].item("politeness")
    assert item.error == "the model refused: I can't help with that."
    assert item.audit.failure == "refusal" and item.points is None and item.needs_review


def test_azure_profile_routes_by_deployment_with_an_api_version(by_id: dict[str, Conversation]) -> None:
    with FakeOpenAIServer(lambda r: answer(r, top("soothing"))) as server:
        settings = ModelSettings(model="my-gpt4o-deployment", base_url=server.base_url.removesuffix("/v1"),
                                 api_key=SecretStr(KEY), provider="azure")
        assert settings.effective_mode == "tools"
        grader = Grader(FLAGSHIP, model=settings, cache=None)
        card = grader.grade(by_id["c007"])
    assert card.item("soothing").tier == "good"
    assert server.paths[0] == "/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-10-21"
    assert server.headers[0]["api-key"] == KEY


@pytest.mark.parametrize(("url", "provider", "mode"), [
    ("https://api.openai.com/v1", "openai", "tools"),
    ("https://api.deepseek.com/v1", "deepseek", "tools"),
    ("https://dashscope.aliyuncs.com/compatible-mode/v1", "dashscope", "json"),
    ("https://api.moonshot.cn/v1", "moonshot", "json"),
    ("https://open.bigmodel.cn/api/paas/v4", "zhipu", "md_json"),
    ("http://localhost:11434/v1", "ollama", "json_schema"),
    ("http://gpu-box:8000/v1", "vllm", "json_schema"),
    ("http://example.internal/v1", "generic", "tools"),
])
def test_provider_profiles(url: str, provider: str, mode: str) -> None:
    settings = ModelSettings(model="m", base_url=url)
    assert (settings.profile.name, settings.effective_mode) == (provider, mode)
    assert ModelSettings(model="m", base_url=url, mode="md_json").effective_mode == "md_json"
    if provider == "dashscope":
        assert settings.request_params()["extra_body"] == {"enable_thinking": False}
    assert KEY not in repr(ModelSettings(model="m", base_url=url, api_key=SecretStr(KEY)))


def test_settings_come_from_flags_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_GRADER_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    from_env = ModelSettings.from_env()
    assert (from_env.model, from_env.base_url, from_env.api_key.get_secret_value()) == (
        "env-model", "http://127.0.0.1:1/v1", KEY)
    flags = ModelSettings.from_env(model="flag-model", base_url="http://127.0.0.1:2/v1")
    assert (flags.model, flags.base_url) == ("flag-model", "http://127.0.0.1:2/v1")
    monkeypatch.delenv("LLM_GRADER_MODEL")
    with pytest.raises(Exception, match="no model configured: pass --model or set LLM_GRADER_MODEL"):
        ModelSettings.from_env()


def test_samples_at_temperature_zero_are_refused(by_id: dict[str, Conversation]) -> None:
    from llm_grader import LLMGraderError

    with pytest.raises(LLMGraderError, match="at temperature 0 every answer is the same"):
        make_grader(None, samples=3)
    with FakeOpenAIServer(lambda request: answer(request, top("politeness"))) as server:
        grader = make_grader(server, samples=1)
        assert grader.judge is not None and grader.judge.identity["params"]["temperature"] == 0.0


def test_deduction_samples_keep_occurrences_a_majority_reports() -> None:
    from llm_grader._sampling import majority_occurrences
    from llm_grader.types import Occurrence

    def at(*turns: int) -> list[Occurrence]:
        return [Occurrence(turn=t, speaker="agent", quote=f"q{t}", start_char=0, end_char=2) for t in turns]

    kept, share = majority_occurrences([at(2, 5), at(2), at(2, 5, 5)])
    assert [o.turn for o in kept] == [2, 5] and share == pytest.approx(1 / 3)
    kept, share = majority_occurrences([at(3), at(), at()])
    assert kept == () and share == pytest.approx(2 / 3)
    kept, share = majority_occurrences([at(4, 4), at(4, 4), at(4)])
    assert [o.turn for o in kept] == [4, 4] and share == pytest.approx(2 / 3)


def test_the_instructor_schema_class_is_made_once_per_answer_model(by_id: dict[str, Conversation]) -> None:
    """instructor would wrap the answer model anew on every call (CPU); the judge reuses its wrapper."""
    with FakeOpenAIServer(lambda r: answer(r, top(items_of_request(r)))) as server:
        grader = make_grader(server)
        grader.grade_many([by_id["c006"], by_id["c007"]])
        judge = grader.judge
        prepared = getattr(judge, "inner", judge)._prepared
    model_items = [i for _, i in FLAGSHIP.items() if i.judge == "model"]
    assert 0 < len(prepared) <= len(model_items)  # one per item's answer model, not one per call
    assert len(server.requests) > len(prepared)
    for original, wrapped in prepared.items():
        assert issubclass(wrapped, original) and wrapped.model_json_schema() == original.model_json_schema()


def items_of_request(request: dict[str, Any]) -> str:
    return str(re.findall(r"编号 (\w+)", request["messages"][-1]["content"])[-1])
