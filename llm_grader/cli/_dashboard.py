"""``report --by``: the dashboard page and the coaching CSV (see :mod:`llm_grader._dashboard`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from .._messages import text
from ._console import out

if TYPE_CHECKING:
    from .._groups import Period
    from ..conversation import Conversation
    from ..scoring import Scorecard


def write_dashboard(
    cards: list[Scorecard],
    by: str,
    period: str | None,
    found: dict[str, Conversation],
    output: Path,
    page_path: Path,
    coaching: Path | None,
    title: str,
    language: str,
) -> None:
    """Write the dashboard page (and the coaching CSV) of ``report --by``."""
    from .._coaching import coaching_rows, write_coaching
    from .._dashboard import dashboard_html
    from .._groups import parse_fields

    fields = parse_fields(by)
    when = cast("Period | None", period)
    html = dashboard_html(
        cards,
        fields,
        period=when,
        conversations=found,
        results_href=page_path.name,
        title=title,
        language=language,
    )
    output.write_text(html, encoding="utf-8")
    out.print(text("cli.dashboard_written", language, path=output), markup=False)
    if coaching is not None:
        n = write_coaching(coaching, coaching_rows(cards, fields))
        out.print(text("cli.coaching_written", language, n=n, path=coaching), markup=False)
