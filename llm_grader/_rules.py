"""Deterministic judges: phrases, forbidden words, response times, gaps, overlaps, rates.

Each rule measures one value from the conversation (a count or seconds), keeps the
evidence (turn, quote, character offsets), and maps the value to a tier through the
item's thresholds; a deduction item takes the occurrences instead. A ``combined`` rule
counts how many of its checks failed. A rule that needs data the conversation lacks
returns an unscored judgement saying what is missing — never a silent pass.

:func:`judge_rule` grades a rule item; :func:`judge_hybrid` decides a hybrid item (a model
item with ``decide_by_rule``) before any model call, when one of its rules fires.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ._messages import text
from .conversation import Conversation, Turn
from .patterns import TIME_LIMIT, PatternError, PatternTimeout, compile_pattern
from .rubric import (
    CombinedRule,
    FirstResponseRule,
    ForbiddenWordsRule,
    InterruptionRule,
    Item,
    LongestGapRule,
    PhraseRule,
    Rule,
    SpeakingRateRule,
    Threshold,
    Window,
    first_threshold,
)
from .types import Audit, Judgement, Occurrence


@dataclass(frozen=True, kw_only=True)
class _Measure:
    value: float | None = None
    occurrences: list[Occurrence] = field(default_factory=list)
    rationale: str = ""
    missing: str | None = None
    """Why the value cannot be measured."""


_WHO = {"agent": "rule.agent", "customer": "rule.customer", "any": "rule.both"}  # the message naming them


def _evidence(index: int, turn: Turn, start: int = 0, end: int | None = None) -> Occurrence:
    end = len(turn.text) if end is None else end
    return Occurrence(
        turn=index + 1, speaker=turn.speaker, quote=turn.text[start:end], start_char=start, end_char=end
    )


def _select(conversation: Conversation, speaker: str, window: Window) -> list[tuple[int, Turn]]:
    wanted = {"agent": ("agent",), "customer": ("customer",), "any": ("agent", "customer")}[speaker]
    turns = [(i, t) for i, t in enumerate(conversation.turns) if t.speaker in wanted]
    if window.first is not None:
        return turns[: window.first]
    if window.last is not None:
        return turns[-window.last :]
    return turns


def _scope(language: str, speaker: str, window: Window) -> str:
    who = text(_WHO[speaker], language)
    if window.first is not None:
        return text("rule.scope_first", language, who=who, n=window.first)
    if window.last is not None:
        return text("rule.scope_last", language, who=who, n=window.last)
    return text("rule.scope_any", language, who=who)


class _Search:
    """Finds a rule's phrases in turns' text (see :mod:`llm_grader.patterns`).

    Phrases match regardless of letter case and of full/half-width forms. The searches of one
    rule on one conversation share one time limit, which only backtracking regexes can reach.
    """

    def __init__(self, *, regex: bool) -> None:
        self.regex = regex
        self.deadline = time.monotonic() + TIME_LIMIT

    def __call__(self, phrase: str, text: str) -> Sequence[tuple[int, int]]:
        return compile_pattern(phrase, regex=self.regex).spans(text, deadline=self.deadline)


_R = TypeVar("_R", PhraseRule, ForbiddenWordsRule)


def _searching(
    measure: Callable[[_R, Conversation, str], _Measure],
) -> Callable[[_R, Conversation, str], _Measure]:
    """``measure``, leaving the item unscored when a pattern is unusable or runs too long."""

    def run(rule: _R, conversation: Conversation, language: str) -> _Measure:
        try:
            return measure(rule, conversation, language)
        except PatternTimeout as exc:
            reason = text("pattern.timeout", language, pattern=exc.source, seconds=TIME_LIMIT)
            return _Measure(missing=reason)
        except PatternError as exc:
            return _Measure(missing=text("pattern.invalid", language, reason=exc))

    return run


@_searching
def _phrases(rule: PhraseRule, conversation: Conversation, language: str) -> _Measure:
    search = _Search(regex=rule.regex)
    turns = _select(conversation, rule.speaker, rule.window)
    found: list[Occurrence] = []
    missing: list[str] = []
    for entry in rule.phrases:
        alternatives = [entry] if isinstance(entry, str) else entry
        hit: Occurrence | None = None
        for alternative in alternatives:
            for index, turn in turns:
                spans = search(alternative, turn.text)
                if spans:
                    hit = _evidence(index, turn, *spans[0])
                    break
            if hit:
                break
        if hit:
            found.append(hit)
        else:
            missing.append("/".join(alternatives))
    detail = text("rule.missing_parts", language, parts="、".join(missing)) if missing else ""
    scope = _scope(language, rule.speaker, rule.window)
    return _Measure(
        value=len(found),
        occurrences=found,
        rationale=text(
            "rule.phrases", language, scope=scope, found=len(found), total=len(rule.phrases), detail=detail
        ),
    )


@_searching
def _forbidden(rule: ForbiddenWordsRule, conversation: Conversation, language: str) -> _Measure:
    search = _Search(regex=rule.regex)
    hits: list[Occurrence] = []
    for index, turn in _select(conversation, rule.speaker, rule.window):
        spans: list[tuple[int, int]] = []
        for word in rule.words:
            spans.extend(search(word, turn.text))
        # A match inside a longer match (清楚 inside 不清楚) is one occurrence, not two.
        spans.sort(key=lambda s: (s[0], -s[1]))
        kept: list[tuple[int, int]] = []
        for span in spans:
            if not kept or span[0] >= kept[-1][1]:
                kept.append(span)
        hits.extend(_evidence(index, turn, s, e) for s, e in kept)
    words = "、".join(
        f"“{h.quote}”(第{h.turn}轮)" if language == "zh" else f"{h.quote!r} (turn {h.turn})" for h in hits
    )
    detail = text("rule.found_words", language, words=words) if hits else ""
    return _Measure(
        value=len(hits),
        occurrences=hits,
        rationale=text(
            "rule.forbidden",
            language,
            scope=_scope(language, rule.speaker, rule.window),
            n=len(hits),
            detail=detail,
        ),
    )


def _needs_starts(conversation: Conversation, indices: Sequence[int], language: str) -> str | None:
    lacking = [i + 1 for i in indices if conversation.turns[i].start is None]
    if lacking:
        return text("rule.no_times", language, turns=", ".join(map(str, lacking)))
    return None


def _first_response(rule: FirstResponseRule, conversation: Conversation, language: str) -> _Measure:
    turns = conversation.turns
    agent = next((i for i, t in enumerate(turns) if t.speaker == "agent"), None)
    if agent is None:
        return _Measure(missing=text("rule.no_agent", language))
    customer = next((i for i, t in enumerate(turns[:agent]) if t.speaker == "customer"), None)
    needed = [agent] if customer is None else [customer, agent]
    if (missing := _needs_starts(conversation, needed, language)) is not None:
        return _Measure(missing=missing)
    start = turns[agent].start or 0.0
    origin = 0.0 if customer is None else turns[customer].start or 0.0
    value = round(start - origin, 3)
    where = (
        text("rule.origin_start", language)
        if customer is None
        else text("rule.origin_customer", language, turn=customer + 1)
    )
    return _Measure(
        value=value,
        occurrences=[_evidence(agent, turns[agent])],
        rationale=text("rule.first_response", language, v=value, origin=where, turn=agent + 1),
    )


def _longest_gap(rule: LongestGapRule, conversation: Conversation, language: str) -> _Measure:
    turns = conversation.turns
    gaps: list[tuple[float, int]] = []
    for i in range(1, len(turns)):
        if turns[i].speaker != "agent" or turns[i - 1].speaker == "system":
            continue
        if (missing := _needs_starts(conversation, [i - 1, i], language)) is not None:
            return _Measure(missing=missing)
        previous = turns[i - 1]
        since = previous.end if previous.end is not None else previous.start
        start = turns[i].start
        assert since is not None and start is not None
        gaps.append((round(max(start - since, 0.0), 3), i))
    if not gaps:
        return _Measure(value=0.0, rationale=text("rule.no_gap", language))
    value, where = max(gaps)
    counted = [_evidence(i, turns[i]) for gap, i in gaps if rule.min_seconds and gap >= rule.min_seconds]
    return _Measure(
        value=value,
        occurrences=counted or [_evidence(where, turns[where])],
        rationale=text("rule.gap", language, v=value, turn=where + 1),
    )


def _interruptions(rule: InterruptionRule, conversation: Conversation, language: str) -> _Measure:
    if not conversation.has_end_times:
        return _Measure(missing=text("rule.no_end_times", language))
    turns = conversation.turns
    hits = []
    for i in range(1, len(turns)):
        previous, turn = turns[i - 1], turns[i]
        assert previous.end is not None and turn.start is not None
        if (
            turn.speaker == "agent"
            and previous.speaker == "customer"
            and previous.end - turn.start >= rule.min_overlap
        ):
            hits.append(_evidence(i, turn))
    return _Measure(
        value=len(hits), occurrences=hits, rationale=text("rule.interruptions", language, n=len(hits))
    )


def _speaking_rate(rule: SpeakingRateRule, conversation: Conversation, language: str) -> _Measure:
    chars = 0
    seconds = 0.0
    used = []
    for i, turn in enumerate(conversation.turns):
        if turn.speaker != "agent" or turn.start is None or turn.end is None or turn.end <= turn.start:
            continue
        # Count spoken characters: letters and digits, not spaces or punctuation.
        chars += sum(1 for ch in turn.text if unicodedata.category(ch)[0] in "LN")
        seconds += turn.end - turn.start
        used.append(i)
    if not used:
        return _Measure(missing=text("rule.no_rate_turns", language))
    value = round(chars / seconds, 3)
    return _Measure(
        value=value, rationale=text("rule.rate", language, v=value, chars=chars, secs=round(seconds, 2))
    )


def _combined(rule: CombinedRule, conversation: Conversation, language: str) -> _Measure:
    failed = 0
    parts: list[str] = []
    evidence: list[Occurrence] = []
    for check in rule.checks:
        measure = _measure(check.rule, conversation, language)
        if measure.missing is not None:
            return _Measure(missing=f"{check.label}{':' if language == 'zh' else ': '}{measure.missing}")
        passed = measure.value is not None and check.pass_when.holds(measure.value)
        failed += not passed
        verdict = "rule.check_pass" if passed else "rule.check_fail"
        parts.append(text(verdict, language, name=check.label, rationale=measure.rationale))
        evidence += measure.occurrences
    details = (";" if language == "zh" else "; ").join(parts)
    rationale = text("rule.checks", language, failed=failed, total=len(rule.checks), details=details)
    return _Measure(value=failed, occurrences=evidence, rationale=rationale)


_MEASURES: dict[type, Callable[..., _Measure]] = {
    PhraseRule: _phrases,
    ForbiddenWordsRule: _forbidden,
    FirstResponseRule: _first_response,
    LongestGapRule: _longest_gap,
    InterruptionRule: _interruptions,
    SpeakingRateRule: _speaking_rate,
    CombinedRule: _combined,
}


def _measure(rule: Rule, conversation: Conversation, language: str) -> _Measure:
    return _MEASURES[type(rule)](rule, conversation, language)


def _decided(
    item: Item,
    rule: Rule,
    threshold: Threshold,
    measure: _Measure,
    *,
    flags: dict[str, bool],
    rationale: str | None = None,
    audit: Audit | None = None,
) -> Judgement:
    """The judgement of a threshold that held: its tier, the measure's evidence and value."""
    occurrences = tuple(measure.occurrences)
    return Judgement(
        item_id=item.id,
        tier=threshold.tier,
        evidence=occurrences,
        occurrences=occurrences if isinstance(rule, ForbiddenWordsRule) else (),
        flags=flags,
        rationale=measure.rationale if rationale is None else rationale,
        measured=measure.value,
        audit=audit or Audit(),
    )


