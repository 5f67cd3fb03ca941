"""Scoring: from item judgements to a scorecard — pure functions, no I/O, no model.

- :mod:`.scorecard` — the output models (:class:`Scorecard`, :class:`ItemResult`, ...)
- :mod:`.items` — one item's result (tier points, deductions, N/A policy)
- :mod:`.penalties` — group penalties limited to what the group earned
- :mod:`.categories` — a category's clamped subtotal
- :mod:`.overrides` — fatal, zero-score and cap overrides
- :mod:`.total` — :func:`score`, putting them together; :mod:`.rescore` — :func:`rescore`
"""

from ._overrides import CONDITIONS
from ._rescore import rescore
from ._scorecard import CategoryScore, ItemResult, OverrideHit, Scorecard
from ._total import score

__all__ = ["CONDITIONS", "CategoryScore", "ItemResult", "OverrideHit", "Scorecard", "rescore", "score"]
