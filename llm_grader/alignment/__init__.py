"""Aligning a rubric with your graders: examples from their disagreements, proven on held-out scores.

- :mod:`.split` — :func:`split_conversations` (seeded, stratified by the human tier),
  :class:`Split`, :func:`adjudicated_tiers` (raters unanimous, or a reviewer's verdict)
- :mod:`.proposals` — :func:`propose`: per item, examples drawn from adjudicated
  disagreements (quotes verified) and tier-wording suggestions (never applied)
- :mod:`.candidate` — the candidate rubric's text (examples added, next version) and its diff
- :mod:`.run` — :func:`align`: the loop end to end, and :func:`read_history`

``llm-grader align`` is the command line of :func:`align`.
"""

from ._candidate import candidate_text, next_version, unified_diff
from ._proposals import ItemProposal, ProposedExample, Suggestion, excerpt, propose
from ._run import AlignmentReport, Experiment, History, align, read_history
from ._split import Adjudicated, Split, adjudicated_tiers, load_split, split_conversations

__all__ = [
    "Adjudicated",
    "AlignmentReport",
    "Experiment",
    "History",
    "ItemProposal",
    "ProposedExample",
    "Split",
    "Suggestion",
    "adjudicated_tiers",
    "align",
    "candidate_text",
    "excerpt",
    "load_split",
    "next_version",
    "propose",
    "read_history",
    "split_conversations",
    "unified_diff",
]
