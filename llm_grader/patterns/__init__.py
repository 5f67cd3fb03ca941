r"""The text patterns of phrase and forbidden-word rules, matched in bounded time.

A rubric's phrase is literal or, with ``regex: true``, a Python regular expression; both match
regardless of letter case, and a turn without a match is tried again in its NFKC form, so
full- and half-width letters and digits match alike. Literal phrases run on Python's :mod:`re`.

A regular expression means what Python's :mod:`re` says it means: Python's own parser reads it
and the parse tree is rewritten as RE2 syntax — every class (``\d``, ``\w``, ``[a-z]``…) and
every letter matched regardless of case spelled out as the exact characters Python matches —
which google-re2 runs in time linear in the text: ``(a+)+$`` on 100,000 characters takes
microseconds. A pattern RE2 cannot run with the same matches — lookaround, backreferences,
``\b``/``\B``, possessive repeats, atomic groups, repeat counts above 1000 — runs on the
backtracking ``regex`` module (in its re-compatible mode) under a time limit, :data:`TIME_LIMIT`
seconds for one rule on one conversation, past which :class:`PatternTimeout` is raised; and such
a pattern is refused (:class:`PatternError`) when it repeats a group that itself repeats without
limit, the shape that makes backtracking take exponential time. A pattern that can match empty
text is refused too: an empty match never counts, and the engines step past one differently.

Modules: :mod:`._tree` (Python's parse trees: rewriting as RE2, nested repeats) <
:mod:`.match` (compiling and searching).
"""

from __future__ import annotations

from ._match import TIME_LIMIT, Engine, Pattern, PatternError, PatternTimeout, compile_pattern

__all__ = ["TIME_LIMIT", "Engine", "Pattern", "PatternError", "PatternTimeout", "compile_pattern"]
