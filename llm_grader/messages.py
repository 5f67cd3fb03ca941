"""All user-facing text in Chinese and English, in one table.

Rationales written by rules and the grader, reasons for not-applicable items, and the
command line's messages all come from :data:`MESSAGES`: one key, the Chinese text beside
the English. :func:`text` picks the language (an unknown language falls back to Chinese,
the seed scorecards' language) and fills the ``str.format`` placeholders. Text that is sent
*to the model* is prompt text and lives in ``prompts/<language>/`` instead.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["LANGUAGES", "MESSAGES", "Message", "text"]


class Message(NamedTuple):
    """One message in both languages."""

    zh: str
    en: str


LANGUAGES: Final = ("zh", "en")
"""The languages every message has."""

MESSAGES: Final[dict[str, Message]] = {
    # ---------------------------------------------------------------- grader
    "grader.not_graded": Message(
        "未评分:该项需由模型评判,当前未配置模型(仅规则模式)",
        "not graded: a model-judged item and no model is configured (rules only)",
    ),
    "grader.not_applicable": Message("不适用:{reason}", "not applicable: {reason}"),
    "grader.low_agreement": Message(
        "{k} 次采样中只有 {n} 次给出 {tier},一致率 {share:.0%} 低于 {threshold:.0%}",
        "only {n} of {k} samples gave {tier}: agreement {share:.0%} below {threshold:.0%}",
    ),
    # ---------------------------------------------------------------- applicability
    "na.channel": Message(
        "仅适用于{channels}渠道,本对话为{channel}",
        "applies to {channels} only; this conversation is a {channel}",
    ),
    "na.data": Message("缺少所需数据:{what}", "the conversation lacks required data: {what}"),
    # ---------------------------------------------------------------- rules
    "rule.phrases": Message(
        "在{scope}中找到 {found}/{total} 项要求用语{detail}",
        "found {found}/{total} required phrases in {scope}{detail}",
    ),
    "rule.forbidden": Message(
        "在{scope}中发现 {n} 处禁用词{detail}", "found {n} forbidden words in {scope}{detail}"
    ),
    "rule.first_response": Message(
        "首次回应用时 {v:g} 秒(自{origin}至第 {turn} 轮客服发言)",
        "first response after {v:g} s (from {origin} to agent turn {turn})",
    ),
    "rule.gap": Message("客服最长等待 {v:g} 秒(第 {turn} 轮前)", "longest agent wait {v:g} s (before turn {turn})"),
    "rule.no_gap": Message(
        "没有客服接续发言,无等待时长", "no agent turn follows another turn; no wait to measure"
    ),
    "rule.interruptions": Message(
        "客服在客户说完前抢话 {n} 次", "agent spoke over the customer {n} times"
    ),
    "rule.rate": Message(
        "客服语速 {v:.2f} 字/秒({chars} 字 / {secs:g} 秒)",
        "agent speaking rate {v:.2f} chars/s ({chars} chars / {secs:g} s)",
    ),
    "rule.origin_customer": Message("客户第 {turn} 轮发言", "customer turn {turn}"),
    "rule.origin_start": Message("通话开始", "the start of the call"),
    "rule.no_threshold": Message(
        "测得值 {v:g} 不在任何阈值范围内", "measured value {v:g} is within no threshold"
    ),
    "rule.no_agent": Message("对话中没有客服发言", "the conversation has no agent turn"),
    "rule.no_times": Message(
        "需要时间戳,但第 {turns} 轮没有开始时间", "needs timestamps, but turn {turns} has no start time"
    ),
    "rule.no_end_times": Message(
        "需要每轮的开始和结束时间(通话 ASR 时间戳),此对话缺少",
        "needs start and end times on every turn (call ASR timestamps); this conversation lacks them",
    ),
    "rule.no_rate_turns": Message(
        "没有同时带开始和结束时间的客服发言,无法计算语速",
        "no agent turn has both start and end times; speaking rate cannot be computed",
    ),
    "rule.scope_any": Message("全部{who}发言", "all {who} turns"),
    "rule.scope_first": Message("{who}前 {n} 轮发言", "the first {n} {who} turns"),
    "rule.scope_last": Message("{who}最后 {n} 轮发言", "the last {n} {who} turns"),
    "rule.agent": Message("客服", "agent"),
    "rule.customer": Message("客户", "customer"),
    "rule.both": Message("客服与客户", "agent and customer"),
    "rule.missing_parts": Message(";缺少:{parts}", "; missing: {parts}"),
    "rule.found_words": Message(":{words}", ": {words}"),
}
"""Every message, by key (``area.name``)."""


def text(key: str, language: str = "zh", /, **values: object) -> str:
    """The message ``key`` in ``language`` (Chinese when unknown), placeholders filled."""
    message = MESSAGES[key]
    template = message.en if language == "en" else message.zh
    return template.format(**values) if values else template
