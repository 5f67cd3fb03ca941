"""Cost: the price table, priced(), costs on scorecards and in the closing line, and ``grade --dry-run``."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from llm_grader import Grader, load_conversations, load_results, load_rubric
from llm_grader._estimate import CACHE_BLOCK, CACHE_MIN_TOKENS, estimate, tokenizer
from llm_grader.cli import app
from llm_grader.errors import LLMGraderError
from llm_grader.llm import PRICES, ModelSettings, cost_text, load_prices, priced
from llm_grader.report import results_html
from llm_grader.testing import FakeJudge, FakeOpenAIServer, answer, item_of, top_tier_answer
from llm_grader.types import Usage

from .conftest import EXAMPLES

KEY = "sk-test-cost-0123456789"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
         "prompt_tokens_details": {"cached_tokens": 400}}
# gpt-4o-mini: 600 uncached × $0.15 + 400 cached × $0.075 + 50 output × $0.60, per million tokens
PER_CALL = (600 * 0.15 + 400 * 0.075 + 50 * 0.60) / 1_000_000  # = $0.00015


def responder(request: dict[str, Any]) -> Any:
    return answer(request, top_tier_answer(load_rubric("internet_cs_qa").item(item_of(request))), usage=USAGE)


# ---------------------------------------------------------------------- priced()


def test_priced_bills_cached_tokens_at_the_cached_price_and_applies_the_batch_discount() -> None:
    usage = Usage(calls=2, prompt_tokens=10_000, cached_tokens=4_000, completion_tokens=1_000)
    # (6,000 × 0.15 + 4,000 × 0.075 + 1,000 × 0.60) / 1e6 = (900 + 300 + 600) / 1e6
    assert priced(usage, "gpt-4o-mini", provider="openai").cost == pytest.approx(0.0018)
    assert priced(usage, "gpt-4o-mini", provider="openai", batch=True).cost == pytest.approx(0.0009)
    assert priced(usage, "gpt-4o-mini").unpriced_calls == 0
    big = Usage(calls=1, prompt_tokens=1_000_000, cached_tokens=500_000, completion_tokens=100_000)
    # DeepSeek: 500k × 0.28 + 500k × 0.028 + 100k × 0.42 = 140,000 + 14,000 + 42,000 (µ$); no Batch API
    assert priced(big, "deepseek-chat", provider="deepseek").cost == pytest.approx(0.196)
    assert priced(big, "deepseek-chat", provider="deepseek", batch=True).cost == pytest.approx(0.196)
    # gpt-4o-2024-05-13 has no cached price: its cached tokens are billed as input
    assert priced(big, "gpt-4o-2024-05-13").cost == pytest.approx((1_000_000 * 5 + 100_000 * 15) / 1e6)


def test_names_match_exactly_then_by_the_longest_prefix_at_a_separator() -> None:
    assert PRICES.find("gpt-4o-mini-2024-07-18") == ("openai", PRICES.find("gpt-4o-mini", "openai")[1])  # type: ignore[index]
    assert PRICES.find("GPT-4o-Mini", "openai") == PRICES.find("gpt-4o-mini", "openai")
    assert PRICES.find("gpt-4o-2024-08-06", "openai")[1].input == 2.50  # type: ignore[index]
    assert PRICES.find("gpt-5.2", "openai")[1].output == 14.00  # type: ignore[index]
    assert PRICES.find("gpt-5-mini-2025-08-07", "openai")[1].input == 0.25  # type: ignore[index]
    assert PRICES.find("gpt-5.3", "openai") is None  # "gpt-5" + ".3" is another model, not a snapshot
    assert PRICES.find("qwen-plus-latest", "dashscope")[1].input == 0.40  # type: ignore[index]
    assert PRICES.find("kimi-k2-0905-preview", "moonshot")[1].output == 2.50  # type: ignore[index]
    assert PRICES.find("deepseek-chat", "openai") is None  # a named profile searches its own table only
    assert PRICES.find("deepseek-chat", "generic")[0] == "deepseek"  # type: ignore[index]
    assert PRICES.find("qwen2.5:7b", "ollama")[1].input == 0.0  # type: ignore[index]
    assert PRICES.find("qwen2.5:7b") is None  # the local runtimes' "*" is not a price for any endpoint


def test_an_unknown_model_is_unknown_never_free() -> None:
    unknown = priced(Usage(calls=3, prompt_tokens=300, completion_tokens=30), "my-finetune", provider="vllm")
    assert unknown.cost is None and unknown.unpriced_calls == 3
    known = priced(Usage(calls=5, prompt_tokens=500, completion_tokens=50), "gpt-4o-mini")
    assert known.cost == pytest.approx((500 * 0.15 + 50 * 0.60) / 1e6)
    total = known + unknown
    assert total.cost is None and total.unpriced_calls == 3 and total.calls == 8
    assert cost_text(total) == "cost unknown (3 of 8 call(s) unpriced)"
    assert cost_text(known + known) == "cost ≈ $0.0002"
    # calls recorded without a cost (a judge that does not price) are unpriced; cache hits cost 0
    assert Usage(calls=2).cost is None and Usage(calls=2).unpriced_calls == 2
    assert Usage(cached_calls=4).cost == 0.0 and (Usage(cached_calls=4) + known).cost == known.cost


# ---------------------------------------------------------------------- the override file


def test_a_price_file_adds_and_replaces_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "prices.toml"
    toml.write_text('[openai]\nbatch_discount = 0.25\n[openai.models."gpt-4o-mini"]\ninput = 1\noutput = 2\n'
                    '[generic.models."My-Finetune"]\ninput = 0.5\ncached_input = 0.1\noutput = 1.5\n', encoding="utf-8")
    table = load_prices(toml)
    usage = Usage(calls=1, prompt_tokens=1_000_000, cached_tokens=200_000, completion_tokens=1_000_000)
    assert priced(usage, "gpt-4o-mini", prices=table).cost == pytest.approx(1 + 2)  # no cached price: input
    assert priced(usage, "gpt-4o-mini", prices=table, batch=True).cost == pytest.approx(3 * 0.75)
    assert priced(usage, "my-finetune", prices=table).cost == pytest.approx(0.8 * 0.5 + 0.2 * 0.1 + 1.5)
    assert priced(usage, "gpt-4o", prices=table).cost == priced(usage, "gpt-4o").cost  # the rest stays
    assert table.source == "built-in table of 2026-12-02 + prices.toml"
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text("deepseek:\n  models:\n    deepseek-chat: {input: 2, output: 3}\n", encoding="utf-8")
    monkeypatch.setenv("LLM_GRADER_PRICES", str(yaml_file))
    assert load_prices().find("deepseek-chat", "deepseek")[1].input == 2  # type: ignore[index]
    assert load_prices().batch_discount("openai") == 0.5  # a provider the file leaves alone keeps its discount
    monkeypatch.setenv("LLM_GRADER_PRICES", str(tmp_path / "gone.toml"))
    with pytest.raises(LLMGraderError, match=r"^price file '.*gone\.toml' \(from LLM_GRADER_PRICES\) does not exist$"):
        load_prices()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("p.toml", '[openai.models."gpt-4o-mini"]\ninput = "cheap"\noutput = 1\n',
     r"p\.toml: openai\.models\.gpt-4o-mini\.input: Input should be a valid number"),
    ("p.toml", '[openai.models."gpt-4o"]\ninptu = 1\noutput = 1\n',
     r"p\.toml: openai\.models\.gpt-4o\.input: Field required \(and 1 more\)$"),
    ("p.toml", "[openai]\nbatch_discount = 1.5\n",
     r"p\.toml: openai\.batch_discount: Input should be less than or equal to 1$"),
    ("p.yaml", "opanai:\n  models: {}\n", r"p\.yaml: opanai: not a provider profile; valid: openai, azure, "),
    ("p.toml", "[openai\n", r"p\.toml: not valid TOML: .*line 1"),
    ("p.yaml", "openai: [\n", r"p\.yaml: not valid YAML: .*line 2"),
    ("p.json", "{}", r"p\.json: a price file is \.toml, \.yaml or \.yml \(got '\.json'\)"),
])
def test_a_malformed_price_file_is_one_line_naming_file_and_field(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LLMGraderError) as caught:
        load_prices(path)
    assert "\n" not in str(caught.value)
    assert re.search(message, str(caught.value).replace(str(tmp_path) + "/", "")), str(caught.value)


def test_a_bad_price_file_stops_the_grade_command_before_anything_is_sent(tmp_path: Path) -> None:
    bad = tmp_path / "prices.toml"
    bad.write_text("[openai.models.x]\ninput = -1\noutput = 1\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", "grade", str(EXAMPLES / "conversations.jsonl"), "-r", "internet_cs_qa",
         "--model", "gpt-4o-mini", "--prices", str(bad), "--dry-run"],
        capture_output=True, text=True, encoding="utf-8", timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(f"{bad}: openai.models.x.input: Input should be greater than or equal to 0")


# ---------------------------------------------------------------------- scorecards


def test_scorecard_jsonl_round_trip_with_cost_and_old_lines_without_it(tmp_path: Path, by_id: dict[str, Any]) -> None:
    card = Grader(load_rubric("internet_cs_qa")).grade(by_id["c001"])  # type: ignore[arg-type]
    assert card.usage.cost == 0.0 and card.usage.unpriced_calls == 0  # rules only: nothing to pay
    priced_card = card.model_copy(update={"usage": priced(Usage(calls=8, prompt_tokens=8000, completion_tokens=400),
                                                          "gpt-4o-mini")})
    line = priced_card.model_dump_json()
    old = json.loads(line)
    old["conversation_id"] = "c001-old"
    del old["usage"]["cost"], old["usage"]["unpriced_calls"]  # as written before costs were recorded
    for item in old["items"]:
        del item["usage"]["cost"], item["usage"]["unpriced_calls"]
    path = tmp_path / "results.jsonl"
    path.write_text(line + "\n" + json.dumps(old, ensure_ascii=False) + "\n", encoding="utf-8")
    new_card, old_card = load_results(path)
    assert new_card.model_dump_json() == line and new_card.usage.cost == pytest.approx((8000 * 0.15 + 400 * 0.60) / 1e6)
    assert old_card.usage.cost is None and old_card.usage.unpriced_calls == 8  # unknown, not free
    assert old_card.item("first_response_time").usage.cost == 0.0  # a rule item: no calls, nothing unknown
    assert (new_card.usage + old_card.usage).cost is None


def test_the_judge_prices_each_call_through_the_real_sdk(tmp_path: Path, by_id: dict[str, Any]) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("generic:\n  models:\n    house-model: {input: 1, cached_input: 0.5, output: 2}\n",
                      encoding="utf-8")
    with FakeOpenAIServer(responder) as server:
        for model, per_call in (("gpt-4o-mini", PER_CALL), ("house-model", (600 + 200 + 100) / 1e6)):
            settings = ModelSettings(model=model, base_url=server.base_url, api_key=SecretStr(KEY), prices=prices)
            card = Grader("internet_cs_qa", settings, cache=None).grade(by_id["c002"])  # type: ignore[arg-type]
            calls = card.usage.calls
            assert calls > 0 and card.usage.cached_tokens == 400 * calls
            assert card.usage.cost == pytest.approx(per_call * calls) and card.usage.unpriced_calls == 0
            assert all(i.usage.cost == pytest.approx(per_call * i.usage.calls) for i in card.items)
        settings = ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr(KEY))
        unknown = Grader("internet_cs_qa", settings, cache=None).grade(by_id["c002"])  # type: ignore[arg-type]
    assert unknown.usage.cost is None and unknown.usage.unpriced_calls == unknown.usage.calls > 0


def test_the_results_page_shows_the_cost_per_conversation_and_in_total(by_id: dict[str, Any]) -> None:
    rubric = load_rubric("internet_cs_qa")
    judge = FakeJudge(lambda request: top_tier_answer(rubric.item(request.item_id)))
    cards = Grader(rubric, judge).grade_many([by_id["c001"], by_id["c002"]])  # FakeJudge prices nothing
    first = cards[0].model_copy(update={"usage": priced(cards[0].usage, "gpt-4o-mini")})
    page = results_html([first, cards[1]])
    calls = cards[0].usage.calls + cards[1].usage.calls
    assert f"items to review 0 · cost unknown ({cards[1].usage.calls} of {calls} call(s) unpriced)</p>" in page
    assert f"· {cost_text(first.usage)}</p>" in page
    assert "cost" not in results_html([Grader(rubric).grade(by_id["c001"])]).split("<h1>")[1].split("<script")[0]


# ---------------------------------------------------------------------- the command line


def _grade(*args: str, env: dict[str, str] | None = None, source: Path = EXAMPLES / "conversations.jsonl") -> Any:
    return CliRunner().invoke(app, ["grade", str(source), "-r", "internet_cs_qa", *args], env=env)


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """The first three example conversations, as a file."""
    path = tmp_path / "three.jsonl"
    lines = (EXAMPLES / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_closing_line_shows_the_cost_and_cache_hits_cost_nothing(tmp_path: Path, three: Path) -> None:
    with FakeOpenAIServer(responder) as server:
        common = ["--model", "gpt-4o-mini", "--base-url", server.base_url, "--cache", str(tmp_path / "a.sqlite")]
        first = _grade(*common, "-o", str(tmp_path / "a.jsonl"), env={"OPENAI_API_KEY": KEY}, source=three)
        calls = len(server.requests)
        second = _grade(*common, "-o", str(tmp_path / "b.jsonl"), env={"OPENAI_API_KEY": KEY}, source=three)
        assert len(server.requests) == calls
        fake = _grade("--model", "fake-model", "--base-url", server.base_url, "--no-cache",
                      "-o", str(tmp_path / "c.jsonl"), env={"OPENAI_API_KEY": KEY}, source=three)
    assert first.exit_code == 0, first.output
    assert (f"{calls} call(s), 0 cached, {1000 * calls} prompt + {50 * calls} completion tokens "
            f"({400 * calls} cached); cost ≈ ${PER_CALL * calls:,.4f};") in first.output
    cards = load_results(tmp_path / "a.jsonl")
    assert sum(c.usage.cost or 0 for c in cards) == pytest.approx(PER_CALL * calls)
    assert f"0 call(s), {calls} cached, 0 prompt + 0 completion tokens (0 cached); cost ≈ $0.0000;" in second.output
    assert f"cost unknown ({calls} of {calls} call(s) unpriced);" in fake.output


@pytest.fixture(scope="module")
def chats() -> Any:
    return list(load_conversations(EXAMPLES / "conversations.jsonl"))


def test_dry_run_prints_calls_tokens_and_cost_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chats: Any
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # no key needed
    monkeypatch.setenv("LLM_GRADER_CACHE_DIR", str(tmp_path / "cache"))
    output = tmp_path / "out.jsonl"
    with FakeOpenAIServer(responder) as server:
        result = _grade("--model", "gpt-4o-mini", "--base-url", server.base_url, "-o", str(output), "--dry-run")
        assert server.requests == []
        real = _grade("--model", "gpt-4o-mini", "--base-url", server.base_url, "-o", str(output), "--no-cache",
                      env={"OPENAI_API_KEY": KEY})
        sent = len(server.requests)
    assert result.exit_code == 0, result.output
    assert real.exit_code == 0, real.output
    assert not (tmp_path / "cache").exists()
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert re.search(rf"model calls\s+{sent}  \(strategy item, 1 sample\(s\)", lines["model"])  # as the real run
    assert re.search(r"prompt tokens\s+≈ [\d,]+  \(counted with (tiktoken|character heuristic)", lines["prompt"])
    assert re.search(r"cached share\s+≈ \d+%", lines["cached"])
    assert re.search(r"completion tokens\s+≈ [\d,]+  \(assumed 150 per item", lines["completion"])
    assert re.search(r"cost\s+≈ \$[\d.]+ without the prompt cache · \$[\d.]+ with it · \$[\d.]+ by the Batch API "
                     r"\(−50%\)", lines["cost"])
    assert "gpt-4o-mini from the openai prices, built-in table of 2026-12-02" in lines["prices"]
    grader = Grader("internet_cs_qa", ModelSettings(model="gpt-4o-mini"), cache=None)
    assert estimate(grader, chats).calls == sum(len(grader.plan(c)) for c in chats) == sent


def test_dry_run_cost_arithmetic_and_the_cached_prefix(chats: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # the heuristic: counts that do not depend on tiktoken
    grader = Grader("internet_cs_qa", ModelSettings(model="gpt-4o-mini", provider="openai"), cache=None)
    found = estimate(grader, chats)
    count = tokenizer().count
    cached = 0
    for conversation in chats:
        texts = [json.dumps(r.schema, ensure_ascii=False, separators=(",", ":")) + "\n"
                 + "\n".join(f"{m['role']}\n{m['content']}" for m in r.messages) for r in grader.plan(conversation)]
        for index, text in enumerate(texts[1:], start=1):
            shared = max(len(_prefix(text, earlier)) for earlier in texts[:index])
            tokens = count(text[:shared])
            cached += 0 if tokens < CACHE_MIN_TOKENS else tokens // CACHE_BLOCK * CACHE_BLOCK
    assert found.cached_tokens == cached and 0.5 < found.cached_share < 1
    p, c, k = found.prompt_tokens, found.completion_tokens, found.cached_tokens
    assert c == 150 * found.calls
    assert found.cost == pytest.approx((p * 0.15 + c * 0.60) / 1e6)
    assert found.cost_cached == pytest.approx(((p - k) * 0.15 + k * 0.075 + c * 0.60) / 1e6)
    assert found.cost_batch == pytest.approx(found.cost / 2)
    deepseek = Grader("internet_cs_qa", ModelSettings(model="deepseek-chat", provider="deepseek"), cache=None)
    assert estimate(deepseek, chats).cost_batch is None  # no Batch API there: no batch figure
    unpriced = estimate(Grader("internet_cs_qa", ModelSettings(model="house-model"), cache=None), chats)
    assert unpriced.cost is None and "cost               unknown: 'house-model' is not in the price table" \
        in unpriced.render()
    rules = estimate(Grader("internet_cs_qa"), chats)
    assert (rules.calls, rules.prompt_tokens, rules.cost) == (0, 0, 0.0)


def _prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


# ---------------------------------------------------------------------- tiktoken, or the heuristic


def test_without_tiktoken_the_character_heuristic_is_used_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken fails
    counted = tokenizer("gpt-4o-mini")
    assert counted.name == "character heuristic" and counted.reason == "tiktoken is not installed"
    assert counted.count("你好,请问") == 5 and counted.count("abcdefgh") == 2 and counted.count("您好ab") == 3
    result = _grade("--model", "gpt-4o-mini", "--base-url", "http://127.0.0.1:9/v1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert ("counted with character heuristic (1 token per CJK character, 1 per 4 other characters): "
            "tiktoken is not installed)") in result.output


def test_tiktoken_is_used_only_when_its_encoding_is_on_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tiktoken")
    import tiktoken.load

    def no_download(path: str) -> bytes:
        raise AssertionError(f"tried to fetch {path}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    absent = tokenizer("gpt-4o-mini")
    assert absent.name == "character heuristic"
    assert absent.reason == "tiktoken's o200k_base encoding is not on this machine and would be downloaded"

    class Encoding:
        def encode(self, text: str, disallowed_special: Any = ()) -> list[int]:
            return [0] * len(text.split())

    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"cached")
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: Encoding())
    present = tokenizer("gpt-4o-mini")
    assert (present.name, present.reason, present.count("three words here")) == ("tiktoken o200k_base", "", 3)


def test_dry_run_exits_1_when_conversations_were_skipped(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"id": "ok", "turns": [{"speaker": "agent", "text": "您好"}]}\n'
                     '{"id": "bad", "turns": [{"speaker": "robot", "text": "x"}]}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["grade", str(mixed), "-r", "internet_cs_qa", "--model", "gpt-4o-mini",
                                      "-o", str(tmp_path / "out.jsonl"), "--dry-run"])
    assert result.exit_code == 1, result.output  # the estimate leaves a conversation out: not a clean 0
    assert "conversations      1" in result.output and not (tmp_path / "out.jsonl").exists()
