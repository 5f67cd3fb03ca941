"""Regenerate the notebooks (cells only, no outputs): python notebooks/make_notebooks.py.

Tables are shown as pandas DataFrames (the last expression of a cell), never as printed text.
"""

import nbformat as nbf
from pathlib import Path

OUT = Path(__file__).resolve().parent

def nb(cells):
    book = nbf.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.cells = [nbf.v4.new_markdown_cell(c[1]) if c[0] == "md" else nbf.v4.new_code_cell(c[1]) for c in cells]
    return book

SETUP = '''import sys, tempfile
from pathlib import Path

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
from pydantic import SecretStr
from llm_grader import Grader, ModelSettings, load_conversations, load_rubric
from llm_grader.testing import FakeOpenAIServer

import pandas as pd
from llm_grader import results_to_frame

WORK = Path(tempfile.mkdtemp(prefix="llm-grader-notebook-"))'''

quick = nb([
    ("md", "# 01 · Quickstart\n\nLoad a rubric and a conversation, grade it, and look at the evidence and the overrides.\n\n"
           "This notebook runs **offline**: a scripted OpenAI-compatible server on 127.0.0.1 (`llm_grader.testing.FakeOpenAIServer`) "
           "plays the model, through the real `openai` SDK and `instructor`. To use a real model, replace the `settings` below with "
           "`Grader(rubric, model=\"gpt-4o-mini\")` and set `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for other providers)."),
    ("code", SETUP),
    ("code", '''rubric = load_rubric("internet_cs_qa")
conversations = {c.id: c for c in load_conversations(ROOT / "examples" / "conversations.jsonl")}
print(rubric.name, rubric.version, "—", sum(1 for _ in rubric.items()), "items,", rubric.max_score, "points")
pd.DataFrame([{"category": c.name, "item": i.id, "name": i.name, "judge": i.judge, "max points": i.max_points}
              for c, i in rubric.items()])'''),
    ("md", "Rule items need no model: a rules-only grade measures the first-response time from the timestamps."),
    ("code", '''rules_only = Grader(rubric).grade(conversations["c002"])
item = rules_only.item("first_response_time")
print(item.tier_label, item.points, "—", item.rationale)
print("unscored (model-judged, no model):", [i.item_id for i in rules_only.items if i.unscored])'''),
    ("md", "Now a scripted model: it answers every item with the top tier, except on `c003`, where it reports the service taboo "
           "(服务禁忌) with evidence. The rubric's override — not the model — makes that a fatal-error record."),
    ("code", '''from llm_grader.testing import answer, item_of, top_tier_responder

top = top_tier_responder(rubric)
def respond(request):
    if item_of(request) == "politeness" and "喂,你说。" in request["messages"][1]["content"]:
        return answer(request, {"evidence": [{"turn": 1, "quote": "喂,你说。"}, {"turn": 9, "quote": "不明白你说什么"}],
                                "rationale": "开口即用服务禁语“喂”,并顶撞客户", "tier": "poor", "flags": {"service_taboo": True}})
    return top(request)

with FakeOpenAIServer(respond) as server:
    settings = ModelSettings(model="fake-model", base_url=server.base_url, api_key=SecretStr("sk-notebook"))
    grader = Grader(rubric, model=settings, cache=WORK / "cache.sqlite")
    # progress=True: a bar with the ETA, failed conversations, calls, cached calls and tokens;
    # a function instead receives an llm_grader.Progress after each conversation.
    cards = grader.grade_many([conversations["c003"], conversations["c007"]], progress=True)
results_to_frame(cards, level="conversation")[
    ["conversation_id", "total_score", "max_score", "fatal", "overrides", "complete", "usage.calls"]]'''),
    ("md", "One row per item (`results_to_frame(cards)`, the same columns as `llm-grader export`):"),
    ("code", '''results_to_frame(cards)[["conversation_id", "item_id", "tier_label", "points", "max_points", "needs_review",
                         "evidence_quote"]]'''),
    ("code", '''c003 = cards[0]
politeness = c003.item("politeness")
print(politeness.tier_label, politeness.points, politeness.flags)
for e in politeness.evidence:
    turn = conversations["c003"].turns[e.turn - 1]
    print(f"turn {e.turn} ({e.speaker}) chars {e.start_char}-{e.end_char}: {turn.text[e.start_char:e.end_char]!r}  verified={e.verified}")
for o in c003.overrides:
    print(o.kind, o.id, "—", o.reason)'''),
    ("md", "The exact messages sent for an item (the same prompt `llm-grader rubric show internet_cs_qa --item politeness --conversation …` prints):"),
    ("code", '''for message in grader.messages(rubric.item("soothing"), conversations["c007"]):
    print("=====", message["role"])
    print(message["content"][:600])'''),
    ("code", '''print("usage:", c003.usage)
print("audit:", politeness.audit.model_dump(exclude={"raw"}, exclude_none=True))'''),
])

