"""Generate a QA lead's data set: conversations and their scorecards, with a planted drift and a weak agent.

    python eval/make_qa_set.py OUT_DIR [--conversations 2000] [--seed 0]

Writes ``OUT_DIR/conversations.jsonl`` and ``OUT_DIR/scorecards.jsonl``: chats over 20 agents
(``A01``–``A20``) in 3 teams (``T1``–``T3``) across 8 ISO weeks from Monday 2024-03-04,
graded against the built-in ``internet_cs_qa`` card by the real grader (rules, evidence
verification, scoring, overrides) with an in-process scripted judge
(:class:`llm_grader.testing.FakeJudge`) whose answers follow a plan:

- each agent has a skill (the chance an item gets its top tier; a fair tier otherwise
  more often than a poor one); every quote the judge cites is a phrase planted in the
  transcript for that item and tier, so evidence verifies;
- **planted weak agent**: ``A07`` (team ``T1``), skill 0.25 against 0.70–0.80 for the others, and
  a slow first reply (the rule item ``first_response_time`` fails);
- **planted drift**: team ``T2`` improves every week, its skill rising linearly from
  :data:`DRIFT_FROM` to :data:`DRIFT_TO` (the expected mean total rises by the points
  printed at the end);
- about 1 % of conversations raise the service-taboo flag (a fatal override) and about 1 %
  get an invalid model answer for one item (a partial scorecard).

The plan of each conversation is also stored in its metadata (``planned_skill``), so a test
can check what the page shows against what was planted.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llm_grader import Grader, load_conversations, load_rubric
from llm_grader._results import ResultsWriter
from llm_grader.llm import JudgeRequest
from llm_grader.testing import FakeJudge

AGENTS = [f"A{n:02d}" for n in range(1, 21)]
TEAMS = {agent: f"T{(n % 3) + 1}" for n, agent in enumerate(AGENTS)}
"""A01 → T1, A02 → T2, A03 → T3, A04 → T1, …: 7, 7 and 6 agents."""
WEAK_AGENT = "A07"
DRIFT_TEAM = "T2"
DRIFT_FROM, DRIFT_TO = 0.35, 0.9
WEEKS = 8
FAIR_SHARE = 0.5
"""Of the items below the top tier, the share that get the middle tier (the others the lowest)."""
START = datetime(2024, 3, 4, 9, 0, tzinfo=timezone(timedelta(hours=8)))

PHRASES: dict[str, dict[str, str]] = {
    "politeness": {"good": "您好,很高兴为您服务", "fair": "嗯,你说吧", "poor": "你自己不会看吗"},
    "norm_compliance": {"good": "已按规定为您核实身份", "fair": "身份就先不核了", "poor": "不用核实了直接办"},
    "expression": {
        "good": "我简单说明一下原因和处理步骤",
        "fair": "就是那个,反正就这样",
        "poor": "说了你也不懂",
    },
    "focus": {"good": "您刚才提到的问题我都记下了", "fair": "稍等,刚才您说的是什么", "poor": "啊?你再说一遍"},
    "answer_rigor": {
        "good": "根据资费规定,本月费用包含套餐费和流量包",
        "fair": "大概是套餐费吧",
        "poor": "应该没扣费",
    },
    "efficiency": {"good": "已为您一次办理完成", "fair": "我再查一下,请稍等很久", "poor": "今天办不了"},
    "soothing": {"good": "非常理解您的心情,给您添麻烦了", "fair": "别急", "poor": "那也没办法"},
    "proactiveness": {"good": "另外提醒您,月底有优惠活动", "fair": "还有别的事吗", "poor": "这个你找营业厅"},
    "record_accuracy": {
        "good": "已记录:客户咨询本月话费构成",
        "fair": "已记录:客户咨询话费",
        "poor": "已记录:咨",
    },
}
"""Per model item and tier, the agent's phrase the judge quotes (record_accuracy's is also the notes)."""


def skill(agent: str, week: int) -> float:
    """The planned chance that an item of ``agent``'s conversation in ``week`` (0-based) gets its top tier."""
    if agent == WEAK_AGENT:
        return 0.25
    if TEAMS[agent] == DRIFT_TEAM:
        return DRIFT_FROM + (DRIFT_TO - DRIFT_FROM) * week / (WEEKS - 1)
    return 0.70 + 0.10 * (AGENTS.index(agent) % 2)


def _tier(rng: random.Random, p_top: float) -> str:
    roll = rng.random()
    return "good" if roll < p_top else "fair" if roll < p_top + (1 - p_top) * FAIR_SHARE else "poor"


