"""What model calls cost: a price table per provider profile, and :func:`priced`.

Prices are USD per million tokens — input, cached input (prompt tokens the provider served
from its prompt cache, ``usage.prompt_tokens_details.cached_tokens``) and output — with a
batch discount per provider (the Batch API price is ``1 - batch_discount`` of the normal one).

**The figures are estimates.** They were compiled on :data:`PRICES_TAKEN` (2026-12-02) from
the providers' published list prices as last confirmed offline, most of them from the second
half of 2025: providers change prices, and aliases such as ``deepseek-chat`` or ``qwen-plus``
move to newer models. DashScope, Moonshot and Zhipu figures are their international (USD)
list prices; mainland China prices are in CNY and differ. Override them with a TOML or YAML
file (:func:`load_prices`; ``--prices FILE``, ``ModelSettings(prices=...)`` or
``$LLM_GRADER_PRICES``) whose entries add models or replace them::

    [openai]
    batch_discount = 0.5
    [openai.models."gpt-4o-mini"]
    input = 0.15
    cached_input = 0.075   # optional: cached tokens are billed as input without it
    output = 0.60

A model name matches its exact entry (case-insensitive), else the longest entry it starts
with followed by ``-``, ``_``, ``:``, ``@`` or ``/`` (dated snapshots such as
``gpt-4o-mini-2024-07-18``; ``gpt-5.2`` does not match ``gpt-5``). With the ``generic``
profile (an endpoint the profiles do not recognise) every provider's table is searched,
``generic`` entries first; a named profile searches its own table only (the same model costs
differently elsewhere). ``"*"`` in a profile's table prices any model there (local servers:
0). A model found nowhere is *unpriced*: its cost is unknown, never 0.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._textfiles import read_utf8, shown_key
from .._yaml import MAX_SIZE, YamlInputError, load_yaml_with_lines, path_to_str
from ..errors import InputError, LLMGraderError
from ..types import Usage
from ._settings import PROVIDERS

PRICES_TAKEN = "2026-12-02"
"""When the built-in figures were compiled (see the module docstring for their source)."""

_SEPARATORS = ("-", "_", ":", "@", "/")
_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model."""

    input: float
    output: float
    cached_input: float | None = None
    """Cached prompt tokens; None: billed as ordinary input."""

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input"):
            value = getattr(self, name)
            if value is None and name == "cached_input":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise LLMGraderError(f"price {name} must be a finite number of at least 0 (got {value!r})")

    def cost(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        """USD for these tokens (``cached_tokens`` are part of ``prompt_tokens``); refuses negative counts."""
        counts = {"prompt_tokens": prompt_tokens, "cached_tokens": cached_tokens}
        counts["completion_tokens"] = completion_tokens
        negative = [f"{name}={value}" for name, value in counts.items() if value < 0]
        if negative:
            raise LLMGraderError(f"usage cannot be priced: negative token counts ({', '.join(negative)})")
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return (
            (prompt_tokens - cached) * self.input + cached * cached_rate + completion_tokens * self.output
        ) / _MILLION


@dataclass(frozen=True)
class ProviderPrices:
    """One provider profile's prices."""

    models: Mapping[str, Price] = field(default_factory=dict)
    """By lower-case model name (``"*"``: any model)."""
    batch_discount: float = 0.0
    """Share taken off for the Batch API (OpenAI: 0.5); 0 when the provider has none."""


def _p(per_input: float, per_cached: float | None, per_output: float) -> Price:
    """A price in the table's column order: input, cached input, output."""
    return Price(input=per_input, output=per_output, cached_input=per_cached)


_OPENAI = {
    "gpt-4o": _p(2.50, 1.25, 10.00),
    "gpt-4o-2024-05-13": _p(5.00, None, 15.00),
    "gpt-4o-mini": _p(0.15, 0.075, 0.60),
    "gpt-4.1": _p(2.00, 0.50, 8.00),
    "gpt-4.1-mini": _p(0.40, 0.10, 1.60),
    "gpt-4.1-nano": _p(0.10, 0.025, 0.40),
    "gpt-5": _p(1.25, 0.125, 10.00),
    "gpt-5-mini": _p(0.25, 0.025, 2.00),
    "gpt-5-nano": _p(0.05, 0.005, 0.40),
    "gpt-5-pro": _p(15.00, None, 120.00),
    "gpt-5.1": _p(1.25, 0.125, 10.00),
    "gpt-5.1-codex-mini": _p(0.25, 0.025, 2.00),
    "gpt-5.2": _p(1.75, 0.175, 14.00),
    "gpt-5.2-pro": _p(21.00, None, 168.00),
    "o3": _p(2.00, 0.50, 8.00),
    "o3-pro": _p(20.00, None, 80.00),
    "o3-mini": _p(1.10, 0.55, 4.40),
    "o4-mini": _p(1.10, 0.275, 4.40),
}
_FREE = {"*": _p(0.0, 0.0, 0.0)}

PRICES_BUILTIN: dict[str, ProviderPrices] = {
    "openai": ProviderPrices(_OPENAI, batch_discount=0.5),
    "azure": ProviderPrices(_OPENAI, batch_discount=0.5),  # Azure global deployments: OpenAI's list
    "deepseek": ProviderPrices(
        {  # DeepSeek-V3.2 behind both names; no Batch API
            "deepseek-chat": _p(0.28, 0.028, 0.42),
            "deepseek-reasoner": _p(0.28, 0.028, 0.42),
        }
    ),
    "dashscope": ProviderPrices(
        {  # international (Singapore) list, first input tier; implicit cache hits at 20% of input
            "qwen-max": _p(1.60, 0.32, 6.40),
            "qwen-plus": _p(0.40, 0.08, 1.20),  # non-thinking output (thinking: 4.00)
            "qwen-turbo": _p(0.05, 0.01, 0.20),
            "qwen-flash": _p(0.05, 0.01, 0.40),
            "qwen3-max": _p(1.20, 0.24, 6.00),
        },
        batch_discount=0.5,
    ),
    "moonshot": ProviderPrices(
        {
            "kimi-k2": _p(0.60, 0.15, 2.50),  # kimi-k2-0905-preview, -0711-preview, -thinking
            "kimi-k2-turbo-preview": _p(1.15, 0.15, 8.00),
            "kimi-k2-thinking-turbo": _p(1.15, 0.15, 8.00),
            "moonshot-v1-8k": _p(0.20, None, 2.00),
            "moonshot-v1-32k": _p(1.00, None, 3.00),
            "moonshot-v1-128k": _p(2.00, None, 5.00),
        }
    ),
    "zhipu": ProviderPrices(
        {
            "glm-4.6": _p(0.60, 0.11, 2.20),
            "glm-4.5": _p(0.60, 0.11, 2.20),
            "glm-4.5-air": _p(0.20, 0.03, 1.10),
            "glm-4.5-x": _p(2.20, 0.45, 8.90),
            "glm-4.5-airx": _p(1.10, 0.22, 4.50),
            "glm-4.5-flash": _p(0.0, 0.0, 0.0),
        },
        batch_discount=0.5,
    ),
    "ollama": ProviderPrices(_FREE),  # local runtimes: no per-token price
    "lmstudio": ProviderPrices(_FREE),
    "llamacpp": ProviderPrices(_FREE),
}
"""The built-in figures, by provider profile (vllm and generic have none of their own)."""


def _matches(name: str, key: str) -> bool:
    return name.startswith(key) and name[len(key) : len(key) + 1] in _SEPARATORS


@dataclass(frozen=True)
class PriceTable:
    """Prices by provider profile; :meth:`find` resolves a model name."""

    providers: Mapping[str, ProviderPrices]
    source: str = f"built-in table of {PRICES_TAKEN}"
    """Where the figures come from (said in ``--dry-run`` output)."""

    def _order(self, provider: str | None) -> list[str]:
        if provider not in (None, "generic"):
            return [provider] if provider in self.providers else []
        return sorted(self.providers, key=lambda p: p != "generic")  # generic first, then the table's order

    def find(self, model: str, provider: str | None = None) -> tuple[str, Price] | None:
        """The provider whose entry prices ``model``, and that entry; None when unpriced."""
        name = model.strip().lower()
        order = self._order(provider)
        for profile in order:
            if name in self.providers[profile].models:
                return profile, self.providers[profile].models[name]
        best: tuple[int, str, Price] | None = None
        searched_all = provider in (None, "generic")
        for profile in order:
            for key, price in self.providers[profile].models.items():
                if key == "*" and not searched_all:
                    length = 0
                elif key != "*" and _matches(name, key):
                    length = len(key)
                else:
                    continue
                if best is None or length > best[0]:
                    best = (length, profile, price)
        return None if best is None else (best[1], best[2])

    def batch_discount(self, provider: str) -> float:
        """The provider's Batch API discount (0 when none)."""
        entry = self.providers.get(provider)
        return entry.batch_discount if entry else 0.0

    def merged(self, overrides: Mapping[str, ProviderPrices], source: str) -> PriceTable:
        """The table with ``overrides``' models added or replaced (and their batch discounts)."""
        providers = dict(self.providers)
        for name, entry in overrides.items():
            base = providers.get(name, ProviderPrices())
            providers[name] = ProviderPrices({**base.models, **entry.models}, entry.batch_discount)
        return PriceTable(providers, f"{self.source} + {source}")


PRICES = PriceTable(PRICES_BUILTIN)
"""The built-in table."""


def priced(
    usage: Usage,
    model: str,
    *,
    provider: str | None = None,
    batch: bool = False,
    prices: PriceTable | None = None,
) -> Usage:
    """``usage`` with its cost filled for ``model`` at ``provider`` (a profile name; None: any).

    Cached prompt tokens are billed at the cached-input price; ``batch`` applies the
    provider's Batch API discount. A model the table does not price gives ``cost=None`` and
    every call counted in ``unpriced_calls`` — unknown, never 0; so does usage with a negative
    token count (it would lower the sum). Usage without calls (answers from the local answer
    cache) costs 0.
    """
    if min(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) < 0:
        # A provider reporting negative usage: the cost is unknown, never lowered.
        return usage.model_copy(update={"cost": None, "unpriced_calls": usage.calls})
    found = (prices or PRICES).find(model, provider)
    if found is None:
        unknown = None if usage.calls else 0.0  # no call, nothing billed
        return usage.model_copy(update={"cost": unknown, "unpriced_calls": usage.calls})
    profile, price = found
    cost = price.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens)
    if batch:
        cost *= 1 - (prices or PRICES).batch_discount(profile)
    return usage.model_copy(update={"cost": round(cost, 10), "unpriced_calls": 0})