LAB_SETUP = SETUP + '''
import json
from llm_grader.calibration import load_human_scores, calibrate, compare_variants
from llm_grader.testing import simulated_responder

CAL = ROOT / "eval" / "calibration"
batch = load_conversations(CAL / "conversations.jsonl")
humans = load_human_scores(CAL / "human_scores.csv")
truth = {}
for line in (CAL / "truth.jsonl").read_text(encoding="utf-8").splitlines():
    row = json.loads(line)
    truth[(row["conversation_id"], row["item_id"])] = row
print(len(batch), "conversations,", len(humans), "human grades")'''

lab = nb([
    ("md", "# 02 · Rubric wording lab\n\nChange the wording of one item, see the prompt diff, re-grade the calibration set "
           "(unchanged items come from the cache), and compare agreement with humans, with paired bootstrap intervals. "
           "Then run the alignment loop: examples drawn from the graders' disagreements, proven on held-out scores.\n\n"
           "Offline: the model is a **simulated grader** with known error rates behind the local fake server. To make the "
           "demonstration visible, the simulation answers the reworded `focus` item with fewer errors (5 %) than the original "
           "(35 %) — with a real model, whether the new wording helps is exactly what this notebook measures."),
    ("code", LAB_SETUP),
    ("code", '''import difflib
import re
from llm_grader.rubric import rubric_from_text
source = (ROOT / "rubrics" / "internet_cs_qa.yaml").read_text(encoding="utf-8")
original = rubric_from_text(source, file="internet_cs_qa.yaml")
major, minor = original.version.split(".")
new_version = f"{major}.{int(minor) + 1}"
old = "一般: 注意力集中,偶有需要客户重复的现象,但整体感知不影响。"
reworded_text = source.replace(
    "注意力集中,偶有需要客户重复的现象,但整体感知不影响。",
    "注意力集中,有一到两次需要客户重复已说明的信息(例如再次询问订单号),但问题最终得到处理,客户没有表现出不满。",
)
reworded_text = re.sub(r'^version: "[^"]+"', f'version: "{new_version}"', reworded_text, count=1, flags=re.M)
reworded = rubric_from_text(reworded_text, file=f"internet_cs_qa-v{new_version}.yaml")
a = Grader(original).messages(original.item("focus"), batch[0])[2]["content"].splitlines()
b = Grader(reworded).messages(reworded.item("focus"), batch[0])[2]["content"].splitlines()
print("\\n".join(difflib.unified_diff(a, b, f"v{original.version}", f"v{new_version}", lineterm="")))'''),
    ("code", '''server = FakeOpenAIServer(lambda request: None).__enter__()   # one endpoint for both variants
settings = ModelSettings(model="sim-model", base_url=server.base_url, api_key=SecretStr("sk-lab"))

def grade(rubric, rates, salt):
    errors = {i.id: 0.15 for _, i in rubric.items()}
    errors.update(rates)
    server.responder = simulated_responder(Grader(rubric), list(batch), truth, error_rates=errors, seed=1, salt=salt)
    before = len(server.requests)
    cards = Grader(rubric, model=settings, cache=WORK / "cache.sqlite").grade_many(batch)
    return cards, len(server.requests) - before

cards_a, calls_a = grade(original, {"focus": 0.35}, salt="")
cards_b, calls_b = grade(reworded, {"focus": 0.05}, salt="reworded")
server.__exit__(None, None, None)
print("variant A:", calls_a, "model calls")
print("variant B:", calls_b, "model calls (only the reworded item; the rest came from the cache)")
print("cached answers in B:", sum(c.usage.cached_calls for c in cards_b))'''),
    ("code", '''comparison = compare_variants(original, cards_a, reworded, cards_b, humans, n_boot=500, seed=0)
pd.DataFrame([{"item": r.item_id, "kappa A": r.kappa_a, "kappa B": r.kappa_b, "B - A": r.difference,
               "95% low": r.interval.low, "95% high": r.interval.high, "verdict": r.verdict}
              for r in comparison.items]).set_index("item").round(3)'''),
    ("md", "Items whose wording did not change get identical answers (from the cache) in both variants, so their difference is exactly 0. "
           "Only `focus` moved; the paired bootstrap tells whether the move is larger than the resampling noise of 48 conversations."),
    ("md", "## The alignment loop\n\n`llm_grader.alignment.align` (the command `llm-grader align`) does the whole loop: it splits the human-scored "
           "set into a development and a held-out half (seeded, stratified, saved in the output folder), grades it, turns the development "
           "half's disagreements with the humans' adjudicated tiers into few-shot `examples` in a candidate rubric of the next version (with a diff), "
           "and measures old against candidate on the **held-out** half only. Here the simulated grader is wrong 40 % of the time, "
           "and never when the item block shows examples, so the candidate should be measurably better."),
    ("code", '''from llm_grader.alignment import align, read_history

ALIGN = WORK / "align"
def run_align(with_examples):
    responder = simulated_responder(Grader(original), list(batch), truth, error_rates=0.4, seed=1, with_examples=with_examples)
    with FakeOpenAIServer(responder) as server:
        settings = ModelSettings(model="sim-model", base_url=server.base_url, api_key=SecretStr("sk-lab"))
        return align("internet_cs_qa", CAL / "human_scores.csv", CAL / "conversations.jsonl", ALIGN / str(with_examples),
                     model=settings, cache=WORK / "align-cache.sqlite", n_boot=500)

helped = run_align(0.0)
print(helped.sentence)
print(helped.examples_added)
pd.DataFrame([{"item": c.item_id, "kappa old": c.kappa_a, "kappa candidate": c.kappa_b, "difference": c.difference,
               "95% low": c.interval.low, "95% high": c.interval.high, "verdict": c.verdict}
              for c in [*helped.items, helped.overall]]).set_index("item").round(3)'''),
    ("md", "The candidate rubric is written beside the old, with a readable diff; the examples are now in the item's prompt:"),
    ("code", '''print(Path(helped.diff_file).read_text(encoding="utf-8")[:1500])
candidate = load_rubric(helped.candidate_file)
item_id = next(iter(helped.examples_added))
prompt = Grader(candidate).messages(candidate.item(item_id), batch[0])[-1]["content"]
print(prompt[prompt.index("示例"):][:600])'''),
    ("md", "Tier descriptions the disagreements point at are **suggestions** only: nothing is changed in the rubric without you."),
    ("code", '''pd.DataFrame([{"item": p.item_id, "model": s.model_tier, "humans": s.human_tier, "n": len(s.conversations), "suggestion": s.text}
              for p in helped.proposals for s in p.suggestions]).head(8)'''),
    ("md", "A grader whose answers the examples merely reshuffle (same error rate) shows gains and losses inside the noise: the loop "
           "refuses to call that better whenever the held-out interval includes 0."),
    ("code", '''shaken = run_align(0.4)
print(shaken.sentence)
pd.DataFrame([{"item": c.item_id, "difference": c.difference, "95% low": c.interval.low, "95% high": c.interval.high,
               "verdict": c.verdict} for c in [*shaken.items, shaken.overall]]).set_index("item").round(3)'''),
    ("md", "Every run is recorded in `history.json` in its folder (`llm-grader align --history DIR` prints it):"),
    ("code", '''pd.DataFrame([{"rubric": f"{e.old_version} -> {e.candidate_version}", "model": e.model,
               "dev/held": f"{e.development}/{e.held_out}", "kappa old": e.overall.kappa_a, "kappa new": e.overall.kappa_b,
               "verdict": e.verdict, "calls": e.usage.calls}
              for e in read_history(ALIGN / "0.0").experiments]).round(3)'''),
])

