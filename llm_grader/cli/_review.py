"""``llm-grader review``: review grades and record appeals in a local web page; export, import, apply.

- ``review RESULTS.jsonl --conversations FILE`` (or ``review serve ...``) serves the review page
- ``review export --db DB -o human.csv`` writes the verdicts as human scores (calibration);
  with ``--csv RESULTS.jsonl`` the review sheet for spreadsheet reviewers instead
- ``review import SHEET.csv --results RESULTS.jsonl --db DB`` records a filled-in sheet
- ``review apply RESULTS.jsonl --db DB -r RUBRIC -o final.jsonl`` writes the final scorecards

The review package (and jinja2) is imported by the command that uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from .._messages import text
from ..errors import LLMGraderError, NotFoundError
from ._console import err, load_batch, out

if TYPE_CHECKING:
    from ..review import ReviewBatch
    from ..rubric import Rubric
    from ..scoring import Scorecard


class _ServeByDefault(TyperGroup):
    """``review RESULTS ...`` means ``review serve RESULTS ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: typer's own click Context
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


review_app = typer.Typer(
    cls=_ServeByDefault,
    help="Review grades (复核) and record appeals (申诉): a local web page; export, import, apply.",
    no_args_is_help=True,
)

DbOpt = Annotated[Path, typer.Option("--db", help="The verdict database (SQLite).")]
RubricOpt = Annotated[
    str | None,
    typer.Option(
        "-r", "--rubric", help="The rubric graded with (file or name); default: the results' rubric id."
    ),
]
ConversationsOpt = Annotated[
    list[Path] | None, typer.Option("--conversations", help="The conversations graded (transcripts).")
]
LowAgreementOpt = Annotated[
    float,
    typer.Option("--low-agreement", min=0.0, max=1.0, help="Flag items whose samples agreed less than this."),
]
EncodingOpt = Annotated[str | None, typer.Option("--encoding", help="Encoding of the conversation files.")]


def _cards(results: Path) -> list[Scorecard]:
    from .._results import read_results

    if not results.is_file():
        raise LLMGraderError(text("cli.no_results", "zh", path=str(results)))
    return list(read_results(results))


def _rubric(cards: list[Scorecard], rubric: str | None) -> Rubric:
    """The rubric given, or the built-in one the results name."""
    from ..rubric import load_rubric

    if rubric is not None:
        return load_rubric(rubric)
    ids = sorted({c.rubric_id for c in cards})
    if len(ids) > 1:
        raise LLMGraderError(text("review.mixed_rubrics", "zh", rubrics=", ".join(ids)))
    if not ids:
        raise LLMGraderError("the results hold no scorecard: pass the rubric with -r")
    try:
        return load_rubric(ids[0])
    except NotFoundError:
        raise LLMGraderError(text("review.no_rubric", "zh", rubric=ids[0])) from None


def _batch(
    results: Path, rubric: str | None, conversations: list[Path] | None, encoding: str | None
) -> ReviewBatch:
    from ..review import ReviewBatch

    cards = _cards(results)
    loaded = _rubric(cards, rubric)
    found = {}
    if conversations:
        found = {c.id: c for c in load_batch(conversations, encoding, loaded.language)}
    return ReviewBatch.build(loaded, cards, found)


def _existing(db: Path) -> Path:
    if not db.is_file():
        raise LLMGraderError(text("review.no_db", "zh", path=str(db)))
    return db


@review_app.command("serve")
def serve(
    results: Annotated[Path, typer.Argument(help="Scorecards JSONL.")],
    conversations: Annotated[
        list[Path], typer.Option("--conversations", help="The conversations graded (transcripts).")
    ],
    db: DbOpt = Path("review.sqlite"),
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; beyond loopback a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")] = 0,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Your name, prefilled on the page.")] = "",
    rubric: RubricOpt = None,
    low_agreement: LowAgreementOpt = 0.8,
    encoding: EncodingOpt = None,
    blind: Annotated[
        bool,
        typer.Option(
            "--blind",
            help="Blind labels (calibration samples): each AI grade hidden until the reviewer labelled it.",
        ),
    ] = False,
) -> None:
    """Serve the review page: flagged items, transcripts with evidence, verdicts and appeals."""
    from ..review import VerdictStore, is_loopback, start_review_server, summarise

    batch = _batch(results, rubric, conversations, encoding)
    language = batch.rubric.language
    with VerdictStore(db) as store:
        server = start_review_server(
            batch, store, host=host, port=port, reviewer=reviewer, low_agreement=low_agreement, blind=blind
        )
        if not is_loopback(host.strip("[]")):
            err.print(text("review.exposed", language, host=host, url=server.url), markup=False)
        rows = summarise(batch, store.latest(), low_agreement=low_agreement)
        flagged = sum(len(r.flagged) for r in rows)
        serving = text(
            "review.serving",
            language,
            url=server.url,
            db=db,
            conversations=len(rows),
            flagged=flagged,
            verdicts=store.count(),
        )
        out.print(serving, markup=False)
        if blind:
            out.print(text("review.serving_blind", language), markup=False)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
    out.print(text("review.stopped", language, db=db), markup=False)


