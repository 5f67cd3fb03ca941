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
    "rule.gap": Message(
        "客服最长等待 {v:g} 秒(第 {turn} 轮前)", "longest agent wait {v:g} s (before turn {turn})"
    ),
    "rule.no_gap": Message(
        "没有客服接续发言,无等待时长", "no agent turn follows another turn; no wait to measure"
    ),
    "rule.interruptions": Message("客服在客户说完前抢话 {n} 次", "agent spoke over the customer {n} times"),
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
    # ---------------------------------------------------------------- cli
    # The Chinese column is what the command line has always printed (its messages were
    # English apart from a few rubric terms); the English column translates those terms.
    "cli.error": Message("error: {message}", "error: {message}"),
    "cli.interrupted": Message("interrupted", "interrupted"),
    "cli.check_failed": Message(
        "{rubric}: {errors} error(s), {warnings} warning(s)",
        "{rubric}: {errors} error(s), {warnings} warning(s)",
    ),
    "cli.check_ok": Message(
        "{rubric}: OK — {name} v{version}, {categories} categories, {items} items, {points:g} points "
        "({warnings} warning(s))",
        "{rubric}: OK — {name} v{version}, {categories} categories, {items} items, {points:g} points "
        "({warnings} warning(s))",
    ),
    "cli.per_occurrence": Message("−{points:g}/次", "−{points:g}/occurrence"),
    "cli.severe": Message(", 严重×{multiplier:g}", ", severe ×{multiplier:g}"),
    "cli.cap": Message(", 上限{cap:g}", ", cap {cap:g}"),
    "cli.deducted_from": Message(", 扣自 {items}", ", deducted from {items}"),
    "cli.item_heading": Message(
        "[bold]{name}[/bold] ({id}) — judge: {judge}, max {points:g}",
        "[bold]{name}[/bold] ({id}) — judge: {judge}, max {points:g}",
    ),
    "cli.tier": Message(
        "• {display} ({id}) {points:g}: {description}", "• {display} ({id}) {points:g}: {description}"
    ),
    "cli.deduction": Message("deduction: {deduction}", "deduction: {deduction}"),
    "cli.note": Message("备注/note: {note}", "note: {note}"),
    "cli.flag": Message("flag {id}: {description}", "flag {id}: {description}"),
    "cli.not_applicable_when": Message(
        "not applicable when: {when} (policy: {policy})", "not applicable when: {when} (policy: {policy})"
    ),
    "cli.applies_to": Message(
        "applies to: channels={channels} requires={requires} (otherwise {policy})",
        "applies to: channels={channels} requires={requires} (otherwise {policy})",
    ),
    "cli.rule": Message("rule: {rule}", "rule: {rule}"),
    "cli.no_conversation": Message(
        "no conversation {id!r} in {path!r}; ids: {ids}", "no conversation {id!r} in {path!r}; ids: {ids}"
    ),
    "cli.judged_by_rule": Message(
        "item {id!r} is judged by a rule, not a prompt: {rationale}",
        "item {id!r} is judged by a rule, not a prompt: {rationale}",
    ),
    "cli.response_schema": Message("response schema", "response schema"),
    "cli.conversation_needs_item": Message(
        "--conversation needs --item: prompts are compiled one item at a time",
        "--conversation needs --item: prompts are compiled one item at a time",
    ),
    "cli.rubric_heading": Message(
        "[bold]{name}[/bold] ({id} v{version}, {language}) — max {points:g}",
        "[bold]{name}[/bold] ({id} v{version}, {language}) — max {points:g}",
    ),
    "cli.category": Message("{name} ({points:g})", "{name} ({points:g})"),
    "cli.base_score": Message(" base {points:g}", " base {points:g}"),
    "cli.when_flag": Message("{item}.{flag}", "{item}.{flag}"),
    "cli.when_tier": Message("{item} in {tier}", "{item} in {tier}"),
    "cli.when_count": Message("{item} ≥ {n}", "{item} ≥ {n}"),
    "cli.when_and": Message(" and ", " and "),
    "cli.override_cap": Message(" (cap {cap:g})", " (cap {cap:g})"),
    "cli.override": Message(
        "override [bold]{kind}[/bold]{cap} {id}: when {when} — {reason}",
        "override [bold]{kind}[/bold]{cap} {id}: when {when} — {reason}",
    ),
    "cli.total": Message("{score:g} / {points:g}", "{score:g} / {points:g}"),
    "cli.ungraded": Message(" ({points:g} pts ungraded)", " ({points:g} pts ungraded)"),
    "cli.more_rows": Message("… and {n} more in the output file", "… and {n} more in the output file"),
    "cli.skipped": Message("skipped: {problem}", "skipped: {problem}"),
    "cli.no_model": Message(
        "no model configured: pass --model or set LLM_GRADER_MODEL, "
        "or grade the rule items only with --rules-only",
        "no model configured: pass --model or set LLM_GRADER_MODEL, "
        "or grade the rule items only with --rules-only",
    ),
    "cli.graded": Message(
        "{graded} conversation(s) graded, {skipped} skipped, {unscored} item(s) unscored; "
        "{calls} call(s), {cached_calls} cached, {prompt_tokens} prompt + "
        "{completion_tokens} completion tokens ({cached_tokens} cached); "
        "{seconds:.1f} s; scorecards in {output}",
        "{graded} conversation(s) graded, {skipped} skipped, {unscored} item(s) unscored; "
        "{calls} call(s), {cached_calls} cached, {prompt_tokens} prompt + "
        "{completion_tokens} completion tokens ({cached_tokens} cached); "
        "{seconds:.1f} s; scorecards in {output}",
    ),
    "cli.reusing": Message("reusing {n} scorecard(s) from {path}", "reusing {n} scorecard(s) from {path}"),
    "cli.agreement_title": Message(
        "agreement with humans — {n} conversations", "agreement with humans — {n} conversations"
    ),
    "cli.written": Message("{kind}: {path}", "{kind}: {path}"),
    "cli.no_results": Message("results file {path!r} does not exist", "results file {path!r} does not exist"),
    "cli.page_written": Message("{n} scorecard(s) → {path}", "{n} scorecard(s) → {path}"),
    "cli.cannot_rescore": Message(
        "cannot rescore with {rubric}: the wording, tiers, flags or rule of these items changed "
        "(or they are new): {items}; grade them again",
        "cannot rescore with {rubric}: the wording, tiers, flags or rule of these items changed "
        "(or they are new): {items}; grade them again",
    ),
    "cli.rescored": Message(
        "{n} scorecard(s) rescored with no model call, {changed} total(s) changed; written to {path}",
        "{n} scorecard(s) rescored with no model call, {changed} total(s) changed; written to {path}",
    ),
}
"""Every message, by key (``area.name``)."""


def text(key: str, language: str = "zh", /, **values: object) -> str:
    """The message ``key`` in ``language`` (Chinese when unknown), placeholders filled."""
    message = MESSAGES[key]
    template = message.en if language == "en" else message.zh
    return template.format(**values) if values else template
