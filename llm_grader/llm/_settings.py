"""Where and how to call the model: settings and the table of known providers.

Provider differences live in :data:`PROVIDERS`, a table of settings, not in code branches.
Nothing here imports the openai SDK.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, overload
from urllib.parse import urlparse

from pydantic import SecretStr

from ..errors import LLMGraderError, ModelConfigurationError
from ._urls import without_userinfo

Mode = Literal["tools", "json_schema", "json", "md_json"]
"""Structured-output modes: tool calling, JSON schema (strict), JSON object, JSON in Markdown."""

MODES: tuple[Mode, ...] = get_args(Mode)
"""Every mode, in the order help texts list them."""


def check_mode(mode: str) -> Mode:
    """``mode`` if it is a known mode; else an error listing the valid ones."""
    for known in MODES:
        if mode == known:
            return known
    raise LLMGraderError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")


@dataclass(frozen=True)
class Profile:
    """How to talk to one kind of endpoint."""

    name: str
    hosts: tuple[str, ...]
    """Substrings of the base URL that identify the provider."""
    mode: Mode
    """Structured-output mode that works there (see research/STRUCTURED_OUTPUT.md §2.3)."""
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Provider-specific request fields (e.g. turning a model's thinking off)."""
    quirks: str = ""
    azure: bool = False
    """Routes by deployment and needs an api-version (Azure OpenAI)."""
    prompt_budget: int = 120_000
    """Most characters one request may carry (messages and schema); a conversation whose
    prompt is longer is not sent. About a 128k-token context for Chinese text."""


PROVIDERS: tuple[Profile, ...] = (
    Profile(
        "openai",
        ("api.openai.com",),
        "tools",
        quirks="tool-call arguments carry no logprobs; reasoning models take only the default temperature",
    ),
    Profile(
        "azure",
        (".openai.azure.com", "cognitiveservices.azure.com"),
        "tools",
        quirks="json_schema needs api-version 2024-08-01-preview or later",
        azure=True,
    ),
    Profile(
        "deepseek",
        ("api.deepseek.com",),
        "tools",
        quirks="thinking models reject forced tool_choice: use md_json for deepseek-reasoner",
    ),
    Profile(
        "dashscope",
        ("dashscope",),
        "json",
        {"enable_thinking": False},
        quirks="some Qwen models reject forced tool_choice; json_object needs the word JSON in the prompt",
    ),
    Profile("moonshot", ("moonshot",), "json", quirks="Kimi thinking models reject forced tool_choice"),
    Profile(
        "zhipu",
        ("bigmodel.cn", "z.ai"),
        "md_json",
        quirks="tool_choice must be auto; json_object support varies by model",
    ),
    Profile(
        "ollama", (":11434",), "json_schema", quirks="tool_choice is ignored on the OpenAI-compatible layer"
    ),
    Profile("lmstudio", (":1234",), "json_schema", quirks="json_object is rejected"),
    Profile("llamacpp", (":8080",), "json_schema", quirks="tools need --jinja"),
    Profile("vllm", (":8000",), "json_schema", quirks="guided decoding serves json_schema"),
    Profile("generic", (), "tools", quirks="any other OpenAI-compatible endpoint"),
)
"""Known providers. ``ModelSettings(provider=...)`` or ``mode=...`` overrides the detection."""


