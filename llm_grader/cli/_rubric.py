"""``llm-grader rubric check | show | schema | list | init``: lint, print, list or start rubrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from .._messages import text
from ..errors import LLMGraderError
from ._console import err, out

if TYPE_CHECKING:
    from ..rubric import Condition, Item, Rubric

rubric_app = typer.Typer(help="Check, show, list and start rubrics.", no_args_is_help=True)

RubricArg = Annotated[str, typer.Argument(help="Rubric file (.yaml) or built-in name.")]


@rubric_app.command("check")
def rubric_check(rubric: RubricArg) -> None:
    """Lint a rubric: every problem as file:line: field: message; exit 1 on errors."""
    from ..rubric import check_rubric

    loaded, problems = check_rubric(rubric)
    for problem in problems:
        (err if problem.severity == "error" else out).print(str(problem), markup=False)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    language = loaded.language if loaded is not None else "zh"
    if errors or loaded is None:
        failed = text("cli.check_failed", language, rubric=rubric, errors=errors, warnings=warnings)
        err.print(failed, markup=False)
        raise typer.Exit(1)
    summary = text(
        "cli.check_ok",
        language,
        rubric=rubric,
        name=loaded.name,
        version=loaded.version,
        categories=len(loaded.categories),
        items=sum(1 for _ in loaded.items()),
        points=loaded.max_score,
        warnings=warnings,
    )
    out.print(summary, markup=False)


def _tiers(item: Item, language: str) -> str:
    """The tiers with their points, or the deduction rule, on one line."""
    d = item.deduction
    if d is None:
        return " / ".join(f"{t.display} {item.tier_points(t):g}" for t in item.tiers)
    shown = text("cli.per_occurrence", language, points=d.points)
    if d.severe_multiplier != 1:
        shown += text("cli.severe", language, multiplier=d.severe_multiplier)
    if d.cap is not None:
        shown += text("cli.cap", language, cap=d.cap)
    if d.applies_to:
        shown += text("cli.deducted_from", language, items="/".join(d.applies_to))
    return shown


def _item_lines(item: Item, language: str) -> list[str]:
    """The detail lines of one item under its heading (plain text, no markup)."""
    lines = [item.description] if item.description else []
    lines += [
        text(
            "cli.tier",
            language,
            display=t.display,
            id=t.id,
            points=item.tier_points(t),
            description=t.description,
        )
        for t in item.tiers
    ]
    if item.deduction is not None:
        lines.append(text("cli.deduction", language, deduction=_tiers(item, language)))
    lines += [text("cli.note", language, note=note) for note in item.notes]
    lines += [text("cli.flag", language, id=f.id, description=f.description) for f in item.flags]
    lines += [text("cli.check", language, id=c.id, name=c.label, question=c.question) for c in item.checks]
    if item.thresholds:  # failed checks → tier
        shown = ", ".join(t.model_dump_json(exclude_defaults=True) for t in item.thresholds)
        lines.append(text("cli.rule", language, rule=f"[{shown}]"))
    for n, example in enumerate(item.examples, start=1):
        tier = f" → {example.tier}" if example.tier else ""
        shown = example.text.replace("\n", " / ")
        detail = "".join(f" [{q}]" for q in example.quotes) + (f" — {example.why}" if example.why else "")
        lines.append(text("cli.example", language, n=n, tier=tier, text=shown, detail=detail))
    if item.context:
        lines.append(text("cli.context", language, fields=", ".join(item.context)))
    if item.not_applicable:
        na = item.not_applicable
        lines.append(text("cli.not_applicable_when", language, when=na.when, policy=na.policy))
    if item.applicability:
        a = item.applicability
        channels = ",".join(a.channels or ["all"])
        requires = ",".join(a.requires) or "-"
        lines.append(text("cli.applies_to", language, channels=channels, requires=requires, policy=a.policy))
    if item.rule is not None:
        lines.append(text("cli.rule", language, rule=item.rule.model_dump_json(exclude_defaults=True)))
    lines += [
        text("cli.decide_by_rule", language, rule=r.model_dump_json(exclude_defaults=True))
        for r in item.decide_by_rule
    ]
    return lines


def _show_item(item: Item, language: str) -> None:
    heading = text(
        "cli.item_heading", language, name=item.name, id=item.id, judge=item.judge, points=item.max_points
    )
    out.print(heading)
    for line in _item_lines(item, language):
        out.print(f"  {line}", markup=False)


def _show_prompt(
    rubric: Rubric, item: Item, path: Path, conversation_id: str | None, *, mask: bool, as_json: bool
) -> None:
    """The exact messages and response schema sent for ``item`` on one conversation of ``path``.

    Message text goes to stdout as it is sent, byte for byte (not through rich, which would
    drop control characters).
    """
    from .._rules import judge_rule
    from ..conversation import load_conversations
    from ._grading import make_grader

    language = rubric.language
    batch = load_conversations(path, strict=True)
    chosen = next((c for c in batch if conversation_id in (None, c.id)), None)
    if chosen is None:
        ids = ", ".join(c.id for c in batch)
        raise LLMGraderError(
            text("cli.no_conversation", language, id=conversation_id, path=str(path), ids=ids)
        )
    if item.judge == "rule":
        rationale = judge_rule(item, chosen, language=language).rationale
        out.print(text("cli.judged_by_rule", language, id=item.id, rationale=rationale), markup=False)
        return
    grader = make_grader(rubric, no_mask=not mask, rules_only=True)
    messages, schema = grader.messages(item, chosen), grader.answer_model(item)[1]
    if as_json:
        sys.stdout.write(
            json.dumps({"messages": messages, "response_schema": schema}, ensure_ascii=False) + "\n"
        )
        return
    for message in messages:
        out.rule(f"{message['role']}")
        out.file.flush()
        sys.stdout.write(message["content"])
        sys.stdout.flush()
    out.rule(text("cli.response_schema", language))
    out.print(json.dumps(schema, ensure_ascii=False, indent=2), markup=False, soft_wrap=True)


def _condition(condition: Condition, language: str) -> str:
    if condition.flag:
        return text("cli.when_flag", language, item=condition.item, flag=condition.flag)
    if condition.tier:
        return text("cli.when_tier", language, item=condition.item, tier=condition.tier)
    return text("cli.when_count", language, item=condition.item, n=condition.min_occurrences)


def _show_rubric(rubric: Rubric) -> None:
    """The rubric's heading, a table of its items, and its overrides."""
    language = rubric.language
    heading = text(
        "cli.rubric_heading",
        language,
        name=rubric.name,
        id=rubric.id,
        version=rubric.version,
        language=rubric.language,
        points=rubric.max_score,
    )
    out.print(heading)
    if rubric.description:
        out.print(rubric.description, markup=False)
    if rubric.context:
        out.print(text("cli.context", language, fields=""), markup=False)
        for line in rubric.context.strip().splitlines():
            out.print(f"  {line}", markup=False)
    table = Table(show_lines=False)
    for column in (
        "cli.rubric.category",
        "cli.rubric.item",
        "cli.rubric.id",
        "cli.rubric.judge",
        "cli.rubric.max",
        "cli.rubric.tiers",
    ):
        table.add_column(text(column, language))
    for category in rubric.categories:
        header = text("cli.category", language, name=category.name, points=category.maximum)
        if category.base_score is not None:
            header += text("cli.base_score", language, points=category.base_score)
        for n, it in enumerate(category.items):
            tiers = _tiers(it, language)
            table.add_row(header if n == 0 else "", it.name, it.id, it.judge, f"{it.max_points:g}", tiers)
    out.print(table)
    for override in rubric.overrides:
        when = text("cli.when_and", language).join(_condition(c, language) for c in override.when)
        cap = text("cli.override_cap", language, cap=override.cap) if override.cap is not None else ""
        line = text(
            "cli.override",
            language,
            kind=override.kind,
            cap=cap,
            id=override.id,
            when=when,
            reason=override.reason,
        )
        out.print(line)


