"""Orchestration: judge every item of a conversation and score it; batches to JSONL.

Rule items are judged here by :mod:`llm_grader.rules`; model-judged items need a model
judge. Without one (``rules_only``) they are unscored with the reason, never zero or full.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import LLMGraderError
from .rubric import Rubric, load_rubric
from .rules import applicability_reason, judge_rule
from .scoring import Judgement, Scorecard, score
from .transcript import Conversation

__all__ = ["Grader", "ResultsWriter", "read_results"]

_NOT_GRADED = {
    "zh": "未评分:该项需由模型评判,当前未配置模型(仅规则模式)",
    "en": "not graded: a model-judged item and no model is configured (rules only)",
}
_NOT_APPLICABLE = {"zh": "不适用:{reason}", "en": "not applicable: {reason}"}


class Grader:
    """Grades conversations against one rubric.

    ``Grader(rubric)`` with no model grades the rule items only; model-judged items come out
    unscored with the reason.
    """

    def __init__(self, rubric: Rubric | str | Path, *, model: str | None = None) -> None:
        self.rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
        if model is not None:
            raise LLMGraderError(
                "grading with a model is not available in this version; use rules-only grading "
                "(Grader(rubric) / --rules-only)"
            )
        self.model = model

    def judge_item(self, conversation: Conversation, item_id: str) -> Judgement:
        """Judge one item of the rubric on a conversation."""
        item = self.rubric.item(item_id)
        language = self.rubric.language
        reason = applicability_reason(item, conversation, language=language)
        if reason is not None:
            policy = item.applicability.policy if item.applicability else None
            return Judgement(
                item_id=item.id,
                not_applicable=True,
                na_policy=policy,
                rationale=_NOT_APPLICABLE[language].format(reason=reason),
            )
        if item.judge == "rule":
            return judge_rule(item, conversation, language=language)
        return Judgement.unscored(item.id, _NOT_GRADED[language])

    def grade(self, conversation: Conversation) -> Scorecard:
        """Grade one conversation."""
        judgements = [self.judge_item(conversation, item.id) for _, item in self.rubric.items()]
        return score(
            self.rubric,
            judgements,
            conversation_id=conversation.id,
            model=self.model,
            metadata={"channel": conversation.channel, **conversation.metadata},
        )

    def grade_many(
        self,
        conversations: Iterable[Conversation],
        *,
        output: str | Path | None = None,
        resume: bool = False,
        on_scorecard: Callable[[Scorecard], None] | None = None,
    ) -> list[Scorecard]:
        """Grade conversations in order, appending each scorecard to ``output`` as it finishes.

        With ``resume``, conversations whose id is already in ``output`` are skipped. A
        conversation that fails is recorded as a scorecard with its error; the batch goes on.
        """
        writer = ResultsWriter(output, resume=resume) if output is not None else None
        done = writer.done if writer else set()
        cards: list[Scorecard] = []
        try:
            for conversation in conversations:
                if conversation.id in done:
                    continue
                try:
                    card = self.grade(conversation)
                except LLMGraderError as exc:
                    card = score(
                        self.rubric, [], conversation_id=conversation.id, model=self.model, errors=[str(exc)]
                    )
                if writer:
                    writer.write(card)
                if on_scorecard:
                    on_scorecard(card)
                cards.append(card)
        finally:
            if writer:
                writer.close()
        return cards


class ResultsWriter:
    """Append-only JSONL of scorecards: one complete line per conversation, flushed at once.

    On open with ``resume``, a torn last line (from a killed run) is cut off and the ids
    already written are in ``done``; without ``resume`` the file is replaced.
    """

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        self.path = Path(path)
        self.done: set[str] = set()
        if resume and self.path.exists():
            self._repair()
            self.done = {card.conversation_id for card in read_results(self.path)}
        elif self.path.exists():
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def _repair(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def write(self, card: Scorecard) -> None:
        """Append one scorecard as one line, and make it durable."""
        self._file.write(card.model_dump_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_results(path: str | Path) -> Iterator[Scorecard]:
    """Read scorecards from a results JSONL file; a torn last line is ignored."""
    with Path(path).open(encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield Scorecard.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValueError) as exc:
            if number == len(lines):  # no newline yet: a line being written when a run died
                return
            raise LLMGraderError(f"{path}:{number}: not a scorecard: {exc}") from None
