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
    "grader.unsure": Message("置信度 {c:.2f} 低于 {t:.2f},需复核", "confidence {c:.2f} < {t:.2f}: review"),
    "grader.flag_split": Message("{n}/{k} 次采样判定 {flag} 成立", "{n} of {k} samples raised {flag}"),
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
    "rule.checks": Message(
        "{failed}/{total} 项检查不符合:{details}", "{failed} of {total} checks failed: {details}"
    ),
    "rule.check_pass": Message("{name}符合({rationale})", "{name} passed ({rationale})"),
    "rule.check_fail": Message("{name}不符合({rationale})", "{name} failed ({rationale})"),
    "rule.decided": Message("由规则判定:{rationale}", "decided by rule: {rationale}"),
    "rule.not_fired": Message("规则未判定:{findings}", "no rule decided it: {findings}"),
    # ---------------------------------------------------------------- patterns (rule phrases)
    "pattern.timeout": Message(
        "正则表达式 {pattern!r} 匹配超过 {seconds:g} 秒,已停止;请简化该表达式",
        "regex {pattern!r} took longer than {seconds:g} s and was stopped; simplify it",
    ),
    "pattern.invalid": Message(
        "规则的表达式无法使用:{reason}", "the rule's pattern cannot be used: {reason}"
    ),
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
    "cli.decide_by_rule": Message("decide_by_rule: {rule}", "decide_by_rule: {rule}"),
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
    "cli.sampling": Message(
        "--samples {k}:以温度 {t} 采样(用 --temperature 指定)",
        "--samples {k}: sampling at temperature {t} (choose with --temperature)",
    ),
    "cli.partial": Message("部分 {low}–{high} / {points}", "partial {low}–{high} / {points}"),
    "explain.card": Message("{id}({channel}) {total}", "{id} ({channel}) {total}"),
    "explain.line": Message("{id} {name}:{verdict} — {rationale}", "{id} {name}: {verdict} — {rationale}"),
    "explain.by_rule": Message("由规则判定:", "decided by rule:"),
    "explain.by_model": Message("由模型评判:", "judged by the model:"),
    "explain.not_applicable": Message("不适用:", "not applicable:"),
    "explain.not_graded": Message("未能评分:", "not graded:"),
    "explain.needs_model": Message(
        "需由模型评判({n} 项,{points:g} 分):{items}", "needs a model ({n} items, {points:g} points): {items}"
    ),
    "explain.occurrences": Message(
        "{points:g}(发现 {n} 处,应扣 {due:g})", "{points:g} ({n} found, {due:g} due)"
    ),
    "explain.fired": Message("否决项:{overrides}", "overrides: {overrides}"),
    "explain.pending": Message("待定:{overrides}", "undetermined: {overrides}"),
    "cli.more_rows": Message("… and {n} more in the output file", "… and {n} more in the output file"),
    "cli.skipped": Message("skipped: {problem}", "skipped: {problem}"),
    "cli.failed": Message(
        "{n} conversation(s) with failed items (see their scorecards): {ids}",
        "{n} conversation(s) with failed items (see their scorecards): {ids}",
    ),
    "cli.no_model_calibrate": Message(
        "no model configured: pass --model or set LLM_GRADER_MODEL, "
        "or reuse scorecards graded earlier with --results FILE",
        "no model configured: pass --model or set LLM_GRADER_MODEL, "
        "or reuse scorecards graded earlier with --results FILE",
    ),
    "cli.no_model": Message(
        "no model configured: pass --model or set LLM_GRADER_MODEL, "
        "or grade the rule items only with --rules-only",
        "no model configured: pass --model or set LLM_GRADER_MODEL, "
        "or grade the rule items only with --rules-only",
    ),
    "cli.graded": Message(
        "{graded} conversation(s) graded, {skipped} skipped, {unscored} item(s) unscored; "
        "{calls} call(s), {cached_calls} cached, {prompt_tokens} prompt + "
        "{completion_tokens} completion tokens ({cached_tokens} cached); {cost}; "
        "{seconds:.1f} s; scorecards in {output}",
        "{graded} conversation(s) graded, {skipped} skipped, {unscored} item(s) unscored; "
        "{calls} call(s), {cached_calls} cached, {prompt_tokens} prompt + "
        "{completion_tokens} completion tokens ({cached_tokens} cached); {cost}; "
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
    # ---------------------------------------------------------------- gate (calibrate --min-kappa)
    "gate.failed": Message(
        "一致性未达标({n} 项检查未通过,退出码 5):",
        "agreement below the minimum ({n} check(s) failed, exit code 5):",
    ),
    "gate.passed": Message("一致性达标:{checks}", "agreement at or above the minimum: {checks}"),
    "gate.bad_item": Message(
        "--min-kappa-item {value!r}:应为 ID=阈值(如 politeness=0.6),阈值在 -1 与 1 之间",
        "--min-kappa-item {value!r}: expected ID=THRESHOLD (e.g. politeness=0.6), "
        "a threshold between -1 and 1",
    ),
    # ---------------------------------------------------------------- export (results as tables)
    "export.written": Message(
        "已导出 {n} 行({level} 级)→ {path}", "{n} row(s) at the {level} level written to {path}"
    ),
    # ---------------------------------------------------------------- report (the batch results page)
    "report.total": Message("{score} / {points}", "{score} / {points}"),
    "report.partial": Message("部分 {low}–{high} / {points}", "partial {low}–{high} / {points}"),
    "report.partial_unknown": Message(
        "部分(结果中无分数范围)/ {points}", "partial (no range in the results) / {points}"
    ),
    "report.mean": Message(
        "平均总分 {mean}(完整评分卡 {n} 张)", "mean total {mean} over {n} complete {scorecards}"
    ),
    "report.mean_none": Message("平均总分 —(没有完整评分卡)", "mean total — (no complete scorecard)"),
    "report.left_out": Message(";未计入部分评分卡 {n} 张", "; {n} partial left out"),
    "report.yes": Message("是", "yes"),
    "report.no": Message("否", "no"),
    "report.undetermined": Message("待定", "undetermined"),
    "report.blocked_by": Message("待评项:{items}", "blocked by {items}"),
    "report.fatal": Message("致命差错", "fatal"),
    "report.zero_score": Message("0分", "zero score"),
    "report.none": Message("无", "none"),
    "report.occurrences": Message("{n} 次", "{n} {times}"),
    "report.severe": Message("其中严重 {n} 次", "{n} severe"),
    "report.before_limit": Message("扣分上限前 {points}", "{points} before the group limit"),
    "report.unscored": Message("未评分", "unscored"),
    "report.ungraded_points": Message("{points} 分未评", "{points} points ungraded"),
    "report.masked": Message("发送前已脱敏:{counts}", "masked before sending: {counts}"),
    # ---------------------------------------------------------------- review (复核与申诉)
    "review.skip": Message("跳到正文", "Skip to content"),
    "review.list.heading": Message("复核队列", "Review queue"),
    "review.list.summary": Message(
        "{conversations} 条对话 · {flagged} 个待复核项 · 已复核 {reviewed} · 未复核 {pending} "
        "· 共 {verdicts} 条复核记录",
        "{conversations} conversations · {flagged} flagged items · {reviewed} reviewed · {pending} pending "
        "· {verdicts} verdicts recorded",
    ),
    "review.filters": Message("筛选", "Filters"),
    "review.f.needs_review": Message("需复核", "needs review"),
    "review.f.fatal": Message("致命差错/0分", "fatal or zero score"),
    "review.f.partial": Message("未评出/不完整", "undetermined or partial"),
    "review.f.low_agreement": Message(
        "采样一致率低于 {threshold:.0%}", "sample agreement below {threshold:.0%}"
    ),
    "review.f.pending": Message("尚未复核", "not reviewed yet"),
    "review.f.item": Message("评分项", "item"),
    "review.f.any": Message("(全部)", "(any)"),
    "review.f.field": Message("字段", "field"),
    "review.f.value": Message("字段值", "value"),
    "review.f.text": Message("搜索", "search"),
    "review.f.sort": Message("排序", "sort by"),
    "review.f.descending": Message("倒序", "descending"),
    "review.f.apply": Message("应用", "Apply"),
    "review.f.clear": Message("清除筛选", "Clear filters"),
    "review.sort.id": Message("对话编号", "conversation id"),
    "review.sort.total": Message("总分", "total"),
    "review.sort.fatal": Message("致命差错优先", "fatal first"),
    "review.sort.review": Message("需复核项最多", "most needing review"),
    "review.sort.pending": Message("未复核项最多", "most pending"),
    "review.sort.field": Message("字段值", "field value"),
    "review.exports": Message("导出", "Export"),
    "review.export.human": Message("人工评分 CSV(用于校准)", "human scores CSV (for calibration)"),
    "review.export.sheet": Message("复核表 CSV(电子表格)", "review sheet CSV (spreadsheet)"),
    "review.list.shown": Message("显示 {n} / {total} 条对话", "{n} of {total} conversations shown"),
    "review.list.empty": Message("没有符合筛选条件的对话", "No conversation matches the filters"),
    "review.col.conversation": Message("对话", "conversation"),
    "review.col.total": Message("总分", "total"),
    "review.col.flags": Message("标记", "flags"),
    "review.col.needs_review": Message("需复核", "needs review"),
    "review.col.low_agreement": Message("一致率低", "low agreement"),
    "review.col.pending": Message("未复核", "pending"),
    "review.col.reviewed": Message("已复核/待复核", "reviewed / flagged"),
    "review.tag.fatal": Message("致命差错", "fatal"),
    "review.tag.zero": Message("0分", "zero score"),
    "review.tag.partial": Message("不完整", "partial"),
    "review.tag.overridden": Message("改判 {n}", "{n} overridden"),
    "review.nav": Message("导航", "Navigation"),
    "review.back": Message("← 返回队列", "← Back to the queue"),
    "review.prev": Message("上一条", "Previous"),
    "review.next": Message("下一条", "Next"),
    "review.keys": Message("j / k:上一项/下一项", "j / k: next / previous item"),
    "review.rules_only": Message("仅规则", "rules only"),
    "review.turn": Message("第 {n} 轮", "turn {n}"),
    "review.transcript": Message("对话记录", "Transcript"),
    "review.no_transcript": Message(
        "未提供该对话的记录(--conversations)", "No transcript for this conversation (--conversations)"
    ),
    "review.items": Message("评分项", "Items"),
    "review.grade": Message("评分", "grade"),
    "review.agreement": Message("采样一致率 {share:.0%}", "sample agreement {share:.0%}"),
    "review.reason.needs_review": Message("需复核", "needs review"),
    "review.reason.unscored": Message("未评分", "unscored"),
    "review.reason.low_agreement": Message("一致率低", "low agreement"),
    "review.reason.fatal": Message("涉及致命/0分", "fatal / zero at stake"),
    "review.unverified": Message("原文未找到", "quote not found"),
    "review.saved": Message("已保存", "Saved"),
    "review.verdict_for": Message("{item}的复核", "verdict on {item}"),
    "review.reviewer": Message("复核人", "reviewer"),
    "review.kind": Message("类型", "kind"),
    "review.kind.review": Message("复核", "review"),
    "review.kind.appeal": Message("申诉", "appeal"),
    "review.tier": Message("改判为", "new tier"),
    "review.tier.choose": Message("(选择)", "(choose)"),
    "review.reason": Message("理由", "reason"),
    "review.accept": Message("维持原判", "Accept"),
    "review.override": Message("改判", "Override"),
    "review.hint": Message(
        "申诉:维持 = 申诉驳回,改判 = 申诉成立", "appeal: accept = appeal rejected, override = appeal upheld"
    ),
    "review.history": Message("复核记录({n})", "history ({n})"),
    "review.review_item": Message("复核此项", "Review this item"),
    "review.after_review": Message("复核后 {total}", "after review: {total}"),
    "review.latest.accept": Message("已维持", "accepted"),
    "review.latest.override": Message("已改判 → {tier}", "overridden → {tier}"),
    "review.latest.appeal_rejected": Message("申诉驳回", "appeal rejected"),
    "review.latest.appeal_upheld": Message("申诉成立 → {tier}", "appeal upheld → {tier}"),
    "review.latest.by": Message(" {reviewer} · {at}", " {reviewer} · {at}"),
    "review.error.title": Message("无法保存", "Not saved"),
    "review.error.forbidden": Message("拒绝访问", "Forbidden"),
    "review.error.not_found": Message("未找到", "Not found"),
    "review.serving": Message(
        "复核服务:{url} ({conversations} 条对话,{flagged} 个待复核项,"
        "{verdicts} 条复核记录在 {db});Ctrl+C 停止",
        "review at {url} ({conversations} conversations, {flagged} flagged items, "
        "{verdicts} verdicts in {db}); Ctrl+C stops",
    ),
    "review.exposed": Message(
        "warning: 服务绑定在 {host},其他机器可以访问;每个请求都需要令牌,请只通过此网址打开:{url}",
        "warning: bound to {host}, reachable from other machines; every request needs the token: "
        "open only this URL: {url}",
    ),
    "review.stopped": Message("复核服务已停止;复核记录在 {db}", "review stopped; verdicts are in {db}"),
    "review.no_rubric": Message(
        "结果使用评分表 {rubric!r} 评分,它不是内置评分表:请用 -r 指定评分表文件",
        "the results were graded with rubric {rubric!r}, which is not built in: pass its file with -r",
    ),
    "review.mixed_rubrics": Message(
        "结果中有多个评分表({rubrics}):每次复核一个评分表的结果",
        "the results mix rubrics ({rubrics}): review one rubric's results at a time",
    ),
    "review.no_db": Message("复核数据库 {path!r} 不存在", "verdict database {path!r} does not exist"),
    "review.exported_human": Message(
        "{n} 条人工评分 → {path}(扣分项的维持记录没有档位,未导出 {skipped} 条)",
        "{n} human score(s) → {path} ({skipped} accepted deduction item(s) have no tier and are left out)",
    ),
    "review.exported_sheet": Message("{n} 个待复核项 → {path}", "{n} item(s) to review → {path}"),
    "review.needs_results": Message(
        "--csv 需要 RESULTS.jsonl(复核表由评分结果生成)",
        "--csv needs RESULTS.jsonl (the sheet is made from the results)",
    ),
    "review.imported": Message(
        "从 {path} 导入 {added} 条复核记录({unchanged} 条与现有记录相同,已跳过)→ {db}",
        "{added} verdict(s) imported from {path} ({unchanged} identical to the latest, skipped) → {db}",
    ),
    "review.applied": Message(
        "{n} 张评分卡已应用复核结论({changed} 个总分改变,{verdicts} 条结论)→ {path}",
        "{n} scorecard(s) with verdicts applied ({changed} total(s) changed, {verdicts} verdict(s)) → {path}",
    ),
    "review.unknown_conversations": Message(
        "warning: 复核记录中的对话不在结果中,已忽略:{ids}",
        "warning: verdicts on conversations not in the results, ignored: {ids}",
    ),
}
"""Every message, by key (``area.name``)."""


def text(key: str, language: str = "zh", /, **values: object) -> str:
    """The message ``key`` in ``language`` (Chinese when unknown), placeholders filled."""
    message = MESSAGES[key]
    template = message.en if language == "en" else message.zh
    return template.format(**values) if values else template
