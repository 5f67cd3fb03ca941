"""What the Python entry points are given, in the form they work with (issue 17.10).

``Grader(...)``, ``grade`` and ``grade_many`` take what users naturally pass — a model name
with ``ModelSettings`` keywords next to it, a dict record, a DataFrame, a path, any iterable —
or refuse it with one :class:`~llm_grader.errors.LLMGraderError` saying what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

from .conversation import (
    Conversation,
    Conversations,
    conversation_from_record,
    conversations_from_table,
    stream_conversations,
)
from .errors import ConversationError, LLMGraderError
from .llm import Judge, ModelSettings

_SETTINGS = frozenset(f.name for f in fields(ModelSettings)) - {"model"}
"""``ModelSettings`` fields a ``Grader`` takes as keywords next to a model name."""


def settings_options(model: object, options: dict[str, Any]) -> dict[str, Any]:
    """Take the ``ModelSettings`` keywords (``base_url``, ``api_key``…) out of ``options``.

    They build the settings of a model given by name; next to a ``ModelSettings`` or a judge
    they have nothing to configure, and are refused rather than ignored. With no model at all
    they stay in ``options`` (refused there as unknown Grader options).
    """
    if model is None:
        return {}
    settings = {name: options.pop(name) for name in sorted(_SETTINGS & set(options))}
    if settings and not isinstance(model, str):
        given = ", ".join(f"{name}=" for name in settings)
        where = (
            "set them on the ModelSettings (dataclasses.replace(settings, ...))"
            if isinstance(model, ModelSettings)
            else "pass a model name with them: Grader(rubric, model='qwen-plus', base_url=...)"
        )
        raise LLMGraderError(f"Grader: {given} configure a model given by name; {where}")
    return settings


JUDGE_MEMBERS = ("identity", "prompt_budget", "endpoint", "judge", "aclose")
"""What a :class:`~llm_grader.llm.Judge` has."""


def checked_judge(model: object) -> Judge:
    """``model`` when it has the :class:`~llm_grader.llm.Judge` interface, else a clear error.

    An object with ``judge()`` and ``aclose()`` but not every member (a judge written for an
    earlier version) is told which members it lacks.
    """
    missing = [name for name in JUDGE_MEMBERS if not hasattr(model, name)]
    if not missing:
        return cast("Judge", model)
    if all(callable(getattr(model, name, None)) for name in ("judge", "aclose")):
        raise LLMGraderError(
            f"{type(model).__name__} is not a Judge: it has no {', '.join(missing)} "
            "(see llm_grader.llm.Judge)"
        )
    raise LLMGraderError(
        "Grader: model must be a model name, a ModelSettings or a Judge (identity, judge(), aclose()), "
        f"not {type(model).__name__}"
    )


def _not_a_conversation(what: str, value: object) -> LLMGraderError:
    hint = ""
    if isinstance(value, (str, Path)):
        hint = "; for a file use grade_many(path) or load_conversations(path)"
    return LLMGraderError(
        f"{what}: expected a Conversation or a dict shaped like a JSONL record (id, turns), "
        f"not {type(value).__name__}{hint}"
    )


def one_conversation(value: object, *, where: str = "<dict>") -> Conversation:
    """``value`` as a :class:`Conversation`: itself, or a dict read like a JSONL record."""
    if isinstance(value, Conversation):
        return value
    if isinstance(value, Mapping):
        return conversation_from_record(value, file=where)
    raise _not_a_conversation("grade" if where == "<dict>" else where, value)


def _raising(stream: Iterable[Conversation | ConversationError]) -> Iterator[Conversation]:
    for item in stream:
        if isinstance(item, ConversationError):
            raise item
        yield item


def many_conversations(value: object) -> Iterable[Conversation]:
    """What ``grade_many`` was given, as conversations.

    Any iterable of :class:`Conversation` or of dicts shaped like JSONL records (read as a
    JSONL line is); a pandas DataFrame or ``datasets.Dataset`` (as by
    :func:`~llm_grader.conversation.conversations_from_table`); a file or folder path (streamed
    as by :func:`~llm_grader.conversation.stream_conversations`). A malformed conversation
    raises its :class:`~llm_grader.errors.ConversationError` naming file or row and field —
    a sized collection is checked whole before anything is graded, others as they are read;
    to skip bad ones instead, load with ``load_conversations`` (which keeps them in
    ``.errors``) and pass the result.
    """
    if isinstance(value, (Conversation, Mapping)):
        raise LLMGraderError(
            f"grade_many: expected many conversations, not one {type(value).__name__}: "
            "use grade(conversation) or grade_many([conversation])"
        )
    if isinstance(value, (str, Path)):
        return _raising(stream_conversations(value))
    if type(value).__module__.split(".")[0] in ("pandas", "datasets"):
        try:
            return conversations_from_table(value, strict=True)
        except TypeError as exc:  # e.g. a DatasetDict, or a Series
            raise LLMGraderError(f"grade_many: {exc}") from None
    if isinstance(value, Conversations) or (
        isinstance(value, (list, tuple)) and all(isinstance(c, Conversation) for c in value)
    ):
        return value
    if isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
        each = (one_conversation(c, where=f"conversations[{i}]") for i, c in enumerate(value))
        return list(each) if isinstance(value, Sized) else each
    raise LLMGraderError(
        "grade_many: expected conversations (an iterable of Conversation or dicts, a DataFrame, "
        f"a datasets.Dataset or a path), not {type(value).__name__}"
    )