@review_app.command("export")
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="The CSV file to write.")],
    db: DbOpt = Path("review.sqlite"),
    results: Annotated[
        Path | None, typer.Argument(help="Scorecards JSONL (needed for --csv).", show_default=False)
    ] = None,
    sheet: Annotated[
        bool, typer.Option("--csv", help="Write the review sheet (one row per flagged item) instead.")
    ] = False,
    conversations: ConversationsOpt = None,
    rubric: RubricOpt = None,
    all_items: Annotated[
        bool, typer.Option("--all-items", help="Every item in the sheet, not only flagged ones.")
    ] = False,
    low_agreement: LowAgreementOpt = 0.8,
    encoding: EncodingOpt = None,
) -> None:
    """Export verdicts as human scores (conversation_id,rater,item_id,value,blind), or the review sheet."""
    from ..review import VerdictStore, write_human_scores, write_sheet

    if sheet:
        if results is None:
            raise LLMGraderError(text("review.needs_results", "zh"))
        batch = _batch(results, rubric, conversations, encoding)
        latest = {}
        if db.is_file():
            with VerdictStore(db) as store:
                latest = store.latest()
        n = write_sheet(batch, latest, output, low_agreement=low_agreement, all_items=all_items)
        out.print(text("review.exported_sheet", batch.rubric.language, n=n, path=output), markup=False)
        return
    with VerdictStore(_existing(db)) as store:
        labels = store.labels()
    n = write_human_scores(labels, output)
    blind = sum(s.verdict.blind for s in labels)
    message = text("review.exported_human", "zh", n=n, path=output, skipped=len(labels) - n, blind=blind)
    out.print(message, markup=False)


@review_app.command("import")
def import_sheet(
    sheet: Annotated[Path, typer.Argument(help="A filled-in review sheet (CSV).")],
    results: Annotated[Path, typer.Option("--results", help="The scorecards JSONL the sheet was made from.")],
    db: DbOpt = Path("review.sqlite"),
    reviewer: Annotated[str, typer.Option("--reviewer", help="Reviewer for rows that name none.")] = "",
    rubric: RubricOpt = None,
) -> None:
    """Record the verdicts of a filled-in review sheet (all rows or, on any error, none)."""
    from ..review import VerdictStore, read_sheet

    batch = _batch(results, rubric, None, None)
    verdicts = read_sheet(sheet, batch, reviewer=reviewer)
    with VerdictStore(db) as store:
        latest = store.latest()
        fields = ("reviewer", "decision", "tier", "reason", "kind")
        new = [
            (c, i, v)
            for c, i, v in verdicts
            if (c, i) not in latest
            or any(getattr(latest[(c, i)].verdict, f) != getattr(v, f) for f in fields)
        ]
        store.record_many(new)
    message = text(
        "review.imported",
        batch.rubric.language,
        added=len(new),
        unchanged=len(verdicts) - len(new),
        path=sheet,
        db=db,
    )
    out.print(message, markup=False)


@review_app.command("apply")
def apply(
    results: Annotated[Path, typer.Argument(help="Scorecards JSONL.")],
    rubric: Annotated[str, typer.Option("-r", "--rubric", help="The rubric graded with (file or name).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Final scorecards JSONL.")],
    db: DbOpt = Path("review.sqlite"),
) -> None:
    """Write the final scorecards: the latest verdict per item applied, totals recomputed."""
    from .._results import ResultsWriter
    from ..review import ReviewBatch, VerdictStore, apply_verdicts
    from ._console import summary_table

    cards = _cards(results)
    loaded = _rubric(cards, rubric)
    ReviewBatch.build(loaded, cards)  # the rubric graded with, ids unique
    with VerdictStore(_existing(db)) as store:
        latest = store.latest()
    per_card: dict[str, dict[str, Any]] = {}
    for (conversation_id, item_id), stored in latest.items():
        per_card.setdefault(conversation_id, {})[item_id] = stored.verdict
    unknown = sorted(set(per_card) - {c.conversation_id for c in cards})
    if unknown:
        err.print(text("review.unknown_conversations", loaded.language, ids=", ".join(unknown)), markup=False)
    final = [apply_verdicts(c, per_card.get(c.conversation_id, {}), loaded) for c in cards]
    writer = ResultsWriter(output)
    for card in final:
        writer.write(card)
    writer.close()
    out.print(summary_table(final, loaded.language))
    changed = sum(1 for a, b in zip(cards, final, strict=True) if a.total_score != b.total_score)
    applied = sum(len(per_card.get(c.conversation_id, {})) for c in cards)
    message = text(
        "review.applied", loaded.language, n=len(final), changed=changed, verdicts=applied, path=output
    )
    out.print(message, markup=False)
