"""Agreement between raters — pure functions, shaped like scikit-learn's metrics.

- :mod:`.kappa` — :func:`cohen_kappa`, :func:`gwet_ac1`, :func:`percent_agreement`,
  :func:`confusion_matrix` (two raters) and :func:`fleiss_kappa` (many raters)
- :mod:`.alpha` — :func:`krippendorff_alpha` (many raters, missing ratings)
- :mod:`.binary` — :func:`binary_metrics` (precision, recall, F1)
- :mod:`.continuous` — :func:`mae`, :func:`rmse`, :func:`pearson`, :func:`spearman`

Where scikit-learn computes the same thing (confusion matrix, precision/recall/F1, MAE,
RMSE) it does so here, imported only when such a function is first called, so importing
this package stays fast.

Conventions shared by every function here:

- **Two raters** are two sequences ``a`` and ``b`` of the same length, one label per item
  (a ``str`` or a number). A pair where either side is missing (``None`` or a float NaN) is
  dropped before anything is computed; the other statistics never see it.
- **labels** fixes the category set and, where a statistic needs one (weighted kappa,
  ``tolerance``, ordinal alpha), the *order* of the categories from lowest to highest. Pass it:
  tiers such as ``["poor", "fair", "good"]`` are not in alphabetical order, and a category
  neither rater used still counts (in Gwet's AC1, in the tier steps of ``tolerance``). Without
  ``labels`` the categories are the values seen; numbers are then ordered numerically, and
  strings have no order, so a statistic that needs one raises.
- **Undefined is NaN, never an exception**: a statistic that has no value on the data (no
  pairs left, no variation to measure agreement against) returns ``math.nan``; each function
  says when. Callers report the number of items next to it.
- **Bad input raises ValueError** before any computation, with the offending value quoted and
  the valid choices listed.
"""

from ._alpha import krippendorff_alpha
from ._binary import BinaryMetrics, binary_metrics
from ._continuous import mae, pearson, rmse, spearman
from ._kappa import cohen_kappa, confusion_matrix, fleiss_kappa, gwet_ac1, percent_agreement

__all__ = [
    "BinaryMetrics",
    "binary_metrics",
    "cohen_kappa",
    "confusion_matrix",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "mae",
    "pearson",
    "percent_agreement",
    "rmse",
    "spearman",
]
