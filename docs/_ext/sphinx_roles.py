"""A griffe extension: render the Sphinx roles of the docstrings as code in the docs site.

The package's docstrings write cross-references the Sphinx way (:class:`Grader`,
:func:`~llm_grader.scoring.score`). mkdocstrings reads Markdown, where they would show as
``:class:`` glued to a code span. This rewrites each role to a plain code span when the
docstrings are read, so the source stays as it is (and stays readable in ``help()``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`~?([^`]+)`")


def plain(text: str) -> str:
    """``:class:`~a.b.C``` → ```C```, ``:func:`a.b``` → ```a.b```."""

    def code(match: re.Match[str]) -> str:
        target = match.group(1)
        if match.group(0).split("`", 1)[1].startswith("~"):
            target = target.rsplit(".", 1)[-1]
        return f"`{target}`"

    return ROLE.sub(code, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx cross-reference roles in every docstring griffe reads."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
