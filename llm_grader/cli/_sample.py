"""``llm-grader sample``: a sampling plan per group and a stratified review batch for human QA."""

from __future__ import annotations

import csv
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import LLMGraderError
from ._console import out


def sample(
    results: Annotated[Path, typer.Argument(help="Scorecards JSONL.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The review batch folder (new or empty).")],
    by: Annotated[str, typer.Option("--by", help="The metadata field to group by.")] = "metadata.agent_id",
    margin: Annotated[float, typer.Option("--margin", help="± points wanted on each group's mean.")] = 3.0,
    confidence: Annotated[float, typer.Option("--confidence", help="Confidence level, in (0, 1).")] = 0.95,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the control samples (same seed, same draw).")
    ] = 0,
    low_confidence: Annotated[
        float, typer.Option("--low-confidence", help="Items with a confidence below this are reviewed.")
    ] = 0.5,
) -> None:
    """Plan human QA: per group, conversations needed for a ±margin mean; write the review batch.

    OUTPUT/scorecards.jsonl holds every fatal or undetermined scorecard, every one with a
    low-confidence item, and a seeded random control sample per group (each tagged in
    metadata.review_sample); OUTPUT/plan.csv the plan. Open it with ``llm-grader review
    OUTPUT/scorecards.jsonl --conversations FILE``. Exit 1 on bad input or a non-empty OUTPUT.
    """
    from .._qa_sample import sample_plan
    from .._results import ResultsWriter, load_results
    from .._views import points_text

    if not margin > 0:
        raise typer.BadParameter(f"{margin:g}: a margin is a number of points above 0", param_hint="--margin")
    if not 0 < confidence < 1:
        raise typer.BadParameter(f"{confidence:g}: a confidence is in (0, 1)", param_hint="--confidence")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise LLMGraderError(f"{str(output)!r} exists and is not an empty folder: choose another -o")
    plan = sample_plan(load_results(results), by=by, margin=margin, confidence=confidence, seed=seed,
                       low_confidence=low_confidence)  # fmt: skip
    output.mkdir(parents=True, exist_ok=True)
    writer = ResultsWriter(output / "scorecards.jsonl")
    try:
        for card in plan.cards:
            writer.write(card)
    finally:
        writer.close()
    columns = ["group", "conversations", "complete", "mean", "sd", "spread", "needed", "control", "fatal",
               "undetermined", "low_confidence"]  # fmt: skip
    table = Table(title=f"QA sample by {plan.by}: ±{margin:g} points at {confidence:.0%}")
    for column in columns:
        table.add_column(column)
    with (output / "plan.csv").open("w", encoding="utf-8", newline="") as f:
        sheet = csv.writer(f)
        sheet.writerow([*columns, "margin", "confidence", "seed"])
        for g in plan.groups:
            row = [g.group, g.conversations, g.complete, g.mean, g.spread, g.spread_source, g.needed,
                   len(g.control), len(g.fatal), len(g.undetermined), len(g.low_confidence)]  # fmt: skip
            raw = ["" if v is None else round(v, 4) if isinstance(v, float) else v for v in row]
            sheet.writerow([*raw, margin, confidence, seed])
            shown = [points_text(v) if isinstance(v, float) or v is None else str(v) for v in row]
            table.add_row(*shown)
    out.print(table)
    for note in plan.notes:
        out.print(f"note: {note}", markup=False)
    batch_file = shlex.quote(str(output / "scorecards.jsonl"))
    out.print(
        f"{len(plan.cards)} scorecard(s) to review in {batch_file} (plan in {output / 'plan.csv'}); "
        f"open them with: llm-grader review {batch_file} --conversations CONVERSATIONS",
        markup=False,
    )