def judge_rule(item: Item, conversation: Conversation, *, language: str = "zh") -> Judgement:
    """Grade a ``judge: rule`` item on a conversation."""
    if item.rule is None:
        raise ValueError(f"item {item.id!r} has no rule")
    measure = _measure(item.rule, conversation, language)
    if measure.missing is not None:
        return Judgement.unscored(item.id, measure.missing)
    occurrences = tuple(measure.occurrences)
    if item.is_deduction:
        return Judgement(
            item_id=item.id,
            occurrences=occurrences,
            evidence=occurrences,
            rationale=measure.rationale,
            measured=measure.value,
        )
    assert measure.value is not None
    threshold = first_threshold(item.rule.thresholds, measure.value)
    if threshold is not None:
        flags = {flag.id: flag.id in threshold.flags for flag in item.flags}
        return _decided(item, item.rule, threshold, measure, flags=flags)
    return Judgement(
        item_id=item.id,
        error=text("rule.no_threshold", language, v=measure.value),
        needs_review=True,
        evidence=occurrences,
        measured=measure.value,
        rationale=measure.rationale,
    )


def judge_hybrid(
    item: Item, conversation: Conversation, *, language: str = "zh", model: bool = False
) -> Judgement | None:
    """Decide a hybrid item (``decide_by_rule``) before any model call, or None: ask the model.

    Its rules are tried in order; the first whose thresholds hold *fires* and decides the tier
    with its evidence (``audit.decided_by == "rule"``). The flags its threshold raises are
    true; the item's other flags are left undetermined — with a model, the grader still asks
    it for them (:func:`~llm_grader._judging.open_flags`), keeping the rule's tier. When no rule fires (or one
    cannot measure, e.g. no timestamps) the model judges; without one the item is unscored
    ("needs a model") — never 0 or full — with what the rules found in its rationale.
    """
    found: list[str] = []
    for rule in item.decide_by_rule:
        measure = _measure(rule, conversation, language)
        value = measure.value
        threshold = None if value is None else first_threshold(rule.thresholds, value)
        if threshold is None:
            found.append(measure.missing or measure.rationale)
        else:
            rationale = text("rule.decided", language, rationale=measure.rationale)
            flags = dict.fromkeys(threshold.flags, True)
            audit = Audit(decided_by="rule")
            return _decided(item, rule, threshold, measure, flags=flags, rationale=rationale, audit=audit)
    if model:
        return None
    findings = (";" if language == "zh" else "; ").join(found)
    return Judgement(
        item_id=item.id,
        error=text("grader.not_graded", language),
        needs_review=True,
        rationale=text("rule.not_fired", language, findings=findings),
    )


_DATA_CHECKS: dict[str, Callable[[Conversation], bool]] = {
    "notes": lambda c: c.has_notes,
    "timestamps": lambda c: c.has_timestamps,
    "end_times": lambda c: c.has_end_times,
    "audio_features": lambda c: bool(c.metadata.get("audio_features")),
}


def applicability_reason(item: Item, conversation: Conversation, *, language: str = "zh") -> str | None:
    """Why the item does not apply to this conversation (channel, missing data), or None."""
    rule = item.applicability
    if rule is None:
        return None
    if rule.channels is not None and conversation.channel not in rule.channels:
        return text("na.channel", language, channels="/".join(rule.channels), channel=conversation.channel)
    lacking = []
    for need in rule.requires:
        if need.startswith("metadata."):
            present = conversation.metadata.get(need.removeprefix("metadata.")) not in (None, "", [], {})
        else:
            present = _DATA_CHECKS[need](conversation)
        if not present:
            lacking.append(need)
    if lacking:
        return text("na.data", language, what=", ".join(lacking))
    return None
