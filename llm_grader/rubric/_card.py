"""The rubric (scorecard) format: strict, frozen pydantic models.

A rubric has categories; a category has items. An item is judged by the model or by a
deterministic rule (:mod:`.rule_model`) — or is a *hybrid*, a model item whose rules decide
it first when they fire (``decide_by_rule``) — and is either *scored* (its tiers give
points) or a *deduction* (each occurrence takes points away, with a severity multiplier and
a cap).
Overrides (fatal error, zero score, cap) fire on the facts items report — a flag, a tier, a
count. Scale presets (``scale: compliance``) become explicit tiers on validation.

Loading YAML with line numbers is :mod:`.load`; the checks across fields are :mod:`.lint`;
docs/rubrics.md describes the format.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ..errors import NotFoundError
from ._rule_types import CheckThreshold, Rule
from ._strict import IDENTIFIER, Strict

# --------------------------------------------------------------------------- scales


class Tier(Strict):
    """One level an item can be graded at."""

    id: str = Field(min_length=1, pattern=r"^[^\s]+$")
    """Stable id used in answers and human scores (``good``, ``fair``, ``poor``)."""
    label: str | None = None
    """What graders call the tier (``好``); defaults to the id. Human scores may use either."""
    points: float | None = Field(default=None, ge=0)
    """Points for this tier (before the item's weight). Give ``points`` or ``ratio``."""
    ratio: float | None = Field(default=None, ge=0, le=1)
    """Fraction of the item's points (compliance scales: 基本符合 = 0.8)."""
    description: str = ""
    """The descriptor the grader reads (标准)."""

    @property
    def display(self) -> str:
        """The label, or the id when there is none."""
        return self.label or self.id


_MAX_LEVELS = 100


class LevelScale(Strict):
    """An ordinal 1..N scale; level k earns ``k / max`` of the item's points."""

    min: int = Field(default=1, ge=0)
    """Lowest level."""
    max: int = Field(ge=1, le=_MAX_LEVELS)
    """Highest level (at most 100)."""


_PRESETS: dict[str, dict[str, list[tuple[str, str, float]]]] = {
    # (id, label, ratio) — the compliance scale of seed 003: 符合 / 基本符合 0.8 / 一般符合 0.6 / 不符合.
    "compliance": {
        "zh": [
            ("compliant", "符合", 1.0),
            ("mostly", "基本符合", 0.8),
            ("partly", "一般符合", 0.6),
            ("non_compliant", "不符合", 0.0),
        ],
        "en": [
            ("compliant", "compliant", 1.0),
            ("mostly", "mostly compliant", 0.8),
            ("partly", "partly compliant", 0.6),
            ("non_compliant", "not compliant", 0.0),
        ],
    },
    "binary": {
        "zh": [("pass", "是", 1.0), ("fail", "否", 0.0)],
        "en": [("pass", "pass", 1.0), ("fail", "fail", 0.0)],
    },
}


# --------------------------------------------------------------------------- items


class Flag(Strict):
    """A yes/no fact an item reports besides its tier (a service taboo, 推诿 unsolved)."""

    id: str = Field(pattern=IDENTIFIER)
    """Flag id, used by overrides."""
    description: str
    """The question the grader answers, in the rubric's language."""


class ItemCheck(Strict):
    """One yes/no question of a decomposed model item (``checks``), answered with its own evidence.

    The model says whether the check passed and quotes what shows it; the item's tier is then
    computed by rule from the checks that failed (the item's ``thresholds``), not asked.
    """

    id: str = Field(pattern=IDENTIFIER)
    """Stable id of the check, used in answers, thresholds (``failed``) and the audit."""
    question: str = Field(min_length=1)
    """The yes/no question, phrased so that *yes* means the check passed (客服是否没有推诿?)."""
    name: str = ""
    """A short name (推诿); shown in rationales and ``rubric show`` (default: the id)."""

    @property
    def label(self) -> str:
        """The name, or the id when there is none."""
        return self.name or self.id


_Policy = Literal["full", "exclude"]
"""What a not-applicable item is worth: its ``full`` points, or ``exclude`` it from the total."""


class NotApplicable(Strict):
    """When the model may answer ``not_applicable`` and what that is worth."""

    when: str
    """The condition, in words (如整体话务不涉及客户情绪波动)."""
    policy: _Policy = "full"
    """``full``: the item keeps its full points (不扣分); ``exclude``: it leaves the total,
    which is rescaled to the rubric's maximum."""


DataKind = Annotated[
    str, Field(pattern=r"^(notes|timestamps|end_times|audio_features|metadata\.[A-Za-z0-9_]+)$")
]
"""Data an item can require: the agent's record (``notes``), turn start times, turn end times,
audio features (``metadata.audio_features``), or any metadata key as ``metadata.KEY``."""


class Applicability(Strict):
    """Where the item applies; outside it the item is not applicable under ``policy``."""

    channels: list[Literal["chat", "call"]] | None = None
    """Channels the item applies to; None means all."""
    requires: list[DataKind] = Field(default_factory=list)
    """Data the conversation must carry: ``notes``, ``timestamps``, ``end_times``,
    ``audio_features`` or ``metadata.KEY`` (e.g. ``metadata.ring_seconds``)."""
    policy: _Policy = "exclude"
    """What a not-applicable item is worth (see :class:`NotApplicable`)."""


class Deduction(Strict):
    """Per-occurrence deduction (发现一次扣 N 分)."""

    points: float = Field(gt=0)
    """Points taken per occurrence."""
    severe_multiplier: float = Field(default=1.0, ge=1)
    """Multiplier for an occurrence marked severe (加倍扣罚 = 2)."""
    cap: float | None = Field(default=None, gt=0)
    """Most this item can take in one conversation."""
    applies_to: list[str] | None = None
    """Item ids of the same category the deduction comes out of (a group penalty); the
    deduction never takes more than those items earned. None: the category as a whole."""


ContextField = Annotated[str, Field(pattern=r"^(notes|knowledge|metadata\.[A-Za-z0-9_]+)$")]
"""A conversation field an item shows the model: ``metadata.KEY`` (its value is rendered in the
item block), or ``notes`` / ``knowledge`` (always in the shared prefix when the conversation has
them; declaring one points the item at it, or says it is missing)."""


class Example(Strict):
    """A worked example shown to the model in the item block (a plain string: ``{text: ...}``)."""

    text: str = Field(min_length=1)
    """A short excerpt or a mini-dialogue (one turn a line, e.g. ``客户:…`` / ``客服:…``)."""
    tier: str | None = None
    """The tier id the example earns; none for a deduction item (the example is one occurrence)."""
    why: str = ""
    """Why it earns that tier (or counts as an occurrence)."""
    quotes: list[str] = Field(default_factory=list)
    """The decisive words of ``text``; each must occur in it (the linter checks)."""

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data


WhenUnsure = Literal["strict", "lenient", "review"]
"""What the model does when it cannot tell: ``strict`` (从严把握, the default and the
behaviour before the field existed), ``lenient`` (从宽把握) or ``review`` (answer
``cannot_determine``: the item is left unscored for a human)."""

EvidenceSpeaker = Literal["agent", "customer", "system"]
_AGENT_ONLY: tuple[EvidenceSpeaker, ...] = ("agent",)


class Item(Strict):
    """One line of the scorecard."""

    id: str = Field(pattern=IDENTIFIER)
    """Stable id (ASCII), used on the command line, in answers and in human scores."""
    name: str
    """The item's name on the card (服务礼貌用语规范使用)."""
    description: str = ""
    """What the item is about, for graders and prompts."""
    judge: Literal["model", "rule"] = "model"
    """Who grades it: the language model or a deterministic rule."""
    points: float = Field(default=0, ge=0)
    """Maximum points of a scored item (before weight); 0 for a deduction item."""
    weight: float = Field(default=1.0, gt=0)
    """Multiplier on the item's points in the total."""
    scale: Literal["compliance", "binary"] | LevelScale | None = None
    """A preset instead of ``tiers``: ``compliance`` (1/0.8/0.6/0), ``binary``, or 1..N."""
    tiers: list[Tier] = Field(default_factory=list)
    """The levels, best first."""
    deduction: Deduction | None = None
    """Makes this a deduction item: occurrences instead of tiers."""
    rule: Rule | None = None
    """The rule, for ``judge: rule``."""
    decide_by_rule: list[Rule] = Field(default_factory=list)
    """Makes a model-judged item a *hybrid*: rules tried in order before the model. The first
    whose thresholds hold (it *fires*) decides the tier, with its evidence and no model call; a
    value no threshold holds leaves the item to the model (their gaps are meant). Flags a
    firing threshold does not raise stay undetermined, so an item with flags is still asked of
    the model when there is one."""
    checks: list[ItemCheck] = Field(default_factory=list)
    """Makes a model-judged item *decomposed*: yes/no questions the model answers, each with its
    own evidence; the tier is computed from the failed checks by ``thresholds``."""
    thresholds: list[CheckThreshold] = Field(default_factory=list)
    """For an item with ``checks``: the number of failed checks (and, with ``failed``, which
    ones) → tier, first match wins — the shape of a ``combined`` rule's thresholds."""
    notes: list[str] = Field(default_factory=list)
    """The card's remarks (备注), kept verbatim; they reach the prompt."""
    examples: list[Example] = Field(default_factory=list)
    """Worked examples rendered in the item block (excerpt, tier, why); plain strings allowed."""
    context: list[ContextField] = Field(default_factory=list)
    """Conversation fields the item needs shown to the model (``metadata.agent_id``, ``notes``,
    ``knowledge``); the linter refuses an item whose wording names a metadata key it does not
    declare here."""
    flags: list[Flag] = Field(default_factory=list)
    """Facts the item reports, used by overrides."""
    not_applicable: NotApplicable | None = None
    """When the grader may say the item does not apply."""
    applicability: Applicability | None = None
    """Channels and data the item needs."""
    when_unsure: WhenUnsure = "strict"
    """The decision policy when the conversation leaves the grade in doubt, told to the model
    in the item block: ``strict`` (从严), ``lenient`` (从宽) or ``review`` (cannot_determine).
    The model may answer ``cannot_determine`` under any policy; ``review`` asks it to."""
    evidence_from: list[EvidenceSpeaker] = Field(default_factory=lambda: list(_AGENT_ONLY), min_length=1)
    """Whose turns the model's evidence may quote (default: the agent's, since items judge the
    agent). A quote found only in another speaker's turn is not verified and is asked again."""

    @property
    def is_deduction(self) -> bool:
        """Whether the item deducts per occurrence instead of scoring tiers."""
        return self.deduction is not None

    @property
    def max_points(self) -> float:
        """Most the item can add to the total (weighted); 0 for a deduction item."""
        return 0.0 if self.is_deduction else self.points * self.weight

    def tier(self, tier_id: str) -> Tier:
        """The tier with this id (raises KeyError)."""
        for tier in self.tiers:
            if tier.id == tier_id:
                return tier
        raise KeyError(tier_id)

    def tier_points(self, tier: Tier) -> float:
        """Weighted points of a tier."""
        raw = tier.points if tier.points is not None else (tier.ratio or 0.0) * self.points
        return raw * self.weight


class Category(Strict):
    """A group of items with a maximum (服务礼仪 10分)."""

    id: str = Field(pattern=IDENTIFIER)
    """Stable id."""
    name: str
    """Name on the card."""
    max_points: float | None = Field(default=None, ge=0)
    """The category's maximum; the subtotal is capped here. Default: its items' maxima
    (or the base score)."""
    base_score: float | None = Field(default=None, ge=0)
    """For deduction cards: the category starts here and deductions come off (基准分)."""
    items: list[Item] = Field(min_length=1)
    """The items (sub-items of the group)."""

    @property
    def maximum(self) -> float:
        """The declared maximum or, when absent, the base score or the items' sum."""
        if self.max_points is not None:
            return self.max_points
        if self.base_score is not None:
            return self.base_score
        return sum(item.max_points for item in self.items)


class Condition(Strict):
    """A fact about one item; give exactly one of ``flag``, ``tier`` and ``min_occurrences``."""

    item: str
    """The item the condition looks at."""
    flag: str | None = None
    """Holds when the item raised this flag."""
    tier: list[str] | None = None
    """Holds when the item was graded at one of these tiers."""
    min_occurrences: int | None = Field(default=None, ge=1)
    """Holds when a deduction or rule item found at least this many occurrences."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        given = [n for n in ("flag", "tier", "min_occurrences") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'flag', 'tier', 'min_occurrences'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def kind(self) -> str:
        """Which fact is tested: ``flag``, ``tier`` or ``min_occurrences``."""
        return "flag" if self.flag is not None else "tier" if self.tier is not None else "min_occurrences"


class Override(Strict):
    """A deterministic rule on the whole record, fired by facts the items report."""

    id: str = Field(pattern=IDENTIFIER)
    """Stable id."""
    kind: Literal["fatal", "zero_score", "cap"]
    """``fatal``: 致命差错, total 0 and counted as fatal; ``zero_score``: 0分录音, total 0,
    not fatal; ``cap``: the total is at most ``cap``."""
    reason: str
    """Why, in the card's words; shown on the scorecard."""
    when: list[Condition] = Field(min_length=1)
    """Conditions that must all hold."""
    cap: float | None = Field(default=None, ge=0)
    """The cap, for ``kind: cap``."""

    @model_validator(mode="after")
    def _cap(self) -> Override:
        if (self.kind == "cap") != (self.cap is not None):
            raise ValueError("'cap' is required for kind 'cap' and only allowed there")
        return self


class Consistency(Strict):
    """Facts two (or more) items judge alike: all hold, or none; a split sends them to review.

    E.g. 推诿 in 处理问题效率's 差 tier and in 服务主动性's ``shirked_unsolved`` flag. Checked in
    scoring once every listed item is graded; a disagreement marks each listed item
    ``needs_review`` and records the rule in its ``audit.inconsistent``.
    """

    id: str = Field(pattern=IDENTIFIER)
    """Stable id."""
    reason: str
    """What the facts have in common, in the card's language; shown with the disagreement."""
    agree: list[Condition] = Field(min_length=2)
    """The facts that must agree (each a condition: an item's flag, tiers or occurrences)."""


class Rubric(Strict):
    """A QA scorecard."""

    id: str = Field(pattern=IDENTIFIER)
    """Stable id (the built-in name)."""
    name: str
    """Title of the card."""
    version: str
    """Version of this rubric; recorded on every scorecard."""
    language: Literal["zh", "en"] = "zh"
    """Language of the card's text; chooses the prompts."""
    description: str = ""
    """What the card is for."""
    context: str = ""
    """Grounding for every item, in the card's language: the business scene, the tools agents
    have, what is within their remit (自身受理范围), house policies. Shown to the model as data
    in the shared prefix of every request."""
    source: str = ""
    """Where the card comes from."""
    max_score: float = Field(gt=0)
    """The total the card adds up to (100)."""
    categories: list[Category] = Field(min_length=1)
    """The categories."""
    overrides: list[Override] = Field(default_factory=list)
    """Fatal-error, zero-score and cap rules."""
    consistency: list[Consistency] = Field(default_factory=list)
    """Facts different items judge alike; a disagreement sends those items to review."""
    show_points: bool = False
    """Show the model each tier's points (and a deduction's points per occurrence). Off by
    default: points are applied afterwards by rule, and seeing them only invites the model to
    weigh them (``Grader(show_points=...)`` overrides this)."""

    # ------------------------------------------------------------------ lookups

    def items(self) -> Iterator[tuple[Category, Item]]:
        """Every item with its category, in card order."""
        for category in self.categories:
            for item in category.items:
                yield category, item

    def item(self, item_id: str) -> Item:
        """The item with this id; raises NotFoundError listing valid ids."""
        for _, item in self.items():
            if item.id == item_id:
                return item
        ids = [i.id for _, i in self.items()]
        raise NotFoundError(
            f"rubric {self.id!r} has no item {item_id!r}; valid items: {', '.join(ids)}",
            name=item_id,
            choices=ids,
        )

    # ------------------------------------------------------------------ scale presets

    @model_validator(mode="before")
    @classmethod
    def _expand_scales(cls, data: Any) -> Any:
        # Scale presets become explicit tiers here, so everything downstream sees tiers.
        # The data given is copied where it changes, never changed in place.
        if not isinstance(data, dict) or not isinstance(data.get("categories"), (list, tuple)):
            return data
        language = "en" if data.get("language") == "en" else "zh"
        return {**data, "categories": [_expand_category(c, language) for c in data["categories"]]}


def _expand_category(category: Any, language: str) -> Any:
    if not isinstance(category, dict) or not isinstance(category.get("items"), (list, tuple)):
        return category
    return {**category, "items": [_expand_item(item, language) for item in category["items"]]}


def _expand_item(item: Any, language: str) -> Any:
    if isinstance(item, dict) and item.get("scale") is not None and not item.get("tiers"):
        return {**item, "tiers": _preset_tiers(item["scale"], language)}
    return item


def _preset_tiers(scale: Any, language: str) -> Any:
    if isinstance(scale, str) and scale in _PRESETS:
        table = _PRESETS[scale].get(language, _PRESETS[scale]["zh"])
        return [{"id": i, "label": label, "ratio": ratio} for i, label, ratio in table]
    levels: Any = (scale.get("min", 1), scale.get("max")) if isinstance(scale, dict) else None
    # Only a valid 1..N scale expands (its size bounded); LevelScale reports anything else.
    if (
        levels is not None
        and all(type(n) is int for n in levels)
        and 0 <= levels[0] <= levels[1] <= _MAX_LEVELS
    ):
        low, high = levels
        return [{"id": str(k), "ratio": k / high} for k in range(high, low - 1, -1)] if high else []
    return []
