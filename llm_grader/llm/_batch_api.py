"""The Batch API (OpenAI's JSONL batch format): requests as lines, a batch's life, answers from it.

- :func:`custom_id` — a request's id in a batch: a short hash of its messages, schema and
  sample, so results map back by id, never by order (and a request asked twice is sent once);
- :class:`BatchFormat` — a :class:`~llm_grader.llm.base.JudgeRequest` as a batch line whose
  body is exactly what the synchronous path sends in the judge's mode (instructor's own
  request preparation for the mode), and a downloaded completion parsed the way instructor
  parses that mode, validated by the request's answer model against its conversation;
- :class:`BatchClient` — upload, create, retrieve, find, download through the openai SDK,
  with the instructor judge's client settings (Azure included);
- :class:`BatchResults` — the downloaded output and error files, found by custom id on disk
  (:mod:`.batch_results`; a malformed line is a failed line);
- :class:`BatchAnswers` — a judge that answers from those results and asks the inner judge
  (an ordinary call, with re-asks) for every request whose line is missing, failed,
  expired or invalid.

instructor's own ``BatchProcessor`` is not used: it builds a bare ``OpenAI()`` client, always
sends a strict json_schema whatever the mode, and parses without validation context or
re-asks; here the batch body is the synchronous body, so the two paths grade alike.

With :mod:`.instructor_judge`, the only module that imports openai and instructor.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import instructor
import openai
from instructor.core import IncompleteOutputException
from instructor.processing import handle_response_model, process_response
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from .._answers import validation_context
from ..errors import LLMGraderError, ModelConfigurationError
from ..types import Usage
from ._batch_results import BatchResults
from ._judge import Judge, JudgeRequest, JudgeWrapper, ModelResult, redact
from ._openai_common import (
    LOGPROBS,
    MESSAGES_KEPT,
    TRUNCATED,
    api_error_text,
    last_error_text,
    logprobs_of,
    openai_client,
    raise_if_fatal,
    refusal_of,
    usage_of,
)
from ._pacing import Pacer
from ._prices import PriceTable, load_prices, priced
from ._settings import ModelSettings

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
"""Batch statuses after which nothing more will be answered."""
MAX_BATCH_LINES = 50_000
"""Most requests in one batch (OpenAI's limit; Azure and DashScope accept at least as many)."""
MAX_BATCH_BYTES = 190_000_000
"""Most bytes in one batch input file (under OpenAI's 200 MB)."""
"""Modes whose request preparation adds fields and leaves the messages untouched."""


def custom_id(request: JudgeRequest) -> str:
    """The request's id in a batch: ``llmg-`` and the first 32 of its :attr:`~JudgeRequest.digest`."""
    return "llmg-" + request.digest[:32]


def _priced(usage: Usage, settings: ModelSettings, prices: PriceTable) -> Usage:
    """A batch answer's usage with its cost at the provider's Batch API price."""
    return priced(usage, settings.model, provider=settings.profile.name, batch=True, prices=prices)


class BatchFormat:
    """Requests as batch lines, and completions back as answers, in the settings' mode."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.mode = instructor.Mode[settings.effective_mode.upper()]
        # Azure's batch deployments name the route without the version prefix.
        self.endpoint = "/chat/completions" if settings.profile.azure else "/v1/chat/completions"
        self._prepared: dict[type[BaseModel], Any] = {}
        self._fixed: dict[type[BaseModel], dict[str, Any]] = {}
        self.prices = load_prices(settings.prices)
        """The price table of the settings (batch answers are priced at its batch discount)."""

    def _prepare(self, request: JudgeRequest) -> tuple[Any, dict[str, Any]]:
        # The same preparation as instructor's create (no context: nothing is templated);
        # a copy of the messages, as the JSON modes extend the system message.
        prepared, kwargs = handle_response_model(
            request.response_model,
            mode=self.mode,
            model=self.settings.model,
            messages=copy.deepcopy(request.messages),
            **self.settings.request_params(),
        )
        self._prepared[request.response_model] = prepared
        return prepared, dict(kwargs)

    def body(self, request: JudgeRequest) -> dict[str, Any]:
        """The request body, as the openai SDK would send it for the synchronous call.

        instructor builds a new schema class on every preparation (about 10 ms). In the
        tools and json_schema modes its preparation adds ``tools`` / ``response_format`` and
        leaves the messages as they are, so what it adds is kept per answer model and reused;
        the JSON modes, which rewrite the messages, are prepared for every request.
        """
        fixed = self._fixed.get(request.response_model)
        if fixed is not None:
            kwargs = {**fixed, "messages": copy.deepcopy(request.messages)}
        else:
            _, kwargs = self._prepare(request)
            if self.mode in MESSAGES_KEPT and kwargs.get("messages") == request.messages:
                self._fixed[request.response_model] = {k: v for k, v in kwargs.items() if k != "messages"}
        extra = kwargs.pop("extra_body", None) or {}
        return {**kwargs, **extra, **(LOGPROBS if self.settings.asks_logprobs else {})}

    def line(self, request: JudgeRequest) -> dict[str, Any]:
        """The batch input line for ``request``."""
        return {
            "custom_id": custom_id(request),
            "method": "POST",
            "url": self.endpoint,
            "body": self.body(request),
        }

    def parse(
        self, request: JudgeRequest, completion: Mapping[str, Any]
    ) -> tuple[BaseModel | None, str, Usage]:
        """The validated answer in ``completion`` (or None and why), and the completion's usage."""
        parsed = ChatCompletion.construct(**completion)
        usage = usage_of(getattr(parsed, "usage", None)).model_copy(update={"calls": 1})
        refusal = refusal_of(parsed)
        if refusal:
            return None, f"the model refused: {refusal}", usage
        prepared = self._prepared.get(request.response_model) or self._prepare(request)[0]
        try:
            # Never instructor's context=: it renders messages as templates (see instructor_judge).
            with validation_context(request.context):
                answer = process_response(
                    parsed, response_model=prepared, stream=False, strict=True, mode=self.mode
                )
        except IncompleteOutputException:
            return None, TRUNCATED, usage
        except ValidationError as exc:
            return None, last_error_text(exc), usage
        except Exception as exc:  # malformed JSON, no tool call, an assertion in the parser
            return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", usage
        return answer, "", usage


@dataclass(frozen=True, kw_only=True)
class BatchInfo:
    """Where a provider's batch stands."""

    id: str
    status: str
    input_file_id: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    problem: str | None = None
    """Why the batch failed validation, when it did."""

    @classmethod
    def of(cls, batch: Batch) -> BatchInfo:
        """The info of an SDK batch object."""
        counts = batch.request_counts
        errors = batch.errors.data if batch.errors and batch.errors.data else []
        return cls(
            id=batch.id,
            status=str(batch.status),
            input_file_id=batch.input_file_id,
            output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id,
            total=counts.total if counts else 0,
            completed=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            problem="; ".join(str(e.message or e.code) for e in errors) or None,
        )


class BatchClient:
    """The Batch API calls of one endpoint; ``aclose`` when done."""

    def __init__(self, settings: ModelSettings) -> None:
        settings.check_transport()
        self.settings = settings
        self._client = openai_client(settings)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    @contextmanager
    def _errors(self, what: str, *, setup: bool = False) -> Iterator[None]:
        host = self.settings.host
        secret = self.settings.api_key.get_secret_value()
        try:
            yield
        except openai.NotFoundError as exc:
            if setup:
                raise ModelConfigurationError(
                    f"{host} has no Batch API ({what}: 404 Not Found); the Batch API is offered by OpenAI, "
                    "Azure OpenAI (global batch deployments) and DashScope: grade without --batch here",
                    host=host,
                ) from None
            message = f"could not {what} at {host}: {api_error_text(exc)}"
            raise LLMGraderError(redact(message, secrets=[secret] if secret else [])) from None
        except openai.APIError as exc:
            raise_if_fatal(exc, self.settings)
            message = f"could not {what} at {host}: {api_error_text(exc)}"
            raise LLMGraderError(redact(message, secrets=[secret] if secret else [])) from None

    async def upload(self, path: Path) -> str:
        """Upload a batch input file; its file id."""
        with self._errors("upload the batch input file (POST /files)", setup=True):
            file = await self._client.files.create(
                file=(path.name, path.read_bytes(), "application/jsonl"), purpose="batch"
            )
        return file.id

    async def create(self, input_file_id: str, endpoint: str, metadata: dict[str, str]) -> BatchInfo:
        """Create a batch of the uploaded file's requests (24-hour window)."""
        with self._errors("create the batch (POST /batches)", setup=True):
            batch = await self._client.batches.create(
                input_file_id=input_file_id,
                endpoint=endpoint,  # type: ignore[arg-type]  # Azure's route has no /v1
                completion_window="24h",
                metadata=metadata,
            )
        return BatchInfo.of(batch)

    async def retrieve(self, batch_id: str) -> BatchInfo:
        """The batch's status and counts."""
        with self._errors(f"retrieve batch {batch_id!r}"):
            return BatchInfo.of(await self._client.batches.retrieve(batch_id))

    async def find(self, input_file_id: str) -> BatchInfo | None:
        """The batch made from ``input_file_id``, or None when the whole list holds none.

        Pages through every batch of the account. A list that cannot be read raises: a batch
        may have been created just before an interruption, and creating another bills twice.
        """
        host = self.settings.host
        try:
            async for batch in self._client.batches.list(limit=100):
                if batch.input_file_id == input_file_id:
                    return BatchInfo.of(batch)
        except openai.APIError as exc:
            raise_if_fatal(exc, self.settings)
            secret = self.settings.api_key.get_secret_value()
            message = (
                f"cannot list the batches at {host} ({api_error_text(exc)}) to see whether a batch was "
                f"created from file {input_file_id!r} before the last run stopped; not creating another "
                "(that could bill twice): run again when listing works"
            )
            raise LLMGraderError(redact(message, secrets=[secret] if secret else [])) from None
        return None

    async def download(self, file_id: str, path: Path) -> None:
        """Write a result file to ``path`` (whole, or not at all)."""
        partial = path.with_name(path.name + ".part")
        with self._errors(f"download the batch results file {file_id!r}"):
            async with self._client.files.with_streaming_response.content(file_id) as response:
                await response.stream_to_file(partial)
        partial.replace(path)


class BatchAnswers(JudgeWrapper):
    """A judge answering from a finished batch, in front of ``inner`` for everything else.

    A request whose line holds a valid answer is answered from it (one call, batch usage);
    one whose line is missing, errored, expired or invalid goes to ``inner`` — an ordinary
    call with re-asks, paced by ``pacer`` — with the invalid batch answer's usage and attempt
    added. ``stats`` counts ``answered``, ``invalid``, ``failed`` (error or expired lines)
    and ``outside`` (requests the batch never held, such as a grouped answer's re-asks).
    """

    def __init__(
        self, inner: Judge, results: BatchResults, batch_format: BatchFormat, *, pacer: Pacer | None = None
    ) -> None:
        super().__init__(inner)
        self.results = results
        self.format = batch_format
        self.pacer = pacer
        self.stats: Counter[str] = Counter()

    async def judge(self, request: JudgeRequest) -> ModelResult:
        """The batch's answer when it validates; otherwise the inner judge's."""
        line = self.results.get(custom_id(request))
        spent, tried = Usage(), 0
        parsed = self._parse(request, line.completion) if line is not None and line.completion else None
        if parsed is not None and line is not None:
            answer, usage = parsed
            spent = _priced(usage, self.format.settings, self.format.prices)
            if answer is not None:
                self.stats["answered"] += 1
                try:  # the line's token logprobs (json modes), read as the synchronous call reads them
                    logprobs = logprobs_of(ChatCompletion.model_validate(line.completion))
                except ValidationError:
                    logprobs = None
                return ModelResult(
                    answer=answer, raw=answer.model_dump_json(), usage=spent, attempts=1, logprobs=logprobs
                )
            self.stats["invalid"] += 1
            tried = 1
        else:
            self.stats["outside" if line is None else "failed"] += 1
        if self.pacer is not None:
            result = await self.pacer.run(lambda: self.inner.judge(request))
        else:
            result = await self.inner.judge(request)
        return replace(result, usage=spent + result.usage, attempts=result.attempts + tried)

    def _parse(
        self, request: JudgeRequest, completion: Mapping[str, Any]
    ) -> tuple[BaseModel | None, Usage] | None:
        """The line's answer (None: invalid) and usage; None (a failed line) when it cannot be read."""
        try:
            answer, _, usage = self.format.parse(request, completion)
        except Exception:  # a body of the wrong shape: asked again, never the conversation's failure
            return None
        return answer, usage