report_nb = nb([
    ("md", "# 03 · Calibration report\n\nGrade the human-scored calibration set, measure agreement item by item against the "
           "human–human ceiling, plot it, and read the largest disagreements with the model's evidence.\n\n"
           "Offline: a simulated grader with known error rates plays the model (see `eval/calibration/README.md`)."),
    ("code", LAB_SETUP),
    ("code", '''rubric = load_rubric("internet_cs_qa")
responder = simulated_responder(Grader(rubric), list(batch), truth, error_rates=0.2, seed=3)
with FakeOpenAIServer(responder) as server:
    settings = ModelSettings(model="sim-model", base_url=server.base_url, api_key=SecretStr("sk-report"))
    cards = Grader(rubric, model=settings, cache=WORK / "cache.sqlite").grade_many(batch)
report = calibrate(rubric, cards, humans, n_boot=500, seed=0)
pd.DataFrame([{"item": i.item_id, "scale": i.scale, "n": i.model_human.n, "exact": i.model_human.exact,
               "adjacent": i.model_human.adjacent, "kappa model–human": i.model_human.kappa,
               "95% low": i.model_human.kappa_ci.low, "95% high": i.model_human.kappa_ci.high,
               "kappa human–human": i.human_human.kappa if i.human_human else float("nan"),
               "AC1": i.model_human.ac1, "unscored": i.unscored}
              for i in report.items]).set_index("item").round(3)'''),
    ("code", '''pd.DataFrame({"totals": report.totals.model_dump() if report.totals else {},
              "fatal": report.fatal.model_dump() if report.fatal else {}})'''),
    ("md", "A gate for CI: `llm-grader calibrate ... --min-kappa 0.6 --min-kappa-item politeness=0.7` exits with code 5 "
           "naming the items below the minimum; in a pytest suite, `assert_agreement(report, min_kappa=0.6)` raises an "
           "`AssertionError` with one line per failing item. `agreement_failures` returns those lines:"),
    ("code", '''from llm_grader.calibration import agreement_failures, overall_kappa
print(f"overall (mean of the items' kappas): {overall_kappa(report):.3f}")
agreement_failures(report, overall=0.6, items={i.item_id: 0.6 for i in report.items}) or "every gate passes"'''),
    ("code", '''from IPython.display import Image, display
from llm_grader.report import write_report
files = write_report(report, WORK / "report", conversations={c.id: c for c in batch})
display(Image(filename=str(files["kappa_by_item"])))
display(Image(filename=str(files["confusion_matrices"])))'''),
    ("code", '''pd.DataFrame([{"conversation": d.conversation_id, "item": d.item_id, "model": d.model,
               "humans": ", ".join(f"{r}: {v}" for r, v in d.humans.items()), "gap": d.distance,
               "evidence": " / ".join(f"turn {e.turn}: {e.quote}" for e in d.evidence), "rationale": d.rationale}
              for d in report.disagreements[:8]])'''),
    ("code", '''print(files["markdown"].read_text(encoding="utf-8")[:1500])'''),
])

for name, book in (("01_quickstart.ipynb", quick), ("02_rubric_wording_lab.ipynb", lab), ("03_calibration_report.ipynb", report_nb)):
    nbf.write(book, OUT / name)
print("written")
