"""Grade the NTCIR-14 STC-3 DCH-1 corpus and set the model beside its 19 annotators.

    python eval/benchmarks/dch.py --data train_data_cn.json --model M [--sample N] [--seed S]
        [--samples K] [--base-url URL] [-o DIR]

DCH-1 (sakai-lab/stc3-dataset) holds Chinese customer–helpdesk dialogues from Weibo, each
scored by 19 annotators on A (task accomplishment), S (customer satisfaction) and E
(dialogue effectiveness), from -2 to 2. The corpus is not shipped (no licence for the text,
real personal data in it): download ``train_data_cn.json`` yourself.

The script converts each dialogue to a conversation (helpdesk = agent; a turn's utterances
joined by line breaks; an empty utterance — an emoji or photo the crawl left out — written
as ``[图片/表情]``), grades it with the built-in ``dch_quality`` rubric (model settings as
for ``llm-grader grade``: ``--model`` / ``LLM_GRADER_MODEL``, ``--base-url`` /
``OPENAI_BASE_URL``, ``OPENAI_API_KEY``) and reports, per score:

- quadratic-weighted kappa between the model and the annotators' median, and their mode,
  beside the same kappa of one annotator against the median of the other 18 (averaged over
  the 19 positions);
- Krippendorff's alpha (ordinal) of the 19 annotators, and with the model as a 20th rater:
  the annotators' own alpha is the ceiling (about 0.26 A, 0.29 S, 0.20 E on all 3,700);
- the task's measures, NMD and RSNOD exactly as the official ``eval.py`` computes them,
  between the model's distribution over -2..2 (its vote shares with ``--samples K``; a
  single answer is a one-hot distribution) and the 19 annotators' distribution, beside the
  same measures for one annotator's label against the other 18's distribution.

DIR receives ``conversations.jsonl`` (the converted dialogues), ``scorecards.jsonl``,
``submission.json`` (the model's distributions in the STC-3 submission format, for the
official script) and ``report.json``. Exit codes: 0 done; 1 bad input; 3 some items could
not be graded (they are left out of the figures and counted); 4 the endpoint refused the
configuration.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_grader import Conversation, load_rubric
from llm_grader.agreement import cohen_kappa, krippendorff_alpha
from llm_grader.conversation import Conversations
from llm_grader.errors import InputError, LLMGraderError, ModelConfigurationError, OutputLockedError, Problem

RUBRIC = "dch_quality"
SCORES = {"A": "accomplishment", "S": "satisfaction", "E": "effectiveness"}
"""STC-3 score key → item id of the ``dch_quality`` rubric."""
QUALITY_SCALES = ("2", "1", "0", "-1", "-2")
"""The bins, in the order of the official eval.py (its cumulative sums run this way)."""
LABELS = (-2, -1, 0, 1, 2)
SPEAKERS = {"helpdesk": "agent", "customer": "customer"}
UNCRAWLED = "[图片/表情]"
"""Stands for an empty utterance: an emoji or photo the crawl did not keep."""
KNOWN_ALPHA = {"A": 0.26, "S": 0.29, "E": 0.20}
"""Krippendorff's alpha (ordinal) of the 19 annotators over all 3,700 training dialogues."""
EXIT_INPUT, EXIT_FAILED, EXIT_CONFIG = 1, 3, 4


# --------------------------------------------------------------------------- the official measures