@rubric_app.command("show")
def rubric_show(
    rubric: RubricArg,
    item: Annotated[str | None, typer.Option("--item", help="Show one item in full.")] = None,
    conversation: Annotated[
        Path | None,
        typer.Option("--conversation", help="With --item: the exact messages and response schema sent."),
    ] = None,
    conversation_id: Annotated[
        str | None, typer.Option("--id", help="Which conversation of the file (default: the first).")
    ] = None,
    no_mask: Annotated[bool, typer.Option("--no-mask", help="Show personal numbers unmasked.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --conversation: the messages and schema as one JSON object.")
    ] = False,
) -> None:
    """Print a rubric readably; with --item and --conversation, the compiled prompt."""
    from ..rubric import load_rubric

    loaded = load_rubric(rubric)
    if conversation is not None and item is None:
        raise LLMGraderError(text("cli.conversation_needs_item", loaded.language))
    if item is None:
        _show_rubric(loaded)
    elif conversation is None:
        _show_item(loaded.item(item), loaded.language)
    else:
        _show_prompt(
            loaded, loaded.item(item), conversation, conversation_id, mask=not no_mask, as_json=as_json
        )


@rubric_app.command("schema")
def rubric_schema(
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write here.")] = None,  # noqa: UP045
) -> None:
    """Print (or write) the JSON Schema of the rubric format, for editors."""
    from ..rubric import rubric_json_schema

    schema = rubric_json_schema()
    if output is None:
        sys.stdout.write(schema)
    else:
        output.write_text(schema, encoding="utf-8")


