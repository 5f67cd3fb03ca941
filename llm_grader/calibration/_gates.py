"""Agreement gates: fail a build when the grader agrees too little with the human graders.

The figure gated is each item's model–human kappa from the report (quadratic-weighted for
ordinal items, unweighted for binary ones). The **overall** kappa is the unweighted mean of
the items' kappas — each item counts once, whatever its number of pairs; pooling pairs across
items of different scales would make no kappa at all. Items whose kappa is undefined (NaN: no
pairs, or a single category on both sides) are left out of the mean and named; an overall or
a named item that is NaN fails, never passes.

- :func:`agreement_failures` — the failing lines (empty when every gate passes), for the CLI
- :func:`assert_agreement` — the same as a pytest-friendly ``AssertionError``
- :func:`overall_kappa` — the mean used by the overall gate
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ._models import CalibrationReport, ItemAgreement


def _defined(report: CalibrationReport) -> list[ItemAgreement]:
    return [i for i in report.items if not math.isnan(i.model_human.kappa)]


def overall_kappa(report: CalibrationReport) -> float:
    """The mean of the items' model–human kappas (NaN items left out); NaN when none is defined."""
    kappas = [i.model_human.kappa for i in _defined(report)]
    return sum(kappas) / len(kappas) if kappas else math.nan


def _check_threshold(name: str, threshold: float) -> None:
    if not -1.0 <= threshold <= 1.0:  # NaN fails this too
        raise ValueError(f"{name}: a kappa threshold is between -1 and 1, not {threshold!r}")


def _interval(item: ItemAgreement) -> str:
    ci = item.model_human.kappa_ci
    if ci is None or math.isnan(ci.low) or math.isnan(ci.high):
        return ""
    return f", 95% CI [{ci.low:.2f}, {ci.high:.2f}]"


def _item_failure(report: CalibrationReport, item_id: str, threshold: float) -> str | None:
    """Why one item fails its threshold, or None when it passes."""
    found = next((i for i in report.items if i.item_id == item_id), None)
    if found is None:
        known = ", ".join(i.item_id for i in report.items) or "none"
        return f"{item_id}: not in the calibration report (items compared: {known})"
    kappa = found.model_human.kappa
    n = found.model_human.n
    if math.isnan(kappa):
        return (
            f"{item_id}: kappa undefined (NaN, n={n}: no pairs, or one category only) — "
            f"counts as below {threshold:.3f}"
        )
    if kappa < threshold:
        return f"{item_id}: kappa {kappa:.3f} < {threshold:.3f} (n={n}{_interval(found)})"
    return None


def _overall_failure(report: CalibrationReport, threshold: float) -> str | None:
    kappa = overall_kappa(report)
    defined = len(_defined(report))
    left_out = [i.item_id for i in report.items if math.isnan(i.model_human.kappa)]
    note = f"; left out as undefined: {', '.join(left_out)}" if left_out else ""
    if math.isnan(kappa):
        return (
            f"overall: kappa undefined (NaN: no item has a defined kappa) — counts as below {threshold:.3f}"
        )
    if kappa < threshold:
        return f"overall: mean kappa {kappa:.3f} < {threshold:.3f} (mean of {defined} item(s){note})"
    return None


def agreement_failures(
    report: CalibrationReport,
    *,
    overall: float | None = None,
    items: Mapping[str, float] | None = None,
) -> list[str]:
    """One line per failing gate; empty when everything passes.

    ``overall`` gates the mean kappa (:func:`overall_kappa`); ``items`` gives named items a
    threshold each.

    Raises :class:`ValueError` for a threshold outside [-1, 1].
    """
    thresholds = dict(items or {})
    if overall is not None:
        _check_threshold("overall", overall)
    for item_id, threshold in thresholds.items():
        _check_threshold(item_id, threshold)
    failures = [] if overall is None else [_overall_failure(report, overall)]
    failures += [_item_failure(report, i, t) for i, t in thresholds.items()]
    return [f for f in failures if f is not None]


def assert_agreement(
    report: CalibrationReport,
    min_kappa: float = 0.6,
    items: Sequence[str] | Mapping[str, float] | None = None,
    *,
    overall: float | None = None,
) -> None:
    """Raise :class:`AssertionError` naming every item whose model–human kappa is too low.

    ``items=None`` checks every item of the report against ``min_kappa``; a list of ids checks
    those; a mapping gives each named item its own threshold. ``overall`` also gates the mean
    kappa. An undefined (NaN) kappa, or an id not in the report, fails.
    """
    if items is None:
        if not report.items:
            raise AssertionError("the calibration report compares no item: there is no agreement to check")
        thresholds = {i.item_id: min_kappa for i in report.items}
    elif isinstance(items, Mapping):
        thresholds = dict(items)
    elif isinstance(items, str):
        raise TypeError("items is a list of item ids or a mapping of id to threshold, not one string")
    else:
        thresholds = dict.fromkeys(items, min_kappa)
    failures = agreement_failures(report, overall=overall, items=thresholds)
    if failures:
        header = f"model–human agreement below the minimum on {len(failures)} check(s):"
        raise AssertionError("\n".join([header, *(f"  {f}" for f in failures)]))
