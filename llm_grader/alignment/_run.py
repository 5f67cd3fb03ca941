"""The alignment loop: tune a rubric on development conversations, prove it on held-out ones.

:func:`align` splits the human-scored set (:mod:`.split`), grades it with the rubric,
proposes examples and tier-wording suggestions from the development part's disagreements
(:mod:`.proposals`), writes the candidate rubric beside the old with a diff
(:mod:`.candidate`), grades the held-out part with it — items it did not change are
answered from the cache, their prompts being identical — and compares the two with
:func:`~llm_grader.calibration.compare_variants` (paired bootstrap). Each run is appended to
``DIR/history.json``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._grader import Grader
from .._messages import text
from .._textfiles import read_utf8
from ..calibration import HumanScore, ItemComparison, compare_variants, load_human_scores
from ..conversation import Conversation, load_conversations
from ..errors import LLMGraderError
from ..llm import Judge, ModelSettings
from ..rubric import Example, Rubric, load_rubric, resolve_rubric
from ..scoring import Scorecard
from ..types import ReviewVerdict, Usage
from ._candidate import candidate_text, next_version, unified_diff
from ._proposals import ItemProposal, propose
from ._split import Split, adjudicated_tiers, load_split, split_conversations

HISTORY = "history.json"
SPLIT = "split.json"

Verdict = Literal["better", "worse", "not distinguishable", "undefined", "no candidate"]
_SENTENCE = {
    "better": "cli.align_better",
    "worse": "cli.align_worse",
    "not distinguishable": "cli.align_same",
    "undefined": "cli.align_undefined",
    "no candidate": "cli.align_nothing",
}


class Experiment(BaseModel):
    """One run of the loop, as the history keeps it."""

    model_config = ConfigDict(extra="forbid")

    at: str
    rubric_id: str
    old_version: str
    candidate_version: str | None
    candidate_file: str | None
    diff_file: str | None
    model: str | None
    split_file: str
    seed: int
    development: int
    held_out: int
    examples_added: dict[str, int]
    """item id → examples the candidate adds."""
    items: list[ItemComparison] = Field(default_factory=list)
    """Held-out kappas, old (A) against candidate (B), with the paired-bootstrap interval."""
    overall: ItemComparison | None = None
    verdict: Verdict
    sentence: str
    usage: Usage
    """Every model call of the run (both rubrics), with the cost where priced."""
    failed_items: int = 0
    """Model items that could not be graded (left out of the kappas)."""


class AlignmentReport(Experiment):
    """What :func:`align` returns: the experiment, and per item what the development part proposes."""

    proposals: list[ItemProposal]


class History(BaseModel):
    """``DIR/history.json``: every experiment, oldest first."""

    model_config = ConfigDict(extra="forbid")

    experiments: list[Experiment] = Field(default_factory=list)


def read_history(directory: str | Path) -> History:
    """The experiments recorded in ``DIR/history.json`` (none when there is no file)."""
    path = Path(directory) / HISTORY
    if not path.exists():
        return History()
    try:
        return History.model_validate_json(read_utf8(path, what="alignment history"))
    except ValueError as exc:
        raise LLMGraderError(f"{path}: not an alignment history ({str(exc).splitlines()[0]})") from None


def _split(
    rubric: Rubric, humans: Sequence[HumanScore], out: Path, given: Path | None, seed: int, share: float
) -> Split:
    """The split given, else the one saved in ``out``, else a new one (saved in ``out``)."""
    saved = out / SPLIT
    if given is not None:
        split = load_split(given)
    elif saved.exists():
        split = load_split(saved)
    else:
        split = split_conversations(rubric, humans, seed=seed, dev_share=share)
    split.save(saved)
    return split


def _usage(cards: Iterable[Scorecard]) -> Usage:
    return sum((c.usage for c in cards), Usage())


def _failed(cards: Iterable[Scorecard]) -> int:
    """Items whose model call failed."""
    return sum(1 for c in cards for i in c.items if i.error is not None)


def _write_candidate(
    out: Path, rubric: Rubric, source: str, additions: Mapping[str, Sequence[Example]]
) -> tuple[str, Path, str]:
    """The candidate's version, file and text: the next version whose file is free or holds this text."""
    version = next_version(rubric.version)
    while True:
        edited = candidate_text(source, rubric, additions, version)
        path = out / f"{rubric.id}-v{version}.yaml"
        if not path.exists() or path.read_text(encoding="utf-8") == edited:
            path.write_text(edited, encoding="utf-8")
            return version, path, edited
        version = next_version(version)


def _sentence(verdict: Verdict, overall: ItemComparison | None, language: str, **names: Any) -> str:
    if overall is None or verdict == "no candidate":
        return text(_SENTENCE["no candidate"], language)
    return text(
        _SENTENCE[verdict],
        language,
        ka=overall.kappa_a,
        kb=overall.kappa_b,
        d=overall.difference,
        low=overall.interval.low,
        high=overall.interval.high,
        **names,
    )


