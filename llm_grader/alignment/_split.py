"""The development / held-out split of a human-scored set, and the humans' adjudicated tiers.

The split is seeded and stratified by the human tier: each conversation's stratum is where
its human tiers sit on the items' scales on average (the worst, middle or best third), so
both parts hold good and poor conversations alike. It is saved as JSON and reused.
A tier is *adjudicated* when every human who scored the item agrees, or when a reviewer's
verdict (复核) settled it; the verdict wins over the raters.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .._textfiles import read_utf8
from ..calibration import HumanScore
from ..calibration._shared import human_values, item_scale
from ..errors import LLMGraderError
from ..rubric import Rubric
from ..types import NOT_APPLICABLE, ReviewVerdict


class Split(BaseModel):
    """Which human-scored conversations tune the rubric (development) and which judge it (held out)."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    dev_share: float
    development: list[str]
    held_out: list[str]
    strata: dict[str, str]
    """conversation id → stratum (``low``, ``mid``, ``high``: the human tiers' third)."""

    def save(self, path: Path) -> None:
        """Write the split as JSON (UTF-8)."""
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_split(path: Path) -> Split:
    """Read a split written by :meth:`Split.save`; a clear error naming the file otherwise."""
    if not path.is_file():
        raise LLMGraderError(f"split file {str(path)!r} does not exist")
    try:
        return Split.model_validate_json(read_utf8(path, what="split file"))
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise LLMGraderError(f"{path}: not a split file written by llm-grader align ({first})") from None


def _stratum(position: float) -> str:
    return "low" if position < 1 / 3 else "mid" if position < 2 / 3 else "high"


def _strata(rubric: Rubric, scores: Sequence[HumanScore]) -> dict[str, str]:
    """Per conversation id, the third of the scales its human tiers sit in on average."""
    tiers = human_values(rubric, scores).tiers
    positions: dict[str, list[float]] = {}
    for _, item in rubric.items():
        if item.id not in tiers:
            continue
        labels = [t for t in item_scale(item)[0] if t != NOT_APPLICABLE]
        for cid, ratings in tiers[item.id].items():
            for value in ratings.values():
                if value != NOT_APPLICABLE and len(labels) > 1:
                    positions.setdefault(cid, []).append(labels.index(value) / (len(labels) - 1))
                else:
                    positions.setdefault(cid, [])
    return {cid: _stratum(sum(p) / len(p)) if p else "mid" for cid, p in sorted(positions.items())}


def split_conversations(
    rubric: Rubric, scores: Sequence[HumanScore], *, seed: int = 0, dev_share: float = 0.5
) -> Split:
    """Split the human-scored conversations, seeded, stratified by the human tier.

    In each stratum a ``dev_share`` of the conversations (rounded, at least one left for
    each part when the stratum has two) goes to development, the rest is held out.
    """
    if not 0 < dev_share < 1:
        raise LLMGraderError(f"--dev-share {dev_share}: the development share is between 0 and 1")
    strata = _strata(rubric, scores)
    if len(strata) < 2:
        raise LLMGraderError(
            "aligning needs at least two human-scored conversations (one to tune, one to test)"
        )
    rng = random.Random(seed)
    development: list[str] = []
    held_out: list[str] = []
    for name in ("low", "mid", "high"):
        members = sorted(cid for cid, s in strata.items() if s == name)
        rng.shuffle(members)
        k = round(len(members) * dev_share)
        if len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        development += members[:k]
        held_out += members[k:]
    return Split(
        seed=seed,
        dev_share=dev_share,
        development=sorted(development),
        held_out=sorted(held_out),
        strata=strata,
    )


class Adjudicated(BaseModel):
    """A tier the humans settled for one item of one conversation."""

    model_config = ConfigDict(extra="forbid")

    tier: str
    source: Literal["raters", "review"]
    raters: int = 0
    """How many raters agreed (0 for a reviewer's verdict)."""
    reason: str = ""
    """The reviewer's reason, for a verdict."""


def adjudicated_tiers(
    rubric: Rubric,
    scores: Sequence[HumanScore],
    verdicts: Mapping[tuple[str, str], ReviewVerdict] | None = None,
) -> dict[str, dict[str, Adjudicated]]:
    """The settled tiers, item id → conversation id → tier: raters unanimous, or a reviewer's verdict.

    A verdict ``override`` settles its tier, ``accept`` the grader's tier it accepted; a
    verdict for an item the rubric does not grade by tiers is left out.
    """
    out: dict[str, dict[str, Adjudicated]] = {}
    for item_id, per_conversation in human_values(rubric, scores).tiers.items():
        for cid, ratings in per_conversation.items():
            values = set(ratings.values())
            if len(values) == 1:
                out.setdefault(item_id, {})[cid] = Adjudicated(
                    tier=values.pop(), source="raters", raters=len(ratings)
                )
    tiered = {i.id: {t.id for t in i.tiers} | {NOT_APPLICABLE} for _, i in rubric.items() if i.tiers}
    for (cid, item_id), verdict in (verdicts or {}).items():
        tier = verdict.tier if verdict.decision == "override" else verdict.original_tier
        if item_id in tiered and tier in tiered[item_id]:
            out.setdefault(item_id, {})[cid] = Adjudicated(tier=tier, source="review", reason=verdict.reason)
    return out