def cost_text(usage: Usage) -> str:
    """The cost as the closing line and the results page show it (in English, as every figure there).

    ``cost ≈ $0.0123``, or ``cost unknown (3 of 112 call(s) unpriced)`` — never a partial sum.
    """
    if usage.cost is None:
        return f"cost unknown ({usage.unpriced_calls} of {usage.calls} call(s) unpriced)"
    return f"cost ≈ ${usage.cost:,.4f}"


# ---------------------------------------------------------------------- the override file


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0, allow_inf_nan=False)
    output: float = Field(ge=0, allow_inf_nan=False)
    cached_input: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class _Provider(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_discount: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    models: dict[str, _Entry] = Field(default_factory=dict)


def _parse(path: Path) -> Any:
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        message = f"a price file is .toml, .yaml or .yml (got {suffix or 'no suffix'!r})"
        raise InputError.at(file, None, "", message)
    raw = read_utf8(path, what="price file")
    if len(raw) > MAX_SIZE:
        message = f"has {len(raw):,} characters; a price file may have at most {MAX_SIZE:,}"
        raise InputError.at(file, None, "", message)
    if suffix == ".toml":
        try:
            toml: Any = importlib.import_module("tomllib")
        except ModuleNotFoundError:  # Python 3.10
            try:
                toml = importlib.import_module("tomli")
            except ModuleNotFoundError:
                raise LLMGraderError(
                    f"{path}: TOML price files need Python 3.11+ (or tomli); write it as YAML"
                ) from None
        try:
            return toml.loads(raw)
        except ValueError as exc:  # tomllib.TOMLDecodeError
            raise InputError.at(file, None, "", f"not valid TOML: {exc}") from None
        except RecursionError:
            raise InputError.at(file, None, "", "not valid TOML: nested too deeply") from None
    try:
        return load_yaml_with_lines(raw)[0] or {}
    except yaml.YAMLError as exc:
        raise InputError.at(file, None, "", f"not valid YAML: {' '.join(str(exc).split())}") from None
    except YamlInputError as exc:  # too deep, an alias bomb, a value that cannot be read
        raise InputError.at(file, exc.line, path_to_str(exc.path), exc.message) from None


def _overrides(path: Path) -> dict[str, ProviderPrices]:
    data = _parse(path)
    if not isinstance(data, dict):
        raise LLMGraderError(f"{path}: expected a table of provider profiles, got {type(data).__name__}")
    known = [p.name for p in PROVIDERS]
    out: dict[str, ProviderPrices] = {}
    for name, entry in data.items():
        if name not in known:
            valid = ", ".join(known)
            raise LLMGraderError(f"{path}: {shown_key(name)}: not a provider profile; valid: {valid}")
        try:
            checked = _Provider.model_validate(entry)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(shown_key(part) for part in (name, *error["loc"]))
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise LLMGraderError(f"{path}: {where}: {error['msg']}{more}") from None
        models = {
            key.strip().lower(): Price(input=m.input, output=m.output, cached_input=m.cached_input)
            for key, m in checked.models.items()
        }
        discount = checked.batch_discount
        if discount is None:
            discount = PRICES.batch_discount(name)
        out[name] = ProviderPrices(models, discount)
    return out


def load_prices(path: str | os.PathLike[str] | None = None) -> PriceTable:
    """The built-in table, with ``path`` (default ``$LLM_GRADER_PRICES``) adding or replacing entries.

    A malformed file raises :class:`~llm_grader.errors.LLMGraderError` in one line naming the
    file and the field.
    """
    origin = ""
    if path is None and os.environ.get("LLM_GRADER_PRICES"):
        path, origin = os.environ["LLM_GRADER_PRICES"], " (from LLM_GRADER_PRICES)"
    if path is None:
        return PRICES
    file = Path(path)
    if not file.is_file():
        raise LLMGraderError(f"price file {str(file)!r}{origin} does not exist")
    return PRICES.merged(_overrides(file), file.name)
