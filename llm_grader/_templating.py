"""The jinja2 templates in ``llm_grader/templates``: one environment for every page and report.

Every template is autoescaped (transcripts, rationales and metadata are untrusted input) and
undefined names fail. jinja2 is imported on first render, so importing a page module stays cheap.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


def stat_text(value: float | None, digits: int = 3) -> str:
    """A statistic to ``digits`` decimals; never ``-0.0`` (a value that rounds to zero has no sign)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    shown = f"{value:.{digits}f}"
    return shown[1:] if shown.startswith("-") and float(shown) == 0 else shown


def _ci(agreement: Any) -> str:
    """A kappa's bootstrap interval, ``[0.41, 0.78]``, or ``—``."""
    ci = getattr(agreement, "kappa_ci", None)
    if ci is None or math.isnan(ci.low):
        return "—"
    return f"[{ci.low:.2f}, {ci.high:.2f}]"


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("llm_grader", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = stat_text
    env.filters["ci"] = _ci
    return env


def render(template: str, **context: Any) -> str:
    """Render ``template`` (a path under ``llm_grader/templates``) with ``context``."""
    return _environment().get_template(template).render(**context)