@rubric_app.command("list")
def rubric_list() -> None:
    """List the built-in rubrics: id, name, version, language, items and points."""
    from ..rubric import builtin_rubrics, load_rubric

    table = Table(title="built-in rubrics")
    for column in ("id", "name", "version", "language", "items", "points"):
        table.add_column(column)
    for name in builtin_rubrics():
        card = load_rubric(name)
        items = str(sum(1 for _ in card.items()))
        table.add_row(card.id, card.name, card.version, card.language, items, f"{card.max_score:g}")
    out.print(table)


@rubric_app.command("init")
def rubric_init(
    source: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--from", help="Copy this built-in rubric (see `rubric list`) instead of a small card."),
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The card to write (refused when it exists).")
    ] = Path("my_rubric.yaml"),
) -> None:
    """Write a starter card that passes `rubric check`: a small one, or a copy of a built-in one.

    A copy gets the id ``my_<id>`` and version 0.1, so it is not mistaken for the built-in card
    in results. Exit 1 when OUTPUT exists (nothing is replaced) or --from names no built-in card.
    """
    import re

    from ..rubric import builtin_rubrics, check_rubric
    from ._starter import STARTER

    if output.exists():
        raise LLMGraderError(f"{str(output)!r} already exists: choose another -o (nothing was replaced)")
    if source is None:
        body = STARTER.format(id=_starter_id(output), file=output)
    else:
        known = builtin_rubrics()
        if source not in known:
            raise LLMGraderError(f"no built-in rubric {source!r}; built-in rubrics: {', '.join(known)}")
        body = known[source].read_text(encoding="utf-8")
        body = body.replace("# yaml-language-server: $schema=rubric.schema.json\n", "", 1)
        body = re.sub(r"^id: .*$", f"id: my_{source}", body, count=1, flags=re.M)
        body = re.sub(r"^version: .*$", 'version: "0.1"', body, count=1, flags=re.M)
        header = (
            f"# Starter card copied from the built-in rubric {source} by `llm-grader rubric init`.\n"
            f"# Edit it, then check it: llm-grader rubric check {output}\n"
        )
        body = header + body
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(body, encoding="utf-8")
    loaded, problems = check_rubric(output)
    if loaded is None or any(p.severity == "error" for p in problems):  # a bug: the starter must pass
        raise LLMGraderError(f"the starter card {str(output)!r} does not pass `rubric check`: {problems[0]}")
    wrote = f"wrote {output} ({loaded.name}, id {loaded.id}); next: llm-grader rubric check {output}"
    out.print(wrote, markup=False)


def _starter_id(output: Path) -> str:
    """An id for a new card from its file name (``my_rubric.yaml`` → ``my_rubric``)."""
    import re

    stem = re.sub(r"[^a-z0-9_]+", "_", output.stem.lower()).strip("_")
    return stem if stem and stem[0].isalpha() else f"rubric_{stem}".rstrip("_")
