"""Reports: the calibration report's renderings and the batch results page, under one name.

The calibration report (JSON, Markdown, HTML, PNG plots of a
:class:`~llm_grader.calibration.CalibrationReport`) is :mod:`llm_grader._calibration_report`;
the results page of a batch of scorecards is :mod:`llm_grader._results_page`. Both write
totals, tiers and points through :mod:`llm_grader._views` and speak the rubric's language.
"""

from __future__ import annotations

from ._calibration_report import plots, to_html, to_json, to_markdown, write_report
from ._results_page import results_html

__all__ = ["plots", "results_html", "to_html", "to_json", "to_markdown", "write_report"]
