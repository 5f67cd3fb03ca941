"""How a grader runs: one :class:`GraderConfig`, given whole or as keyword options."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from .errors import LLMGraderError
from .llm import default_cache_path


@dataclass(frozen=True, kw_only=True)
class GraderConfig:
    """How a :class:`Grader` runs. Every field can also be given to ``Grader`` as a keyword."""

    concurrency: int = 8
    """Model requests in flight at once (and conversations in progress in a batch)."""
    requests_per_minute: float | None = None
    """A ceiling on the request rate, for endpoints with a per-minute quota."""
    samples: int = 1
    """Ask each item this many times and take the majority tier (self-consistency)."""
    min_agreement: float = 0.6
    """Below this share of samples agreeing, the item is marked for review."""
    review_below: float | None = None
    """Mark for review every model item whose confidence is below this (0–1), with the reason;
    None: confidence routes nothing. Items without a confidence (one sample, no logprobs) are
    not routed."""
    mask_pii: bool = True
    """Mask phone, ID-card and bank-card numbers before any text leaves the machine."""
    cache: bool | str | Path | None = True
    """The answer cache: True for the per-user cache directory, a path, or None/False for none.
    Applies when the grader builds the judge from a model name or settings."""
    prompts_dir: Path | None = None
    """Prompt templates to use instead of the shipped ones (``<dir>/<language>/``)."""
    strategy: Literal["item", "category", "conversation"] = "item"
    """Model calls per conversation: one per item (default), one per category, or one for the
    whole card; an item whose grouped answer fails its checks is asked again alone."""
    show_points: bool | None = None
    """Show the model each tier's points: True or False; None (default) follows the rubric's
    ``show_points`` (off unless the rubric says so). Points are applied by rule either way."""

    def __post_init__(self) -> None:
        for name in ("concurrency", "samples"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise LLMGraderError(f"{name} must be a whole number of at least 1 (got {value!r})")
        if self.strategy not in ("item", "category", "conversation"):
            raise LLMGraderError(
                f"strategy must be one of item, category, conversation (got {self.strategy!r})"
            )
        if self.review_below is not None and not 0 <= self.review_below <= 1:
            raise LLMGraderError(f"review_below must be between 0 and 1 (got {self.review_below!r})")
        if self.requests_per_minute is not None and not self.requests_per_minute > 0:
            raise LLMGraderError(f"requests_per_minute must be above 0 (got {self.requests_per_minute!r})")

    @property
    def cache_path(self) -> Path | None:
        """Where answers are cached, or None."""
        if self.cache is True:
            return default_cache_path()
        if self.cache is None or self.cache is False:
            return None
        return Path(self.cache)


def grader_config(config: GraderConfig | None, options: dict[str, Any]) -> GraderConfig:
    """``config``, or a config built from keyword ``options`` (unknown names fail, listing the valid ones)."""
    if config is not None and options:
        raise TypeError("give either config= or keyword options, not both")
    known = {f.name for f in fields(GraderConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown Grader options: {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    return config or GraderConfig(**options)
