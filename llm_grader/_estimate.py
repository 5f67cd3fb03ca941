"""Before a run: the model calls, tokens and dollars grading a batch will take (``grade --dry-run``).

:func:`estimate` builds every first-attempt request a :class:`~llm_grader._grader.Grader`
would send (:meth:`~llm_grader._grader.Grader.plan`: the configured strategy and samples;
rule items send nothing) and sends none of them. Per request it counts:

- **prompt tokens** — the answer schema (tools / response_format come first in the request)
  and the messages, with tiktoken when it is installed *and* its encoding is already on this
  machine (tiktoken downloads encodings on first use; the estimate never does), else a
  character heuristic (:data:`CJK_CHARS_PER_TOKEN`, :data:`OTHER_CHARS_PER_TOKEN`); which one
  was used is said in the output. tiktoken's encodings are OpenAI's: other providers'
  tokenizers count somewhat differently;
- **cached tokens** — the longest prefix the request shares with an earlier request of the
  same conversation (what a provider's prompt cache can serve), counted by OpenAI's rule:
  nothing under :data:`CACHE_MIN_TOKENS`, else whole :data:`CACHE_BLOCK`-token blocks;
- **completion tokens** — an assumption: :data:`COMPLETION_TOKENS_PER_ITEM` per item the
  request asks about (a tier, a short rationale, a quote or two). Reasoning models bill
  their hidden reasoning as output too: expect more.

Re-asks after an invalid answer, and answers already in the local answer cache, are not
counted. Costs come from :mod:`llm_grader.llm._prices` (estimates themselves).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .llm import JudgeRequest, PriceTable, load_prices, priced
from .types import Usage

if TYPE_CHECKING:
    from ._grader import Grader
    from .conversation import Conversation

COMPLETION_TOKENS_PER_ITEM = 150
"""Assumed answer length per item asked about: tier, rationale, evidence and JSON syntax."""
CACHE_MIN_TOKENS = 1024
"""Shortest prefix a provider caches (OpenAI's rule; DeepSeek and Qwen cache shorter ones)."""
CACHE_BLOCK = 128
"""Cached prefixes count in whole blocks of this many tokens (OpenAI's rule)."""
MESSAGE_TOKENS = 4
"""Tokens each message adds around its text (role and separators)."""
REPLY_TOKENS = 3
"""Tokens that prime the reply."""
CJK_CHARS_PER_TOKEN = 1.0
"""The heuristic: one token per Chinese (CJK) character or full-width punctuation mark…"""
OTHER_CHARS_PER_TOKEN = 4.0
"""…and one token per four other characters (English, digits, JSON)."""

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_ENCODINGS_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


@dataclass(frozen=True)
class Tokenizer:
    """How tokens are counted: tiktoken, or the character heuristic and why."""

    name: str
    """``tiktoken <encoding>``, or ``character heuristic``."""
    count: Callable[[str], int]
    reason: str = ""
    """Why the heuristic was used (tiktoken missing, or its encoding not on this machine)."""

    def describe(self) -> str:
        """The name, with the heuristic's rule and the reason for it."""
        if not self.reason:
            return self.name
        return (
            f"{self.name} ({CJK_CHARS_PER_TOKEN:g} token per CJK character, 1 per "
            f"{OTHER_CHARS_PER_TOKEN:g} other characters): {self.reason}"
        )


def _heuristic(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return math.ceil(cjk / CJK_CHARS_PER_TOKEN + (len(text) - cjk) / OTHER_CHARS_PER_TOKEN)


def _encoding_on_disk(name: str) -> bool:
    """Whether tiktoken would load ``name`` from its cache (TIKTOKEN_CACHE_DIR) without downloading."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        directory = os.environ["TIKTOKEN_CACHE_DIR"]
    else:
        default = os.path.join(tempfile.gettempdir(), "data-gym-cache")
        directory = os.environ.get("DATA_GYM_CACHE_DIR", default)
    if not directory:
        return False
    key = hashlib.sha1(_ENCODINGS_URL.format(name=name).encode()).hexdigest()
    return os.path.isfile(os.path.join(directory, key))


def tokenizer(model: str | None = None) -> Tokenizer:
    """The tokenizer for ``model``: tiktoken if it loads offline, else the heuristic with the reason.

    tiktoken's encoding is the model's, or o200k_base for a model tiktoken does not know.
    """
    heuristic = "character heuristic"
    try:
        import tiktoken
    except ImportError:
        return Tokenizer(heuristic, _heuristic, "tiktoken is not installed")
    try:
        name = tiktoken.encoding_name_for_model(model or "")
    except KeyError:
        name = "o200k_base"
    if not _encoding_on_disk(name):
        reason = f"tiktoken's {name} encoding is not on this machine and would be downloaded"
        return Tokenizer(heuristic, _heuristic, reason)
    try:
        encoding = tiktoken.get_encoding(name)
    except Exception as exc:  # a damaged cache file, a changed tiktoken: fall back, say why
        return Tokenizer(heuristic, _heuristic, f"tiktoken could not load {name}: {type(exc).__name__}")

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return Tokenizer(f"tiktoken {name}", count)


def _request_text(request: JudgeRequest) -> str:
    """The request in the order the API sees it: the answer schema, then each message."""
    schema = request.canonical["schema"]  # serialised once per request, shared with its digest
    return "\n".join([schema, *(f"{m.get('role', '')}\n{m.get('content') or ''}" for m in request.messages)])


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (binary search on slices: C-speed comparisons)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _cacheable(tokens: int) -> int:
    return 0 if tokens < CACHE_MIN_TOKENS else tokens - tokens % CACHE_BLOCK


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """What grading a batch would take; nothing was sent."""

    conversations: int
    calls: int
    """First-attempt model calls (every sample; re-asks not counted)."""
    prompt_tokens: int
    cached_tokens: int
    """Of ``prompt_tokens``, the prefix a provider's prompt cache can serve."""
    completion_tokens: int
    completion_per_item: int
    """The assumption behind ``completion_tokens``."""
    tokenizer: str
    """How tokens were counted (tiktoken, or the heuristic and why)."""
    model: str | None
    provider: str | None
    """The provider profile whose prices apply (None: rules only)."""
    strategy: str
    samples: int
    prices: str
    """Where the prices come from."""
    cost: float | None
    """USD without the provider's prompt cache; None: the model is not in the price table."""
    cost_cached: float | None
    """USD with the cached tokens at the cached-input price."""
    cost_batch: float | None
    """USD through the Batch API (no prompt cache assumed); None when the provider has no discount."""
    batch_discount: float
    over_budget: int = 0
    """Requests longer than the prompt budget: grading would not send them."""
    budget: int | None = None

    @property
    def cached_share(self) -> float:
        """Share of prompt tokens the prompt cache can serve."""
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def usage(self) -> Usage:
        """The estimate as usage (cached tokens included), priced with the prompt cache."""
        return Usage(
            calls=self.calls,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
            cost=self.cost_cached,
            unpriced_calls=0 if self.cost_cached is not None else self.calls,
        )

    def render(self) -> str:
        """The estimate as printed by ``grade --dry-run``."""
        rows = [
            ("conversations", f"{self.conversations:,}"),
            (
                "model calls",
                f"{self.calls:,}  (strategy {self.strategy}, {self.samples} sample(s); rule items send "
                "nothing; re-asks not counted)",
            ),
            ("prompt tokens", f"≈ {self.prompt_tokens:,}  (counted with {self.tokenizer})"),
            (
                "cached share",
                f"≈ {self.cached_share:.0%}  ({self.cached_tokens:,} tokens: each request's prefix shared "
                f"with an earlier request of its conversation; from {CACHE_MIN_TOKENS:,} tokens, in "
                f"{CACHE_BLOCK}-token blocks)",
            ),
            (
                "completion tokens",
                f"≈ {self.completion_tokens:,}  (assumed {self.completion_per_item} per item asked about)",
            ),
            ("cost", self._cost_text()),
        ]
        if self.calls:
            rows.append(("prices", f"{self.prices} (estimates: override with --prices FILE)"))
        if self.over_budget:
            rows.append(
                (
                    "over budget",
                    f"{self.over_budget} request(s) longer than {self.budget:,} characters: not sent",
                )
            )
        width = max(len(label) for label, _ in rows)
        return "\n".join(
            ["dry run: nothing was sent to the model", *(f"  {k:<{width}}  {v}" for k, v in rows)]
        )

    def _cost_text(self) -> str:
        if self.cost is None or self.cost_cached is None:
            where = f" for provider {self.provider}" if self.provider else ""
            return f"unknown: {self.model!r} is not in the price table{where} (add it with --prices FILE)"
        shown = f"≈ ${self.cost:,.4f} without the prompt cache · ${self.cost_cached:,.4f} with it"
        if self.cost_batch is not None:
            shown += f" · ${self.cost_batch:,.4f} by the Batch API (−{self.batch_discount:.0%})"
        return shown


@dataclass
class _Counts:
    conversations: int = 0
    calls: int = 0
    prompt: int = 0
    cached: int = 0
    completion: int = 0
    over_budget: int = 0


def _count(
    counts: _Counts, requests: list[JudgeRequest], tokens: Tokenizer, per_item: int, budget: int | None
) -> None:
    """Add one conversation's requests to ``counts``."""
    texts = [_request_text(r) for r in requests]
    for index, (request, text) in enumerate(zip(requests, texts, strict=True)):
        counts.calls += 1
        counts.prompt += tokens.count(text) + MESSAGE_TOKENS * len(request.messages) + REPLY_TOKENS
        counts.completion += per_item * max(len(request.item_ids), 1)
        if budget is not None and request.size > budget:
            counts.over_budget += 1
        if index:
            shared = max(_common_prefix(text, earlier) for earlier in texts[:index])
            counts.cached += _cacheable(tokens.count(text[:shared]))


def estimate(
    grader: Grader,
    conversations: Iterable[Conversation],
    *,
    completion_tokens_per_item: int = COMPLETION_TOKENS_PER_ITEM,
    prices: PriceTable | None = None,
) -> Estimate:
    """What grading ``conversations`` with ``grader`` would take: calls, tokens and cost.

    Sends nothing and needs no API key. ``conversations`` is read once, lazily. ``prices``:
    the table to use (default: the grader's model settings' price file, else
    ``$LLM_GRADER_PRICES``, else the built-in table).
    """
    settings = grader.judge.endpoint if grader.judge is not None else None
    provider = settings.profile.name if settings else None
    table = prices or load_prices(settings.prices if settings else None)
    tokens = tokenizer(grader.model)
    budget = grader.judge.prompt_budget if grader.judge is not None else None
    counts = _Counts()
    for conversation in conversations:
        counts.conversations += 1
        _count(counts, grader.plan(conversation), tokens, completion_tokens_per_item, budget)
    plain = Usage(calls=counts.calls, prompt_tokens=counts.prompt, completion_tokens=counts.completion)
    found = table.find(grader.model, provider) if grader.model else None
    discount = table.batch_discount(found[0]) if found else 0.0
    cost = cost_cached = cost_batch = 0.0 if not counts.calls else None
    if counts.calls and grader.model:
        cost = priced(plain, grader.model, provider=provider, prices=table).cost
        cached = plain.model_copy(update={"cached_tokens": counts.cached})
        cost_cached = priced(cached, grader.model, provider=provider, prices=table).cost
        if discount and cost is not None:
            cost_batch = priced(plain, grader.model, provider=provider, batch=True, prices=table).cost
    where = f"{grader.model} from the {found[0]} prices" if found else "no entry"
    return Estimate(
        conversations=counts.conversations,
        calls=counts.calls,
        prompt_tokens=counts.prompt,
        cached_tokens=counts.cached,
        completion_tokens=counts.completion,
        completion_per_item=completion_tokens_per_item,
        tokenizer=tokens.describe(),
        model=grader.model,
        provider=provider,
        strategy=grader.config.strategy,
        samples=grader.config.samples,
        prices=f"{where}, {table.source}",
        cost=cost,
        cost_cached=cost_cached,
        cost_batch=cost_batch if discount else None,
        batch_discount=discount,
        over_budget=counts.over_budget,
        budget=budget,
    )
