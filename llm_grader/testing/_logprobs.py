"""Scripted token logprobs for an answer's text: what an endpoint returns with ``logprobs=true``.

:func:`scripted_logprobs` cuts the answer JSON into tokens so that each ``"tier"`` value is one
token, whose probability and alternatives come from the script (one distribution per tier
value, in content order); every other token is certain. Used by the fake server (in OpenAI's
``choices[0].logprobs.content`` shape, :func:`openai_logprobs`) and by
:class:`~llm_grader.testing.FakeJudge`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._confidence import TokenLogprob

TierProbs = Sequence[Mapping[str, float]]
"""One distribution over tier ids per tier value of the answer, in content order."""

_VALUE = re.compile(r'"tier"\s*:\s*"([^"\\]*)"')
_CHUNK = 4  # characters per token outside the tier values


def _certain(text: str) -> list[TokenLogprob]:
    return [TokenLogprob(text[i : i + _CHUNK], 0.0) for i in range(0, len(text), _CHUNK)]


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -9999.0


def scripted_logprobs(content: str, tier_probs: TierProbs, *, top: int = 5) -> tuple[TokenLogprob, ...]:
    """``content`` as tokens, the n-th tier value carrying the n-th distribution of ``tier_probs``.

    The chosen token is the tier the content gives (its probability from the distribution);
    the ``top`` most likely tiers are its alternatives. Tier values beyond the script are certain.
    """
    tokens: list[TokenLogprob] = []
    at = 0
    for n, match in enumerate(_VALUE.finditer(content)):
        start, end = match.span(1)
        tokens += _certain(content[at:start])
        chosen = match.group(1)
        if n < len(tier_probs):
            probs = dict(tier_probs[n])
            ranked = sorted(probs.items(), key=lambda kv: -kv[1])[:top]
            alternatives = tuple((tier, _log(p)) for tier, p in ranked)
            tokens.append(TokenLogprob(chosen, _log(probs.get(chosen, 0.0)), alternatives))
        else:
            tokens.append(TokenLogprob(chosen, 0.0, ((chosen, 0.0),)))
        at = end
    tokens += _certain(content[at:])
    return tuple(tokens)


def openai_logprobs(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    """``tokens`` in the shape of ``choices[0].logprobs`` of an OpenAI chat completion."""

    def one(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    content = [{**one(t.token, t.logprob), "top_logprobs": [one(a, lp) for a, lp in t.top]} for t in tokens]
    return {"content": content, "refusal": None}