def align(
    rubric: str | Path,
    human: str | Path | Sequence[HumanScore],
    conversations: str | Path | Sequence[Conversation],
    output: str | Path,
    *,
    model: str | ModelSettings | Judge | None = None,
    graders: Callable[[Rubric], Grader] | None = None,
    verdicts: Mapping[tuple[str, str], ReviewVerdict] | None = None,
    split: str | Path | None = None,
    seed: int = 0,
    dev_share: float = 0.5,
    max_examples: int = 2,
    items: Sequence[str] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    **options: Any,
) -> AlignmentReport:
    """Run the alignment loop once; write the candidate, its diff, the split and the history in ``output``.

    ``rubric`` is a file or a built-in name (its text is edited). The graders come from
    ``graders`` (rubric → :class:`~llm_grader._grader.Grader`, as the command line makes them)
    or are ``Grader(rubric, model, **options)``; give them an answer cache (the default for a
    model name or settings) so the held-out items the candidate leaves unchanged are not asked
    again. ``verdicts``: (conversation id, item id) → a reviewer's verdict; it settles that
    item's human tier. ``items``: propose examples for these items only (default: every
    model-judged item the humans scored). The candidate is called ``better`` only when the
    held-out interval of the mean kappa's change lies wholly above 0.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    source_path = resolve_rubric(rubric)
    source = source_path.read_text(encoding="utf-8")
    old = load_rubric(rubric)
    language = old.language
    humans = list(human) if not isinstance(human, (str, Path)) else load_human_scores(human)
    batch = (
        list(conversations)
        if not isinstance(conversations, (str, Path))
        else list(load_conversations(conversations))
    )
    make = graders or (lambda r: Grader(r, model, **options))
    parts = _split(old, humans, out, Path(split) if split is not None else None, seed, dev_share)
    by_id = {c.id: c for c in batch}
    missing = sorted(set(parts.development + parts.held_out) - set(by_id))
    if missing:
        raise LLMGraderError(
            f"{len(missing)} human-scored conversation(s) not in the conversations: {', '.join(missing[:10])}"
        )
    old_grader = make(old)
    cards_old = old_grader.grade_many([by_id[c] for c in parts.development + parts.held_out])
    old_by_id = {c.conversation_id: c for c in cards_old}
    shown = {cid: old_grader.shown(by_id[cid]) for cid in parts.development}
    settled = adjudicated_tiers(old, humans, verdicts)
    proposals = propose(
        old, [old_by_id[c] for c in parts.development], shown, settled, max_examples=max_examples
    )
    unknown = sorted(set(items or ()) - {p.item_id for p in proposals})
    if unknown:
        raise LLMGraderError(f"--item {', '.join(unknown)}: not a model-judged item the humans scored")
    additions = {
        p.item_id: [e.example for e in p.examples]
        for p in proposals
        if p.examples and (not items or p.item_id in items)
    }
    report: dict[str, Any] = {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rubric_id": old.id,
        "old_version": old.version,
        "model": next((c.model for c in cards_old if c.model), None),
        "split_file": str(out / SPLIT),
        "seed": parts.seed,
        "development": len(parts.development),
        "held_out": len(parts.held_out),
        "examples_added": {k: len(v) for k, v in additions.items()},
        "proposals": proposals,
    }
    if not additions:
        usage = _usage(cards_old)
        report.update(
            candidate_version=None, candidate_file=None, diff_file=None, verdict="no candidate", usage=usage
        )
        report["sentence"] = _sentence("no candidate", None, language)
        return _record(out, AlignmentReport.model_validate(report))
    version, path, new_text = _write_candidate(out, old, source, additions)
    diff_path = path.with_suffix(".diff")
    diff_path.write_text(unified_diff(source, new_text, source_path.name, path.name), encoding="utf-8")
    candidate = load_rubric(path)
    cards_new = make(candidate).grade_many([by_id[c] for c in parts.held_out])
    held = set(parts.held_out)
    comparison = compare_variants(
        old,
        [old_by_id[c] for c in parts.held_out],
        candidate,
        cards_new,
        [s for s in humans if s.conversation_id in held],
        n_boot=n_boot,
        seed=seed,
        level=level,
    )
    verdict: Verdict = comparison.overall.verdict if comparison.overall is not None else "undefined"
    report.update(
        candidate_version=version,
        candidate_file=str(path),
        diff_file=str(diff_path),
        items=comparison.items,
        overall=comparison.overall,
        verdict=verdict,
        usage=_usage([*cards_old, *cards_new]),
        failed_items=_failed([*cards_old, *cards_new]),
        sentence=_sentence(verdict, comparison.overall, language, old=old.version, new=version, n=len(held)),
    )
    return _record(out, AlignmentReport.model_validate(report))


def _record(out: Path, report: AlignmentReport) -> AlignmentReport:
    """Append the experiment to the history; write the full report beside the candidate."""
    history = read_history(out)
    history.experiments.append(Experiment.model_validate(report.model_dump(exclude={"proposals"})))
    (out / HISTORY).write_text(history.model_dump_json(indent=2) + "\n", encoding="utf-8")
    name = f"{report.rubric_id}-v{report.candidate_version or report.old_version}.report.json"
    (out / name).write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report
