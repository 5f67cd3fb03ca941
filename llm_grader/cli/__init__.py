"""The ``llm-grader`` command line.

:data:`app` is the typer application; :func:`main` is the console script's entry point
(``llm-grader = "llm_grader.cli:main"``, and ``python -m llm_grader``). The commands live
by group:

- :mod:`.rubric` — ``rubric check``, ``rubric show``, ``rubric schema``, ``rubric list``, ``rubric init``
- :mod:`.grade` — ``grade``
- :mod:`.calibrate` — ``calibrate``, ``report``, ``rescore``
- :mod:`.align` — ``align`` (examples from disagreements, measured on held-out scores)
- :mod:`.export` — ``export`` (scorecards as a CSV or Parquet table)
- :mod:`.sample` — ``sample`` (a sampling plan and a stratified review batch for human QA)
- :mod:`.review` — ``review`` (the review page), ``review export``, ``review import``, ``review apply``
- :mod:`._grading` — the shared model options and the one place a grader is made
- :mod:`._console` — the consoles and the tables the commands share

At start-up only typer, rich and the light modules of the package are imported; each
command imports what it needs (the grader and the model client, the calibration
statistics, the report renderers) when it runs.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Annotated

import typer

from .._messages import text
from ..errors import InputError, LLMGraderError, ModelConfigurationError, OutputLockedError, OutputWriteError
from . import _align as align
from . import _calibrate as calibrate
from . import _export as export
from . import _grade as grade
from . import _review as review
from . import _rubric as rubric
from . import _sample as sample
from ._console import err, out
from ._grading import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_WRITE

__all__ = ["app", "main"]

app = typer.Typer(
    name="llm-grader",
    help="Grade customer-service conversations against a QA scorecard (客服质检).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(rubric.rubric_app, name="rubric")
app.command()(grade.grade)
app.command()(calibrate.calibrate)
app.command()(calibrate.report)
app.command()(calibrate.rescore)
app.command()(align.align)
app.command()(export.export)
app.command()(sample.sample)
app.add_typer(review.review_app, name="review")


def _version(value: bool) -> None:
    # The installed distribution's version: the package's ``__init__`` is above the CLI.
    if value:
        from importlib.metadata import PackageNotFoundError, version  # ~30 ms: only for --version

        try:
            shown = version("llm-grader")
        except PackageNotFoundError:  # a source checkout that is not installed
            shown = "unknown"
        out.print(f"llm-grader {shown}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Grade customer-service conversations against a QA scorecard."""


def _warning_line(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    err.print(f"warning: {message}", markup=False)


def _command(argv: Sequence[str]) -> str:
    """The command being run, as typed (``llm-grader review apply``), for the bug line."""
    command: object = typer.main.get_command(app)
    names = ["llm-grader"]
    for arg in argv:
        commands = getattr(command, "commands", None)  # a group's sub-commands by name
        if not isinstance(commands, dict) or arg not in commands:
            break
        command = commands[arg]
        names.append(arg)
    return " ".join(names)


def _bug_line(exc: Exception) -> str:
    """An unexpected exception as one short line, with any API key hidden."""
    from ..llm import redact  # only on this path: the model package is not needed at start-up

    shown = " ".join(f"{type(exc).__name__}: {exc}".split())
    shown = shown if len(shown) <= 300 else shown[:299] + "…"
    key = os.environ.get("OPENAI_API_KEY", "")
    shown = redact(shown, secrets=[key] if key else [])
    # English, as every error message of the library is; "error: " comes from the catalog.
    message = (
        f"{_command(sys.argv[1:])} failed unexpectedly ({shown}); this is a bug in llm-grader: please "
        "report it with the command you ran and this line (LLM_GRADER_TRACEBACK=1 shows the traceback)"
    )
    return text("cli.error", "zh", message=message)


def main() -> None:
    """Entry point of the console script: errors as messages, never tracebacks.

    Exit codes: 0 done; 1 bad input (or conversations skipped), or an unexpected error (a bug:
    one line naming the command; ``LLM_GRADER_TRACEBACK=1`` shows the traceback); 2 bad command-line usage;
    3 items or conversations could not be graded; 4 the model endpoint refused the
    configuration (key, model, URL) or the results file is locked by another run;
    5 ``calibrate --min-kappa``: agreement below the minimum; 6 a results file could not be
    written (disk full, I/O error): the run stopped, the file keeps whole lines; 130
    interrupted (Ctrl-C): ``grade --resume`` goes on.
    """
    warnings.showwarning = _warning_line
    try:
        app()
    except (ModelConfigurationError, OutputLockedError) as exc:
        err.print(text("cli.error", "zh", message=exc), markup=False)
        sys.exit(EXIT_CONFIG)
    except OutputWriteError as exc:
        err.print(text("cli.error", "zh", message=exc), markup=False)
        sys.exit(EXIT_WRITE)
    except InputError as exc:
        for problem in exc.problems:
            err.print(text("cli.error", "zh", message=problem), markup=False)
        sys.exit(1)
    except LLMGraderError as exc:
        err.print(text("cli.error", "zh", message=exc), markup=False)
        sys.exit(1)
    except Exception as exc:  # a bug: one line asking for a report (KeyboardInterrupt is not an Exception)
        if os.environ.get("LLM_GRADER_TRACEBACK"):
            traceback.print_exc()
        err.print(_bug_line(exc), markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print(text("cli.interrupted", "zh"), markup=False)
        sys.exit(EXIT_INTERRUPTED)