def plan(n: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """Conversation ``n``: its JSON record and the judge's plan (tier per item, flags, a failure)."""
    agent = AGENTS[n % len(AGENTS)]
    week = (n // len(AGENTS)) % WEEKS
    start = START + timedelta(days=7 * week + rng.randrange(5), minutes=rng.randrange(480))
    p = skill(agent, week)
    tiers = {item: _tier(rng, p) for item in PHRASES}
    taboo = rng.random() < 0.01
    failing = next(iter(PHRASES)) if rng.random() < 0.01 else None
    first_reply = rng.randrange(35, 60) if agent == WEAK_AGENT else rng.randrange(3, 25)
    opening = "你好,我想问一下这个月的话费为什么这么高?"
    turns = [{"speaker": "customer", "text": opening, "start": start.isoformat()}]
    at = start + timedelta(seconds=first_reply)
    turn_of: dict[str, int] = {}
    for item, tier in tiers.items():
        turns.append({"speaker": "agent", "text": PHRASES[item][tier] + "。", "start": at.isoformat()})
        turn_of[item] = len(turns)
        at += timedelta(seconds=rng.randrange(5, 20))
        turns.append({"speaker": "customer", "text": "好的。", "start": at.isoformat()})
        at += timedelta(seconds=rng.randrange(5, 20))
    turns.append({"speaker": "agent", "text": "感谢您的来电,再见。", "start": at.isoformat()})
    record = {
        "id": f"q{n + 1:04d}",
        "channel": "chat",
        "metadata": {
            "agent_id": agent,
            "team": TEAMS[agent],
            "started_at": start.isoformat(),
            "planned_skill": round(p, 3),
        },
        "notes": PHRASES["record_accuracy"][tiers["record_accuracy"]],
        "turns": turns,
    }
    return record, {"tiers": tiers, "turn_of": turn_of, "taboo": taboo, "failing": failing}


class Script:
    """The judge's answers for the conversation being graded (set :attr:`current` before each)."""

    def __init__(self, rubric_flags: dict[str, list[str]]) -> None:
        self.flags = rubric_flags
        self.current: dict[str, Any] = {}

    def __call__(self, request: JudgeRequest) -> dict[str, Any] | str:
        item = request.item_id
        if item == self.current["failing"]:
            return "{not json"
        tier = self.current["tiers"][item]
        quote = PHRASES[item][tier]
        turn = self.current["turn_of"].get(item)
        evidence = [] if turn is None else [{"turn": turn, "quote": quote}]
        taboo = item == "politeness" and self.current["taboo"]
        flags = {f: taboo and f == "service_taboo" for f in self.flags[item]}
        return {"tier": tier, "evidence": evidence, "rationale": f"依据:{quote}", "flags": flags}


def expected_total(p: float) -> float:
    """The expected total of a conversation at skill ``p`` (model items only; first reply in time)."""
    rubric = load_rubric("internet_cs_qa")
    total = 5.0  # first_response_time, in time for every agent but the weak one
    for _, item in rubric.items():
        if item.id in PHRASES:
            points = {t.id: item.tier_points(t) for t in item.tiers}
            below = FAIR_SHARE * points["fair"] + (1 - FAIR_SHARE) * points["poor"]
            total += p * points["good"] + (1 - p) * below
    return total


def generate(out: Path, count: int = 2000, seed: int = 0) -> tuple[Path, Path]:
    """Write ``count`` conversations and their scorecards under ``out``; the two paths."""
    rng = random.Random(seed)
    rubric = load_rubric("internet_cs_qa")
    script = Script({item.id: [f.id for f in item.flags] for _, item in rubric.items()})
    grader = Grader(rubric, model=FakeJudge(script, reasks=0))
    out.mkdir(parents=True, exist_ok=True)
    conversations, scorecards = out / "conversations.jsonl", out / "scorecards.jsonl"
    plans = []
    with conversations.open("w", encoding="utf-8") as lines:
        for n in range(count):
            record, planned = plan(n, rng)
            lines.write(json.dumps(record, ensure_ascii=False) + "\n")
            plans.append(planned)
    writer = ResultsWriter(scorecards, overwrite=True)
    # Read back as any user's file is (ISO turn times become offsets and started_at).
    for conversation, planned in zip(load_conversations(conversations), plans, strict=True):
        script.current = planned
        writer.write(grader.grade(conversation))
    writer.close()
    return conversations, scorecards


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    began = time.perf_counter()
    generate(args.out, args.conversations, args.seed)
    rise = expected_total(DRIFT_TO) - expected_total(DRIFT_FROM)
    print(
        f"{args.conversations} conversations in {time.perf_counter() - began:.1f} s → {args.out}; "
        f"weak agent {WEAK_AGENT} (expected mean {expected_total(0.25) - 5:.1f}); "
        f"team {DRIFT_TEAM} expected to rise {rise:.1f} points from week 1 to week {WEEKS}"
    )


if __name__ == "__main__":
    main()
