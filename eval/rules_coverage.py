"""How much of each built-in card rules alone decide on the shipped examples, before and after.

    python eval/rules_coverage.py [--ref HEAD]

Grades the 14 conversations of ``examples/conversations.jsonl`` with every built-in rubric,
rules only (no model), twice: with the rubric as committed at ``--ref`` (read with
``git show REF:rubrics/NAME.yaml``, read-only) and with the rubric file as it is now. For each
card it prints the points the rules decided over the points that apply:

- *decided*: the maximum points of the items graded without a model — rule items, hybrid items
  whose rule fired (``decide_by_rule``), and not-applicable items that keep their full points;
- *applicable*: the card's item points less the items excluded as not applicable.

Deduction items have no points of their own; the summary counts how many were decided (checked
by a rule, or not applicable).
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence
from pathlib import Path

from llm_grader import Grader, load_conversations
from llm_grader.conversation import Conversation
from llm_grader.rubric import Rubric, builtin_rubrics, load_rubric, rubric_from_text
from llm_grader.scoring import ItemResult, Scorecard

ROOT = Path(__file__).resolve().parent.parent


def _excluded(item: ItemResult) -> bool:
    return item.not_applicable and item.points is None


def coverage(card: Scorecard) -> tuple[float, float, int, int]:
    """(points decided, points applicable, deduction items checked, deduction items) of a card."""
    scored = [i for i in card.items if i.max_points > 0 and not _excluded(i)]
    deductions = [i for i in card.items if i.max_points == 0]
    decided = sum(i.max_points for i in scored if not i.unscored)
    checked = sum(1 for i in deductions if not i.unscored)
    return decided, sum(i.max_points for i in scored), checked, len(deductions)


def committed(name: str, ref: str) -> Rubric | None:
    """The built-in rubric ``name`` as committed at ``ref``; None when it did not exist there."""
    shown = subprocess.run(
        ["git", "show", f"{ref}:rubrics/{name}.yaml"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return (
        rubric_from_text(shown.stdout, file=f"{ref}:rubrics/{name}.yaml") if shown.returncode == 0 else None
    )


def grade(rubric: Rubric | None, conversations: Sequence[Conversation]) -> list[Scorecard] | None:
    return None if rubric is None else [Grader(rubric).grade(c) for c in conversations]


def _cell(before: tuple[float, float, int, int] | None, after: tuple[float, float, int, int]) -> str:
    old = "—" if before is None else f"{before[0]:g}"
    return f"{old} → {after[0]:g}/{after[1]:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="git revision of the 'before' rubrics (default HEAD)")
    args = parser.parse_args()

    conversations = list(load_conversations(ROOT / "examples" / "conversations.jsonl"))
    names = list(builtin_rubrics())
    table: dict[str, list[str]] = {}
    summary: list[str] = []
    for name in names:
        after = grade(load_rubric(name), conversations)
        before = grade(committed(name, args.ref), conversations)
        assert after is not None
        now = [coverage(c) for c in after]
        then = [coverage(c) for c in before] if before is not None else [None] * len(now)
        table[name] = [_cell(b, a) for b, a in zip(then, now, strict=True)]
        total_now, applicable = sum(a[0] for a in now), sum(a[1] for a in now)
        total_then = "—" if before is None else f"{sum(b[0] for b in then if b):g}"
        checked_then = "—" if before is None else str(sum(b[2] for b in then if b))
        deductions = (
            f"; deduction items decided {checked_then} → {sum(a[2] for a in now)} of {sum(a[3] for a in now)}"
            if now[0][3]
            else ""
        )
        summary.append(
            f"{name:26} points {total_then:>5} → {total_now:g} of {applicable:g} applicable "
            f"({100 * total_now / applicable if applicable else 0:.1f}%){deductions}"
        )

    width = {name: max(len(name), *(len(c) for c in table[name])) for name in names}
    print(
        f"Rules only, points decided per card (before {args.ref} → now / applicable points), "
        f"{len(conversations)} shipped examples\n"
    )
    print("conv  " + "  ".join(f"{name:<{width[name]}}" for name in names))
    for row, conversation in enumerate(conversations):
        cells = "  ".join(f"{table[name][row]:<{width[name]}}" for name in names)
        print(f"{conversation.id:<5} {cells}")
    print("\nTotals over the examples:")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