def _normalise(pred: Sequence[float], truth: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if p.shape != q.shape or p.size == 0:
        raise ValueError("pred and truth must be non-empty and of one length")
    if (p < 0).any() or (q < 0).any() or p.sum() == 0 or q.sum() == 0:
        raise ValueError("a distribution must be non-negative with a positive sum")
    return p / p.sum(), q / q.sum()


def nmd(pred: Sequence[float], truth: Sequence[float]) -> float:
    """Normalised Match Distance, as STC-3's eval.py: ``Σ|cum(p) − cum(q)| / (n − 1)``."""
    p, q = _normalise(pred, truth)
    return float(np.abs(np.cumsum(p) - np.cumsum(q)).sum() / (len(p) - 1))


def _order_aware(p: np.ndarray, q: np.ndarray) -> float:
    # eval.py's order_aware_div: the mean over EVERY bin i (not only bins where the truth is
    # non-zero, as the SIGIR 2018 paper defines OD) of Σ_j |i − j| (p_j − q_j)².
    n = len(p)
    distance = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return float((distance @ ((p - q) ** 2)).mean())


def rsnod(pred: Sequence[float], truth: Sequence[float]) -> float:
    """Root Symmetric Normalised Order-aware Divergence, as STC-3's eval.py."""
    p, q = _normalise(pred, truth)
    sod = (_order_aware(p, q) + _order_aware(q, p)) / 2
    return math.sqrt(sod / (len(p) - 1))


def distribution(labels: Sequence[int] | Counter[int]) -> list[float]:
    """Counts over the bins 2, 1, 0, -1, -2 (eval.py's order) from labels or label counts."""
    counts = labels if isinstance(labels, Counter) else Counter(labels)
    return [float(counts.get(int(s), 0)) for s in QUALITY_SCALES]


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Dialogue:
    """One DCH-1 dialogue: the conversation to grade and its annotators' scores."""

    conversation: Conversation
    human: dict[str, list[int]]
    """Score key → the annotators' labels, in annotation order."""


def _positions(text: str, path: Path) -> list[tuple[Any, int]]:
    """The top-level list's elements, each with the line it starts on."""
    head = len(text) - len(text.lstrip(" \t\r\n\ufeff"))
    if text[head : head + 1] != "[":
        raise InputError.at(str(path), 1, "", "the file must hold a JSON list of dialogues")
    decoder = json.JSONDecoder()
    out: list[tuple[Any, int]] = []
    pos = head + 1
    try:
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or text[pos] == "]":
                break
            value, end = decoder.raw_decode(text, pos)
            out.append((value, text.count("\n", 0, pos) + 1))
            pos = end
    except json.JSONDecodeError as exc:
        message = f"not valid JSON ({exc.msg}, column {exc.colno})"
        raise InputError.at(str(path), exc.lineno, "", message) from None
    return out


@dataclass
class _Located:
    """Collects the problems of one dialogue at its file and line."""

    file: str
    line: int
    index: int
    problems: list[Problem]

    def add(self, field: str, message: str) -> None:
        self.problems.append(
            Problem(file=self.file, line=self.line, field=f"[{self.index}]{field}", message=message)
        )


def _turn_text(utterances: Any) -> str | None:
    if not isinstance(utterances, list) or not all(isinstance(u, str) for u in utterances):
        return None
    return "\n".join(u if u.strip() else UNCRAWLED for u in utterances) or UNCRAWLED


def _human(annotations: Any, at: _Located) -> dict[str, list[int]]:
    human: dict[str, list[int]] = {key: [] for key in SCORES}
    if not isinstance(annotations, list) or not annotations:
        at.add(".annotations", "must be a non-empty list of {nugget, quality}")
        return human
    for a, annotation in enumerate(annotations):
        quality = annotation.get("quality") if isinstance(annotation, dict) else None
        for key in SCORES:
            value = quality.get(key) if isinstance(quality, dict) else None
            if isinstance(value, bool) or not isinstance(value, int) or value not in LABELS:
                at.add(f".annotations[{a}].quality.{key}", f"must be an integer from -2 to 2, not {value!r}")
            else:
                human[key].append(value)
    return human


def _dialogue(raw: Any, at: _Located) -> Dialogue | None:
    if not isinstance(raw, dict):
        at.add("", "a dialogue must be an object with id, turns and annotations")
        return None
    start = len(at.problems)
    did = raw.get("id")
    if not isinstance(did, (str, int)) or isinstance(did, bool) or str(did) == "":
        at.add(".id", "missing, or not a string")
    turns = raw.get("turns")
    converted: list[dict[str, str]] = []
    if not isinstance(turns, list) or not turns:
        at.add(".turns", "must be a non-empty list of {sender, utterances}")
        turns = []
    for t, turn in enumerate(turns):
        sender = turn.get("sender") if isinstance(turn, dict) else None
        text = _turn_text(turn.get("utterances")) if isinstance(turn, dict) else None
        if sender not in SPEAKERS:
            at.add(f".turns[{t}].sender", f"must be customer or helpdesk, not {sender!r}")
        elif text is None:
            at.add(f".turns[{t}].utterances", "must be a list of strings")
        else:
            converted.append({"speaker": SPEAKERS[sender], "text": text})
    human = _human(raw.get("annotations"), at)
    if len(at.problems) > start:
        return None
    try:
        conversation = Conversation.model_validate({"id": str(did), "channel": "chat", "turns": converted})
    except ValueError as exc:
        at.add("", str(exc).replace("\n", " "))
        return None
    return Dialogue(conversation, human)


def load_dch(path: Path) -> list[Dialogue]:
    """Every dialogue of a DCH-1 JSON file; raises InputError naming file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.at(str(path), None, "", f"cannot read the file ({exc})") from None
    problems: list[Problem] = []
    dialogues: list[Dialogue] = []
    seen: dict[str, int] = {}
    for index, (raw, line) in enumerate(_positions(text, path)):
        at = _Located(str(path), line, index, problems)
        dialogue = _dialogue(raw, at)
        if dialogue is None:
            continue
        cid = dialogue.conversation.id
        if cid in seen:
            at.add(".id", f"{cid!r} repeats the id of dialogue [{seen[cid]}]")
            continue
        seen[cid] = index
        dialogues.append(dialogue)
    if problems:
        raise InputError(problems)
    if not dialogues:
        raise InputError.at(str(path), 1, "", "no dialogues in the file")
    return dialogues


def sample(dialogues: list[Dialogue], n: int | None, seed: int) -> list[Dialogue]:
    """``n`` dialogues drawn at random with ``seed`` (all when ``n`` is None), in file order."""
    if n is None or n >= len(dialogues):
        return dialogues
    keep = sorted(random.Random(seed).sample(range(len(dialogues)), n))
    return [dialogues[i] for i in keep]


# --------------------------------------------------------------------------- the figures


def median(labels: Sequence[int]) -> int:
    """The annotators' median (the lower middle one for an even count)."""
    return int(statistics.median_low(labels))


def mode(labels: Sequence[int]) -> int:
    """The most frequent label; a tie goes to the one nearest the median, then the lower one."""
    counts = Counter(labels)
    mid = median(labels)
    return min(counts, key=lambda v: (-counts[v], abs(v - mid), v))


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


def score_report(
    key: str, humans: list[list[int]], model: list[int], model_dist: list[list[float]]
) -> dict[str, Any]:
    """The figures of one score over the dialogues the model graded (lists item for item)."""
    raters = max(len(h) for h in humans)
    table: list[list[int | None]] = [
        [h[r] if r < len(h) else None for h in humans] for r in range(raters)
    ]  # raters × units
    medians = [median(h) for h in humans]
    one_vs_rest_kappa: list[float] = []
    one_nmd: list[float] = []
    one_rsnod: list[float] = []
    for r in range(raters):
        pairs = [(h[r], median(h[:r] + h[r + 1 :])) for h in humans if r < len(h) and len(h) > 1]
        if pairs:
            k = cohen_kappa([a for a, _ in pairs], [b for _, b in pairs], weights="quadratic", labels=LABELS)
            if not math.isnan(k):
                one_vs_rest_kappa.append(k)
    for h in humans:
        for r in range(len(h) if len(h) > 1 else 0):
            rest = distribution(h[:r] + h[r + 1 :])
            one_nmd.append(nmd(distribution([h[r]]), rest))
            one_rsnod.append(rsnod(distribution([h[r]]), rest))
    truth = [distribution(h) for h in humans]
    return {
        "graded": len(model),
        "qwk_median": _num(cohen_kappa(model, medians, weights="quadratic", labels=LABELS)),
        "qwk_mode": _num(cohen_kappa(model, [mode(h) for h in humans], weights="quadratic", labels=LABELS)),
        "qwk_annotator_vs_rest": _num(_mean(one_vs_rest_kappa)),
        "alpha_annotators": _num(krippendorff_alpha(table, level="ordinal", labels=LABELS)),
        "alpha_with_model": _num(krippendorff_alpha([*table, list(model)], level="ordinal", labels=LABELS)),
        "alpha_annotators_all_3700": KNOWN_ALPHA[key],
        "nmd": _num(_mean([nmd(p, q) for p, q in zip(model_dist, truth, strict=True)])),
        "rsnod": _num(_mean([rsnod(p, q) for p, q in zip(model_dist, truth, strict=True)])),
        "nmd_one_annotator": _num(_mean(one_nmd)),
        "rsnod_one_annotator": _num(_mean(one_rsnod)),
        "model_mean": _num(_mean(model)),
        "annotator_mean": _num(_mean([v for h in humans for v in h])),
    }


def model_distribution(item: Any) -> list[float]:
    """The model's counts over the bins: its votes across samples, else its one answer."""
    votes = item.audit.tiers
    if votes:
        return distribution(Counter({int(t): n for t, n in votes.items() if t in QUALITY_SCALES}))
    return distribution([int(item.tier)])


def build_report(dialogues: list[Dialogue], cards: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per-score figures and the STC-3 submission, from the scorecards of ``dialogues``."""
    by_id = {c.conversation_id: c for c in cards}
    scores: dict[str, Any] = {}
    submission: dict[str, dict[str, dict[str, float]]] = {}
    for key, item_id in SCORES.items():
        humans: list[list[int]] = []
        model: list[int] = []
        dists: list[list[float]] = []
        failed: list[str] = []
        for d in dialogues:
            card = by_id.get(d.conversation.id)
            item = next((i for i in card.items if i.item_id == item_id), None) if card else None
            if item is None or item.error or item.not_applicable or item.tier not in QUALITY_SCALES:
                failed.append(d.conversation.id)
                continue
            dist = model_distribution(item)
            humans.append(d.human[key])
            model.append(int(item.tier))
            dists.append(dist)
            total = sum(dist)
            submission.setdefault(d.conversation.id, {})[key] = {
                s: round(c / total, 6) for s, c in zip(QUALITY_SCALES, dist, strict=True)
            }
        report = score_report(key, humans, model, dists) if model else {"graded": 0}
        report.update({"item_id": item_id, "failed": len(failed), "failed_ids": failed[:20]})
        scores[key] = report
    entries = [{"id": cid, "quality": quality} for cid, quality in submission.items()]
    return scores, entries


# --------------------------------------------------------------------------- output


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def render(report: dict[str, Any]) -> str:
    """The report as a plain-text table, the annotators' figures beside the model's."""
    lines = [
        f"DCH-1: {report['graded_dialogues']} of {report['dialogues']} dialogues, model {report['model']}, "
        f"{report['samples']} sample(s) each, distribution from {report['distribution']}",
        "",
        f"{'score':<6}{'graded':>7}{'failed':>7}  {'QWK med':>8}{'QWK mode':>9}{'1 vs 18':>8}"
        f"  {'α 19':>6}{'α +model':>9}{'α 3700':>7}  {'NMD':>6}{'1 ann.':>7}  {'RSNOD':>6}{'1 ann.':>7}",
    ]
    for key, s in report["scores"].items():
        lines.append(
            f"{key:<6}{s['graded']:>7}{s['failed']:>7}  {_fmt(s.get('qwk_median')):>8}"
            f"{_fmt(s.get('qwk_mode')):>9}{_fmt(s.get('qwk_annotator_vs_rest')):>8}"
            f"  {_fmt(s.get('alpha_annotators')):>6}{_fmt(s.get('alpha_with_model')):>9}"
            f"{_fmt(s.get('alpha_annotators_all_3700')):>7}"
            f"  {_fmt(s.get('nmd')):>6}{_fmt(s.get('nmd_one_annotator')):>7}"
            f"  {_fmt(s.get('rsnod')):>6}{_fmt(s.get('rsnod_one_annotator')):>7}"
        )
    lines += [
        "",
        "QWK med/mode: model vs the annotators' median/mode; 1 vs 18: one annotator vs the others' median.",
        "α 19: the annotators' ordinal alpha (the ceiling); α +model: with the model as a 20th rater "
        "(below α 19: the model agrees less with them than they do with each other).",
        "NMD, RSNOD: lower is better; 1 ann.: one annotator's label against the other 18's distribution.",
    ]
    return "\n".join(lines)


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def run(args: argparse.Namespace) -> int:
    """Convert, grade and report; the exit code."""
    from llm_grader.cli._grading import make_grader, run_batch

    corpus = load_dch(args.data)
    dialogues = sample(corpus, args.sample, args.seed)
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    converted = [d.conversation.model_dump(mode="json", exclude_none=True) for d in dialogues]
    _write_jsonl(out / "conversations.jsonl", converted)
    grader = make_grader(
        load_rubric(RUBRIC),
        model=args.model,
        base_url=args.base_url,
        provider=args.provider,
        mode=args.mode,
        concurrency=args.concurrency,
        samples=args.samples,
        temperature=args.temperature,
        no_cache=args.no_cache,
    )
    batch = run_batch(
        grader, Conversations(d.conversation for d in dialogues), out / "scorecards.jsonl",
        resume=False, overwrite=True,
    )  # fmt: skip
    scores, submission = build_report(dialogues, batch.cards)
    model_name = grader.model or args.model
    report = {
        "data": str(args.data),
        "dialogues": len(corpus),
        "graded_dialogues": len(dialogues),
        "sample": args.sample,
        "seed": args.seed,
        "model": model_name,
        "samples": args.samples,
        "distribution": "votes" if args.samples > 1 else "one answer (one-hot)",
        "rubric": {"id": grader.rubric.id, "version": grader.rubric.version},
        "scores": scores,
    }
    for name, data in (("report.json", report), ("submission.json", submission)):
        (out / name).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(render(report))
    print(f"\nreport: {out / 'report.json'}")
    return batch.exit_code


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="DCH-1 JSON file (train_data_cn.json)")
    p.add_argument("--model", default=os.environ.get("LLM_GRADER_MODEL"), help="model (or $LLM_GRADER_MODEL)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (or $OPENAI_BASE_URL)")
    p.add_argument("--provider", default=None, help="provider profile (default: from the base URL)")
    p.add_argument("--mode", default=None, help="structured-output mode: tools, json_schema, json, md_json")
    p.add_argument("--sample", type=int, default=None, help="grade N dialogues drawn at random (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--samples", type=int, default=1, help="answers per item; k > 1 gives a vote distribution")
    p.add_argument("--temperature", type=float, default=None, help="default 0; 0.7 when --samples > 1")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the answer cache")
    p.add_argument("-o", "--output", type=Path, default=Path("dch_results"), help="output directory")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; errors as messages (exit 1 bad input, 4 configuration refused)."""
    args = parser().parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser().error("--sample must be at least 1")
    if args.samples < 1 or args.concurrency < 1:
        parser().error("--samples and --concurrency must be at least 1")
    try:
        return run(args)
    except (ModelConfigurationError, OutputLockedError) as exc:
        print(f"错误/error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except InputError as exc:
        for problem in exc.problems:
            print(f"错误/error: {problem}", file=sys.stderr)
        return EXIT_INPUT
    except LLMGraderError as exc:
        print(f"错误/error: {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
