"""How sure the model was of a grade: sample agreement and the tier token's probability — pure functions.

An item's confidence is in [0, 1]:

- with several samples, the *vote share*: the share of samples that gave the kept tier and
  every flag as kept (:func:`~llm_grader._sampling.majority_verdict`);
- where the endpoint returns token logprobs for the answer's text (``json`` and
  ``json_schema`` modes on OpenAI, vLLM, llama.cpp and others), the *tier probability*: the
  tier value is located in the returned content, and the probability mass of the chosen tier
  is read against the alternative tiers at the tokens where they part
  (:func:`tier_distribution`);
- both together: the vote share times the mean tier probability of the agreeing samples
  (:func:`combine`). One sample without logprobs has no confidence (None): nothing measured it.

Providers give no logprobs for tool-call arguments (``tools`` mode), through Anthropic's
OpenAI-compatible endpoint, nor from many local servers; there the confidence is the vote
share alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import fmean
from typing import Any

from ._messages import text
from .rubric import Item
from .types import NOT_APPLICABLE, Judgement


@dataclass(frozen=True)
class TokenLogprob:
    """One token of the answer's content, its log probability and the top alternatives."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()
    """The most likely tokens at this position, with their log probabilities."""


# The key of a tier value in answer JSON; an escaped quote (inside a string) never matches.
_TIER_KEY = re.compile(r'(?<!\\)"tier"\s*:\s*"')


def _token_at(tokens: Sequence[TokenLogprob], position: int) -> tuple[int, int]:
    """The index of the token covering ``position`` of the joined text, and that token's start."""
    start = 0
    for index, token in enumerate(tokens):
        if start <= position < start + len(token.token):
            return index, start
        start += len(token.token)
    return len(tokens), start


def tier_distribution(
    tokens: Sequence[TokenLogprob], choices: Sequence[str], *, occurrence: int = 0
) -> dict[str, float] | None:
    """The probability of each of ``choices`` at the ``occurrence``-th ``"tier"`` value of the content.

    The tokens are walked from the value's first character; at each token the alternatives
    that lead to exactly one tier add their probability (times that of the path so far) to it,
    until the chosen token's text settles the tier. Alternatives that leave every tier, or
    that still fit several, are left out; the result is normalised over the tiers found.
    None when the value cannot be located or the chosen text is not one of ``choices``.
    """
    text = "".join(t.token for t in tokens)
    keys = list(_TIER_KEY.finditer(text))
    if occurrence >= len(keys):
        return None
    value_start = keys[occurrence].end()
    index, token_start = _token_at(tokens, value_start)
    lead = text[token_start:value_start]  # what the first token carries before the value
    prefix, path, mass = "", 1.0, dict.fromkeys(choices, 0.0)
    for token in tokens[index:]:
        candidates = [c for c in choices if c.startswith(prefix)]
        alternatives = dict(token.top)
        alternatives[token.token] = token.logprob
        settled: list[str] = []
        chosen_piece = ""
        for alternative, logprob in alternatives.items():
            if not alternative.startswith(lead):
                continue  # differs before the value starts: not a choice between tiers
            piece, closed, _ = alternative[len(lead) :].partition('"')
            seen = prefix + piece
            fits = [c for c in candidates if (c == seen if closed else c.startswith(seen))]
            if alternative == token.token:
                settled, chosen_piece = fits, piece
            elif len(fits) == 1:
                mass[fits[0]] += path * math.exp(logprob)
        if not settled:
            return None
        if len(settled) == 1:
            mass[settled[0]] += path * math.exp(token.logprob)
            total = sum(mass.values())
            return {c: round(p / total, 4) for c, p in mass.items()}
        path *= math.exp(token.logprob)
        prefix, lead = prefix + chosen_piece, ""
    return None


def tier_positions(tokens: Sequence[TokenLogprob], tiers: Sequence[str]) -> list[int | None]:
    """For each answered tier in content order (a grouped answer has several), its ``"tier"`` occurrence.

    Matched in order by value, so an entry without a tier (a deduction item) or one written
    with an empty tier is skipped; None where a tier is not found in the content.
    """
    text = "".join(t.token for t in tokens)
    values = [text[m.end() :].partition('"')[0] for m in _TIER_KEY.finditer(text)]
    found: list[int | None] = []
    start = 0
    for tier in tiers:
        at = next((j for j in range(start, len(values)) if values[j] == tier), None)
        found.append(at)
        start = at + 1 if at is not None else start
    return found


def mean_distribution(distributions: Sequence[Mapping[str, float]]) -> dict[str, float] | None:
    """The mean of per-sample tier distributions (None when there are none)."""
    if not distributions:
        return None
    keys = dict.fromkeys(k for d in distributions for k in d)
    return {k: round(fmean(d.get(k, 0.0) for d in distributions), 4) for k in keys}


def combine(*, agreeing: int, samples: int, tier_probs: Sequence[float] = ()) -> float | None:
    """An item's confidence: the vote share times the agreeing samples' mean tier probability.

    ``tier_probs``: the kept tier's probability in each agreeing sample that returned logprobs.
    Without any, the vote share alone, and None for a single sample (nothing was measured).
    """
    share = agreeing / samples if samples else 0.0
    if tier_probs:
        return round(share * fmean(tier_probs), 4)
    return round(share, 4) if samples > 1 else None


def answer_distributions(
    answers: Sequence[tuple[Item | None, Any]], logprobs: Sequence[TokenLogprob] | None
) -> list[dict[str, float] | None]:
    """Each (item, answer)'s tier distribution from the content's token logprobs (None where not found).

    ``answers`` are in content order: one answer, or a grouped answer's entries.
    """
    tiers = [
        str(getattr(a, "tier", "") or "") if i is not None and i.deduction is None else "" for i, a in answers
    ]
    if not logprobs or not any(tiers):
        return [None] * len(answers)
    positions = iter(tier_positions(logprobs, [t for t in tiers if t]))
    return [
        tier_distribution(logprobs, _choices(item), occurrence=at)
        if tier and item is not None and (at := next(positions)) is not None
        else None
        for (item, _), tier in zip(answers, tiers, strict=True)
    ]


def _choices(item: Item) -> list[str]:
    return [t.id for t in item.tiers] + ([NOT_APPLICABLE] if item.not_applicable else [])


def item_confidence(
    agreeing: Sequence[int], samples: int, probs: Sequence[Mapping[str, float] | None], tier: str
) -> tuple[float | None, dict[str, float] | None]:
    """A tiered item's confidence and its mean tier distribution, from the samples' answers.

    ``agreeing``: the indices (in ``probs``) of the samples that gave the kept verdict.
    """
    kept = [p[tier] for i in agreeing if (p := probs[i]) is not None and tier in p]
    mean = mean_distribution([p for p in probs if p is not None])
    return combine(agreeing=len(agreeing), samples=samples, tier_probs=kept), mean


def routed(judgement: Judgement, threshold: float | None, language: str) -> Judgement:
    """``judgement`` sent to review, with the reason, when its confidence is below ``threshold``.

    A judgement without a confidence (a rule's, or one sample without logprobs) stays as it is.
    """
    confidence = judgement.confidence
    if threshold is None or confidence is None or confidence >= threshold:
        return judgement
    note = text("grader.unsure", language, c=confidence, t=threshold)
    return replace(judgement, needs_review=True, rationale=f"{judgement.rationale}\n{note}".strip())
