"""What grading a conversation asks a model, decided without one: conversations → requests.

A :class:`Planner` holds one rubric's prompts and answer models (built once) and decides,
for each conversation, what the rules settle before any call and which items go to the
model, then builds those requests (first attempts, every sample) on the masked
conversation. It needs no judge: the grader grades with it, ``--dry-run`` estimates with
it, and the Batch API driver (:mod:`llm_grader.batch`) writes batch files with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ._config import GraderConfig
from ._judging import ItemJudging, open_flags
from ._messages import text
from ._prompting import Prompts, compile_messages
from ._rules import applicability_reason, judge_hybrid, judge_rule
from .conversation import Conversation, mask_conversation
from .llm import JudgeRequest
from .rubric import Item, Rubric, item_fingerprint
from .types import Audit, Judgement


class Planner:
    """The model requests of one rubric under one :class:`~llm_grader._config.GraderConfig`."""

    def __init__(self, rubric: Rubric, config: GraderConfig) -> None:
        self.rubric = rubric
        self.config = config
        self._prompts: Prompts | None = None
        self._judging: ItemJudging | None = None
        self._fingerprints: dict[str, str] = {}

    @property
    def prompts(self) -> Prompts:
        """The prompts in the rubric's language (loaded once, on first use)."""
        if self._prompts is None:
            self._prompts = Prompts.load(self.rubric.language, self.config.prompts_dir)
        return self._prompts

    @property
    def judging(self) -> ItemJudging:
        """The model-item requests and answers of this rubric (answer models built once)."""
        if self._judging is None:
            self._judging = ItemJudging(
                self.rubric,
                self.prompts,
                strategy=self.config.strategy,
                samples=self.config.samples,
                min_agreement=self.config.min_agreement,
                show_points=self.config.show_points,
            )
        return self._judging

    def plan(self, conversation: Conversation) -> list[JudgeRequest]:
        """The requests grading ``conversation`` with a model starts with (first attempts, every sample).

        Items decided without a model (rules, applicability) send nothing.
        """
        asked = self.decide(conversation, model=True)[1]
        return self.judging.plan(asked, self.shown(conversation)) if asked else []

    def plans(
        self, conversations: Iterable[Conversation]
    ) -> Iterator[tuple[Conversation, list[JudgeRequest]]]:
        """Each conversation with its requests (:meth:`plan`), read lazily."""
        for conversation in conversations:
            yield conversation, self.plan(conversation)

    def decide(
        self, conversation: Conversation, *, model: bool
    ) -> tuple[dict[str, Judgement | None], list[Item]]:
        """What rules decide before any call (None: the model's), and the items to ask the model.

        A hybrid its rule decided is asked too when there is a ``model`` and only it can answer
        the item's flags. Without a model nothing is asked (model items come back unscored).
        """
        decided = {item.id: self._precheck(item, conversation, model) for _, item in self.rubric.items()}
        if not model:
            return decided, []
        asked = [i for _, i in self.rubric.items() if decided[i.id] is None or open_flags(i, decided[i.id])]
        return decided, asked

    def shown(self, conversation: Conversation) -> Conversation:
        """The conversation as it leaves the machine (personal data masked unless disabled)."""
        return self.masked(conversation)[0]

    def masked(self, conversation: Conversation) -> tuple[Conversation, dict[str, int]]:
        """The conversation as sent, and how many spans of each kind of personal data were masked."""
        if not self.config.mask_pii:
            return conversation, {}
        # Metadata leaves the machine only when an item shows it (item ``context``): masked then.
        shows = any(f.startswith("metadata.") for _, i in self.rubric.items() for f in i.context)
        return mask_conversation(conversation, metadata=shows)

    def messages(self, item: Item, conversation: Conversation) -> list[dict[str, str]]:
        """The exact messages sent for one item (after masking)."""
        shown = self.shown(conversation)
        return compile_messages(
            rubric=self.rubric,
            item=item,
            conversation=shown,
            prompts=self.prompts,
            show_points=self.config.show_points,
        )

    def fingerprint(self, item: Item) -> str:
        """The item's fingerprint (the rubric is frozen: computed once per item, not per card)."""
        if item.id not in self._fingerprints:
            self._fingerprints[item.id] = item_fingerprint(item)
        return self._fingerprints[item.id]

    def _precheck(self, item: Item, conversation: Conversation, model: bool) -> Judgement | None:
        language = self.rubric.language
        reason = applicability_reason(item, conversation, language=language)
        if reason is not None:
            return Judgement(
                item_id=item.id,
                not_applicable=True,
                na_policy=item.applicability.policy if item.applicability else None,
                rationale=text("grader.not_applicable", language, reason=reason),
                audit=Audit(na_source="applicability"),
            )
        if item.judge == "rule":
            return judge_rule(item, conversation, language=language)
        if item.decide_by_rule:  # a hybrid: decided here when one of its rules fires
            return judge_hybrid(item, conversation, language=language, model=model)
        if not model:
            return Judgement.unscored(item.id, text("grader.not_graded", language))
        return None
