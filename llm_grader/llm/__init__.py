"""The model behind one small interface.

- :mod:`.base` — the :class:`Judge` protocol, :class:`JudgeRequest`, :class:`ModelResult`
- :mod:`.settings` — :class:`ModelSettings` and the :data:`PROVIDERS` table
- :mod:`.cache` — the answer cache and :class:`CachedJudge`
- :mod:`.prices` — the price table and :func:`priced` (the cost of a usage)
- :mod:`.instructor_judge` — the openai + instructor judge (imported only when used)

:func:`build_judge` makes the judge for a model name or settings.
"""

from __future__ import annotations

from pathlib import Path

from ._cache import CachedJudge, ResultCache, default_cache_path
from ._judge import Judge, JudgeRequest, ModelResult, prompt_size, redact
from ._pacing import Pacer
from ._prices import PRICES, Price, PriceTable, cost_text, load_prices, priced
from ._settings import MODES, PROVIDERS, Mode, ModelSettings, Profile, check_mode
from ._urls import without_userinfo

__all__ = [
    "MODES",
    "PRICES",
    "PROVIDERS",
    "CachedJudge",
    "Judge",
    "JudgeRequest",
    "Mode",
    "ModelResult",
    "ModelSettings",
    "Pacer",
    "Price",
    "PriceTable",
    "Profile",
    "ResultCache",
    "build_judge",
    "check_mode",
    "cost_text",
    "default_cache_path",
    "load_prices",
    "priced",
    "prompt_size",
    "redact",
    "without_userinfo",
]


def build_judge(model: str | ModelSettings, *, cache: Path | ResultCache | None = None) -> Judge:
    """The openai + instructor judge for ``model`` (a name: settings from the environment).

    With ``cache`` (a SQLite file or a :class:`ResultCache`), answers are kept there.
    """
    from ._instructor import InstructorJudge

    settings = model if isinstance(model, ModelSettings) else ModelSettings.from_env(model=model)
    judge: Judge = InstructorJudge(settings)
    if cache is None:
        return judge
    return CachedJudge(judge, cache if isinstance(cache, ResultCache) else ResultCache(cache))