def _is_local(host: str) -> bool:
    """Loopback or private-network hosts, where a test or in-house endpoint may use plain HTTP."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def _profile(name: str | None, base_url: str | None) -> Profile:
    if name is not None:
        for profile in PROVIDERS:
            if profile.name == name:
                return profile
        raise LLMGraderError(
            f"unknown provider {name!r}; valid providers: {', '.join(p.name for p in PROVIDERS)}"
        )
    url = without_userinfo(base_url or "https://api.openai.com/v1").lower()
    return next((p for p in PROVIDERS if any(h in url for h in p.hosts)), PROVIDERS[-1])


class _Secret:
    """A settings field holding a :class:`~pydantic.SecretStr`, given as one or as plain text.

    ``ModelSettings(api_key="sk-...")`` stores ``SecretStr("sk-...")`` (None stores an empty
    key), so the key reads as a ``SecretStr`` however it was passed and never shows in a repr.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._name, self._slot = name, f"_{name}"

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> SecretStr: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> SecretStr: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> SecretStr:
        if obj is None:  # the dataclass default
            return SecretStr("")
        value: SecretStr = getattr(obj, self._slot, SecretStr(""))
        return value

    def __set__(self, obj: object, value: SecretStr | str | None) -> None:
        if value is None:
            value = SecretStr("")
        elif isinstance(value, str):
            value = SecretStr(value)
        elif not isinstance(value, SecretStr):
            raise LLMGraderError(
                f"{self._name} must be a string or a pydantic SecretStr, not {type(value).__name__}"
            )
        object.__setattr__(obj, self._slot, value)


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Where and how to call the model. ``from_env`` fills what is not given."""

    model: str
    base_url: str | None = None
    api_key: _Secret = _Secret()
    """The API key: a ``SecretStr`` or plain text (kept as a ``SecretStr``, never shown)."""
    provider: str | None = None
    mode: Mode | None = None
    temperature: float | None = 0.0
    max_tokens: int | None = None
    timeout: float = 120.0
    transport_retries: int = 4
    reasks: int = 2
    """Re-asks after an invalid answer (so at most ``reasks + 1`` attempts per item)."""
    extra_body: dict[str, Any] = field(default_factory=dict)
    api_version: str | None = None
    """Azure OpenAI only: the api-version (default ``OPENAI_API_VERSION`` or 2024-10-21)."""
    max_prompt_chars: int | None = None
    """Most characters one request may carry; None: the provider profile's ``prompt_budget``."""
    allow_insecure: bool = False
    """Allow sending the API key over plain HTTP to a host that is not loopback or private."""
    logprobs: bool = True
    """Ask for the answer's token logprobs (``logprobs`` + ``top_logprobs``) in the ``json`` and
    ``json_schema`` modes, where they measure the tier's confidence; False for an endpoint
    that rejects the parameters. Never asked in ``tools`` / ``md_json`` modes."""
    prices: str | os.PathLike[str] | None = None
    """A TOML or YAML price file adding to or replacing the built-in price table
    (:mod:`~llm_grader.llm._prices`); None: ``$LLM_GRADER_PRICES``, else the built-in table."""

    def __post_init__(self) -> None:
        if self.max_prompt_chars is not None and self.max_prompt_chars < 1:
            raise LLMGraderError(f"max_prompt_chars must be at least 1 (got {self.max_prompt_chars})")

    @property
    def prompt_budget(self) -> int:
        """Most characters one request may carry."""
        return self.max_prompt_chars or self.profile.prompt_budget

    @property
    def shown_url(self) -> str:
        """The base URL as shown and stored: without the credentials a ``user:pass@`` would give."""
        return without_userinfo(self.base_url or "https://api.openai.com/v1")

    @property
    def host(self) -> str:
        """The endpoint's host (and port), for messages; never the key or URL credentials."""
        return urlparse(self.shown_url).netloc or "?"

    def check_transport(self) -> None:
        """Refuse to send a key in clear text: plain HTTP only to loopback or private addresses.

        ``allow_insecure`` (``--allow-insecure``) lifts this, for a trusted network.
        """
        url = urlparse(self.base_url or "https://api.openai.com/v1")
        if url.scheme != "http" or not self.api_key.get_secret_value() or self.allow_insecure:
            return
        if _is_local(url.hostname or ""):
            return
        raise ModelConfigurationError(
            f"refusing to send the API key over plain HTTP to {self.host!r}: use an https:// base URL, "
            "or pass --allow-insecure (ModelSettings(allow_insecure=True)) for a trusted network",
            host=self.host,
        )

    @classmethod
    def from_env(
        cls,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        **options: Any,
    ) -> ModelSettings:
        """Flags first, then ``LLM_GRADER_MODEL``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``."""
        model = model or os.environ.get("LLM_GRADER_MODEL")
        if not model:
            raise LLMGraderError("no model configured: pass --model or set LLM_GRADER_MODEL")
        return cls(
            model=model,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "",
            **options,
        )

    @property
    def profile(self) -> Profile:
        """The provider profile in force."""
        return _profile(self.provider, self.base_url)

    @property
    def effective_mode(self) -> Mode:
        """The structured-output mode: the override, else the provider's."""
        return self.mode or self.profile.mode

    @property
    def asks_logprobs(self) -> bool:
        """Whether requests ask for token logprobs (``logprobs`` on and a json mode)."""
        return self.logprobs and self.effective_mode in ("json", "json_schema")

    def request_params(self) -> dict[str, Any]:
        """Parameters that change the model's output (part of the cache key)."""
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        extra = {**self.profile.extra_body, **self.extra_body}
        if extra:
            params["extra_body"] = extra
        return params

    def __repr__(self) -> str:  # never show the key
        return (
            f"ModelSettings(model={self.model!r}, base_url={self.base_url and self.shown_url!r}, "
            f"mode={self.effective_mode!r})"
        )
