"""Benchmark: a batch through the real SDK against the local fake server with injected faults.

    python eval/bench_faults.py [--conversations 200] [--failure-rate 0.2] [--concurrency 16]

Grades N conversations with the flagship rubric (9 model-judged items + 1 rule item each,
notes attached so every item applies), while a seeded share of requests fails transiently:
429 with Retry-After, 500, a dropped connection, or a stall past the client's timeout. Then
grades the same batch again with the same cache. Prints, for both runs: conversations
complete, items unscored, model calls, HTTP requests, cached calls, tokens and wall time.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from llm_grader import Grader, ModelSettings, load_conversations, load_rubric
from llm_grader.scoring import Scorecard
from llm_grader.testing import FakeOpenAIServer, Reply, error, top_tier_responder
from llm_grader.types import Usage

ROOT = Path(__file__).resolve().parent.parent


def batch(n: int, tmp: Path) -> Path:
    seed = [
        json.loads(line)
        for line in (ROOT / "examples" / "conversations.jsonl").read_text("utf-8").splitlines()
    ]
    path = tmp / "batch.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            record = dict(seed[i % len(seed)], id=f"bench{i:04d}")
            # A distinct record per conversation, so no two requests are the same (no cache hits).
            record["notes"] = (record.get("notes") or "已记录客户诉求并按流程处理。") + f" 工单号W{i:06d}"
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def summary(label: str, cards: list[Scorecard], requests: int, wall: float) -> None:
    usage = sum((c.usage for c in cards), Usage())
    unscored = sum(1 for c in cards for i in c.items if i.unscored)
    complete = sum(c.complete for c in cards)
    served = usage.calls + usage.cached_calls
    print(
        f"{label}: {len(cards)} conversations, {complete} complete, "
        f"{len(cards) - complete} with item errors, "
        f"{unscored} items unscored; {usage.calls} model calls, {requests} HTTP requests, "
        f"{usage.cached_calls} cached ({usage.cached_calls / served:.0%} of answers); "
        f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens; {wall:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--failure-rate", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rubric = load_rubric("internet_cs_qa")
    good = top_tier_responder(rubric)
    rng = random.Random(args.seed)
    lock = threading.Lock()
    faults = {"429": 0, "500": 0, "drop": 0, "stall": 0}

    def respond(request: dict[str, Any]) -> Reply:
        with lock:
            roll = rng.random()
            kind = rng.choice(["429", "500", "drop", "stall"]) if roll < args.failure_rate else None
            if kind:
                faults[kind] += 1
        if kind == "429":
            return error(429, "rate limited", {"retry-after": "1"})
        if kind == "500":
            return error(500, "upstream error", {"retry-after-ms": "50"})
        if kind == "drop":
            return Reply(drop=True)
        if kind == "stall":
            return Reply(delay=2.5, body={})
        return good(request)

    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(respond) as server:
        conversations = load_conversations(batch(args.conversations, Path(tmp)))
        settings = ModelSettings(
            model="fake-model",
            base_url=server.base_url,
            api_key=SecretStr("sk-bench"),
            timeout=2.0,
            transport_retries=4,
        )
        grader = Grader(
            rubric, model=settings, cache=Path(tmp) / "cache.sqlite", concurrency=args.concurrency
        )
        start = time.monotonic()
        first = grader.grade_many(conversations, output=Path(tmp) / "run1.jsonl")
        wall1 = time.monotonic() - start
        requests1 = len(server.requests)
        summary("run 1 (faults)", first, requests1, wall1)
        print(f"        injected faults: {faults} of {requests1} requests")
        start = time.monotonic()
        second = grader.grade_many(conversations, output=Path(tmp) / "run2.jsonl")
        summary("run 2 (cache) ", second, len(server.requests) - requests1, time.monotonic() - start)
        lost = {c.id for c in conversations} - {c.conversation_id for c in first}
        print(f"conversations lost: {len(lost)}")


if __name__ == "__main__":
    main()
