"""A mkdocs hook: the option tables of docs/cli.md, generated from the command line itself.

The marker ``<!-- cli-options -->`` in a page is replaced by one section per command, with
its arguments and every option's help text and default, read from the typer application
(``llm_grader.cli.app``), so the reference cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- cli-options -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _command(prefix: list[str], command: Any) -> list[str]:
    from typer.core import TyperArgument, TyperOption

    lines = [f"### `llm-grader {' '.join(prefix)}`", ""]
    lines += [_cell((command.help or "").split("\n\n")[0]), ""]
    arguments = [p for p in command.params if isinstance(p, TyperArgument)]
    for argument in arguments:
        many = "…" if argument.nargs == -1 else ""
        lines.append(f"- `{(argument.name or '').upper()}{many}` — {_cell(argument.help or '')}")
    if arguments:
        lines.append("")
    options = [p for p in command.params if isinstance(p, TyperOption) and p.name != "help"]
    if options:
        lines += ["| option | meaning |", "|---|---|"]
        for option in options:
            names = ", ".join(f"`{o}`" for o in [*option.opts, *option.secondary_opts])
            text = _cell(option.help or "")
            default = option.default
            if default not in (None, False, "", (), []) and not callable(default):
                if "default" not in text.lower():
                    text += f" Default: `{default}`."
            lines.append(f"| {names} | {text} |")
        lines.append("")
    return lines


def _walk(prefix: list[str], command: Any) -> list[str]:
    if hasattr(command, "commands"):
        return [line for name, sub in command.commands.items() for line in _walk([*prefix, name], sub)]
    return _command(prefix, command)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the marker with the generated option tables."""
    if MARKER not in markdown:
        return markdown
    import typer.main

    from llm_grader.cli import app

    return markdown.replace(MARKER, "\n".join(_walk([], typer.main.get_command(app))))
