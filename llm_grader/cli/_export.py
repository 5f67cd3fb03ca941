"""``llm-grader export``: scorecards JSONL as a CSV or Parquet table for spreadsheets and BI tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from .._messages import text
from ._console import out


def export(
    results: Annotated[Path, typer.Argument(help="Scorecards JSONL.")],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="The table to write: .csv (UTF-8 with BOM, opens in Excel) or .parquet (needs pyarrow).",
        ),
    ],
    level: Annotated[
        str,
        typer.Option(
            "--level", help="item: a row per conversation × item; conversation: a row per conversation."
        ),
    ] = "item",
) -> None:
    """Write scorecards as a table: one row per item (default) or per conversation."""
    from .._export import Level, export_results

    rows = export_results(results, output, level=cast(Level, level))
    out.print(text("export.written", "zh", n=rows, level=level, path=output), markup=False)
