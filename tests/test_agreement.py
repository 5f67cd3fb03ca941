"""Agreement statistics: published worked examples, scikit-learn/scipy cross-checks, NaN and errors."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections.abc import Hashable, Sequence

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    cohen_kappa_score,
    mean_absolute_error,
    precision_recall_fscore_support,
    root_mean_squared_error,
)
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from llm_grader.agreement import (
    BinaryMetrics,
    binary_metrics,
    cohen_kappa,
    confusion_matrix,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    mae,
    pearson,
    percent_agreement,
    rmse,
    spearman,
)

TIERS = ["poor", "fair", "good"]  # lowest to highest; not alphabetical
N = None


def expand(
    table: Sequence[Sequence[int]], labels: Sequence[Hashable]
) -> tuple[list[Hashable], list[Hashable]]:
    """Rater a (rows) and rater b (columns) item by item from a confusion table."""
    a: list[Hashable] = []
    b: list[Hashable] = []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [labels[i]] * count
            b += [labels[j]] * count
    return a, b


def same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-12)


# ----------------------------------------------------------------------------- Cohen's kappa

# Wikipedia, "Cohen's kappa", simple example: 50 grant proposals read by A and B.
#              B yes  B no
#     A yes      20     5      A yes 25/50 = 0.5
#     A no       10    15      B yes 30/50 = 0.6
# p_o = (20 + 15) / 50 = 0.70
# p_e = 0.5·0.6 + 0.5·0.4 = 0.30 + 0.20 = 0.50
# κ = (0.70 − 0.50) / (1 − 0.50) = 0.40
WIKI_YES_NO = [[20, 5], [10, 15]]


def test_cohen_kappa_wikipedia_example() -> None:
    a, b = expand(WIKI_YES_NO, ["yes", "no"])
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


# Same article, "Same percentage but different numbers": both tables have p_o = 0.60.
#   [[45, 15], [25, 15]]: A yes 0.60, B yes 0.70; p_e = 0.60·0.70 + 0.40·0.30 = 0.54;
#                         κ = (0.60 − 0.54) / 0.46 = 0.1304
#   [[25, 35], [5, 35]]:  A yes 0.60, B yes 0.30; p_e = 0.60·0.30 + 0.40·0.70 = 0.46;
#                         κ = (0.60 − 0.46) / 0.54 = 0.2593
@pytest.mark.parametrize(
    ("table", "expected"),
    [([[45, 15], [25, 15]], 0.06 / 0.46), ([[25, 35], [5, 35]], 0.14 / 0.54)],
)
def test_cohen_kappa_same_agreement_different_kappa(table: list[list[int]], expected: float) -> None:
    a, b = expand(table, ["yes", "no"])
    assert percent_agreement(a, b) == pytest.approx(0.60)
    assert cohen_kappa(a, b) == pytest.approx(expected)
    assert round(cohen_kappa(a, b), 4) in (0.1304, 0.2593)


# Weighted kappa on a 3×3 ordinal table (rows: rater a, columns: rater b; poor < fair < good).
#              poor fair good | rows
#     poor      10    5    1  |  16
#     fair       4   20    6  |  30
#     good       1    4    9  |  14
#     columns   15   29   16  |  n = 60
# Σ row·col over cells one step off the diagonal: 16·29 + 30·15 + 30·16 + 14·29 = 1800;
# two steps off (the corners): 16·16 + 14·15 = 466.
# Observed counts one step off: 5 + 4 + 6 + 4 = 19; two steps off: 1 + 1 = 2.
# Unweighted:  p_o = 39/60 = 0.65, p_e = (16·15 + 30·29 + 14·16)/3600 = 1334/3600 = 0.37056,
#              κ = (0.65 − 0.37056) / (1 − 0.37056) = 0.44395
# Linear (w = 0, 1, 2 steps; the 1/(k−1) scale cancels):
#              κ = 1 − n·Σ w·O / Σ w·row·col = 1 − 60·(19 + 2·2) / (1800 + 2·466)
#                = 1 − 1380/2732 = 0.49488
# Quadratic (w = 0, 1, 4):
#              κ = 1 − 60·(19 + 4·2) / (1800 + 4·466) = 1 − 1620/3664 = 0.55786
ORDINAL_TABLE = [[10, 5, 1], [4, 20, 6], [1, 4, 9]]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (None, (39 / 60 - 1334 / 3600) / (1 - 1334 / 3600)),
        ("linear", 1 - 1380 / 2732),
        ("quadratic", 1 - 1620 / 3664),
    ],
)
def test_weighted_kappa_hand_computed(weights: str | None, expected: float) -> None:
    a, b = expand(ORDINAL_TABLE, TIERS)
    got = cohen_kappa(a, b, weights=weights, labels=TIERS)  # type: ignore[arg-type]
    assert got == pytest.approx(expected)
    assert got == pytest.approx(cohen_kappa_score(a, b, weights=weights, labels=TIERS))


def test_weighted_kappa_depends_on_the_order_of_labels() -> None:
    a, b = expand(ORDINAL_TABLE, TIERS)
    alphabetical = sorted(TIERS)  # fair, good, poor: "poor" would sit next to "good"
    assert cohen_kappa(a, b, weights="linear", labels=alphabetical) == pytest.approx(0.43396, abs=1e-5)
    assert cohen_kappa(a, b, weights="linear", labels=TIERS) == pytest.approx(0.49488, abs=1e-5)
    # Unweighted kappa does not depend on the order.
    assert cohen_kappa(a, b, labels=alphabetical) == pytest.approx(cohen_kappa(a, b, labels=TIERS))


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(40))
def test_cohen_kappa_matches_sklearn(seed: int, weights: str | None) -> None:
    rng = random.Random(seed)
    k = rng.randint(2, 6)
    labels = [f"tier{i}" for i in range(k)]
    rng.shuffle(labels)  # an order that is not the sorted one
    n = rng.randint(20, 80)
    a = [rng.choice(labels) for _ in range(n)]
    # b agrees with a more often than chance, sometimes off by a step.
    b = [x if rng.random() < 0.5 else rng.choice(labels) for x in a]
    ours = cohen_kappa(a, b, weights=weights, labels=labels)  # type: ignore[arg-type]
    assert ours == pytest.approx(cohen_kappa_score(a, b, weights=weights, labels=labels), abs=1e-12)
    # Missing pairs are dropped, exactly as if they were never there.
    a_missing = [*a, None, "tier0"]
    b_missing = [*b, labels[0], None]
    assert cohen_kappa(a_missing, b_missing, weights=weights, labels=labels) == pytest.approx(ours)  # type: ignore[arg-type]


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(10))
def test_cohen_kappa_numbers_without_labels_match_sklearn(seed: int, weights: str | None) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, size=50)
    b = np.clip(a + rng.integers(-1, 2, size=50), 1, 5)
    ours = cohen_kappa(a.tolist(), b.tolist(), weights=weights)  # type: ignore[arg-type]
    assert ours == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)


# ----------------------------------------------------------------------------- Fleiss' kappa

# Fleiss (1971), as worked in Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters, 5 categories.
# Column totals 20, 28, 39, 21, 32 (of 140) → p_j = 0.143, 0.200, 0.279, 0.150, 0.229.
# P_i = (Σ_j n_ij² − 14) / (14·13): numerators 182, 46, 56, 80, 60, 84, 44, 32, 52, 52 → 688.
# P̄  = 688 / (10·182) = 0.37802
# P̄e = (20² + 28² + 39² + 21² + 32²) / 140² = 4170 / 19600 = 0.21276
# κ  = (0.37802 − 0.21276) / (1 − 0.21276) = 0.20993
FLEISS_1971 = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example() -> None:
    p_bar, p_e = 688 / 1820, 4170 / 19600
    assert round(p_bar, 3) == 0.378
    assert round(p_e, 3) == 0.213
    assert fleiss_kappa(FLEISS_1971) == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert round(fleiss_kappa(FLEISS_1971), 4) == 0.2099
    assert fleiss_kappa(np.array(FLEISS_1971)) == pytest.approx(fleiss_kappa(FLEISS_1971))


def test_fleiss_kappa_two_raters_is_scotts_pi() -> None:
    # With two raters Fleiss' kappa is Scott's pi: Wikipedia's 20/5/10/15 table has
    # p_o = 0.70 and pooled shares yes (25 + 30)/100 = 0.55, no 0.45, p_e = 0.55² + 0.45² = 0.505;
    # π = (0.70 − 0.505) / 0.495 = 0.39394.
    a, b = expand(WIKI_YES_NO, ["yes", "no"])
    table = [[(x == "yes") + (y == "yes"), (x == "no") + (y == "no")] for x, y in zip(a, b, strict=True)]
    assert fleiss_kappa(table) == pytest.approx(0.195 / 0.495)


# ----------------------------------------------------------------------------- Krippendorff's alpha

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers ×
# 12 units, missing values. Unit 12 has one value and is not pairable; n = 40 pairable values.
# Coincidence matrix (values 1..5):
#        1     2     3     4    5  | n_c
#   1    7    4/3   1/3   1/3   0  |  9
#   2   4/3   10    4/3   1/3   0  | 13
#   3   1/3   4/3    8    1/3   0  | 10
#   4   1/3   1/3   1/3    4    0  |  5
#   5    0     0     0     0    3  |  3
# nominal:  off-diagonal o = 40 − 32 = 8; Σ_{c≠k} n_c n_k = 40² − (81+169+100+25+9) = 1216;
#           α = 1 − 39·8/1216 = 0.7434
# interval: Σ o δ² = 2·(4/3·1 + 1/3·4 + 1/3·9 + 4/3·1 + 1/3·4 + 1/3·1) = 52/3;
#           Σ n_c n_k δ² = 2·2240 = 4480;  α = 1 − 39·(52/3)/4480 = 1 − 676/4480 = 0.8491
# ordinal:  δ²(c,k) = (Σ_{g=c..k} n_g − (n_c+n_k)/2)², e.g. δ²(1,2) = (22 − 11)² = 121,
#           δ²(1,3) = (32 − 9.5)² = 506.25, δ²(3,4) = (15 − 7.5)² = 56.25;
#           Σ o δ² = 1891, Σ n_c n_k δ² = 399480;  α = 1 − 39·1891/399480 = 0.8154
# The paper reports α = 0.743 (nominal), 0.815 (ordinal), 0.849 (interval).
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


@pytest.mark.parametrize(
    ("level", "expected", "published"),
    [
        ("nominal", 1 - 39 * 8 / 1216, 0.743),
        ("ordinal", 1 - 39 * 1891 / 399480, 0.815),
        ("interval", 1 - 676 / 4480, 0.849),
    ],
)
def test_krippendorff_2011_example(level: str, expected: float, published: float) -> None:
    got = krippendorff_alpha(KRIPPENDORFF_2011, level=level)  # type: ignore[arg-type]
    assert got == pytest.approx(expected)
    assert round(got, 3) == published
    as_array = np.array(KRIPPENDORFF_2011, dtype=float)  # None → NaN
    assert krippendorff_alpha(as_array, level=level) == pytest.approx(expected)  # type: ignore[arg-type]


NAMES = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
ORDER = ["one", "two", "three", "four", "five"]
AS_STRINGS = [[NAMES[v] if v is not None else None for v in row] for row in KRIPPENDORFF_2011]


def test_krippendorff_string_labels() -> None:
    assert krippendorff_alpha(AS_STRINGS) == pytest.approx(1 - 39 * 8 / 1216)
    # Ordinal strings take their order from labels; equally spaced tiers make interval the same too.
    assert krippendorff_alpha(AS_STRINGS, level="ordinal", labels=ORDER) == pytest.approx(
        1 - 39 * 1891 / 399480
    )
    assert krippendorff_alpha(AS_STRINGS, level="interval", labels=ORDER) == pytest.approx(1 - 676 / 4480)
    # A category nobody used changes nothing.
    assert krippendorff_alpha(AS_STRINGS, level="ordinal", labels=[*ORDER, "six"]) == pytest.approx(
        1 - 39 * 1891 / 399480
    )


def reference_alpha(data: list[list[float | None]], level: str) -> float:
    """Alpha from the pairwise definition (Krippendorff 2011, eq. for D_o and D_e), loops only."""
    values = sorted({v for row in data for v in row if v is not None})
    pairable: list[list[float]] = []
    for u in range(len(data[0])):
        unit = [v for row in data if (v := row[u]) is not None]
        if len(unit) >= 2:
            pairable.append(unit)
    n_c = {v: sum(unit.count(v) for unit in pairable) for v in values}
    n = sum(n_c.values())

    def d2(c: float, k: float) -> float:
        if level == "nominal":
            return float(c != k)
        if level == "interval":
            return (c - k) ** 2
        lo, hi = min(c, k), max(c, k)
        return (sum(n_c[g] for g in values if lo <= g <= hi) - (n_c[c] + n_c[k]) / 2) ** 2

    d_o = math.fsum(
        d2(unit[i], unit[j]) / (len(unit) - 1)
        for unit in pairable
        for i in range(len(unit))
        for j in range(len(unit))
        if i != j
    )
    d_e = sum(n_c[c] * n_c[k] * d2(c, k) for c in values for k in values)
    return 1 - (n - 1) * d_o / d_e


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", range(15))
def test_krippendorff_matches_pairwise_definition(seed: int, level: str) -> None:
    rng = random.Random(seed)
    raters, units = rng.randint(2, 5), rng.randint(5, 30)
    truth = [rng.randint(1, 5) for _ in range(units)]
    data: list[list[float | None]] = [
        [None if rng.random() < 0.2 else (t if rng.random() < 0.6 else rng.randint(1, 5)) for t in truth]
        for _ in range(raters)
    ]
    assert krippendorff_alpha(data, level=level) == pytest.approx(reference_alpha(data, level))  # type: ignore[arg-type]


def test_krippendorff_two_raters_nominal_close_to_scotts_pi() -> None:
    # Two raters, no missing values: α = 1 − (n−1)/n·(1 − π) with n = 100 values (Krippendorff 2011, A):
    # π = 0.39394 (see the Fleiss test) → α = 1 − 99/100 · 0.60606 = 0.4 (0.39999…).
    a, b = expand(WIKI_YES_NO, ["yes", "no"])
    pi = 0.195 / 0.495
    assert krippendorff_alpha([a, b]) == pytest.approx(1 - 99 / 100 * (1 - pi))


# ----------------------------------------------------------------------------- Gwet's AC1

# High agreement on a dominant category (the kappa paradox); table attributed to Gwet (2008),
# "Computing inter-rater reliability and its variance in the presence of high agreement",
# reproduced here with the arithmetic redone by hand. 125 subjects:
#              B +    B −
#     A +     118      5      A + = 123/125 = 0.984
#     A −       2      0      B + = 120/125 = 0.960
# p_a = 118/125 = 0.944
# kappa: p_e = 0.984·0.960 + 0.016·0.040 = 0.94464 + 0.00064 = 0.94528
#        κ = (0.944 − 0.94528) / (1 − 0.94528) = −0.00128 / 0.05472 = −0.0234
# AC1:   π+ = (0.984 + 0.960)/2 = 0.972, π− = 0.028
#        p_e = (0.972·0.028 + 0.028·0.972) / (q − 1 = 1) = 0.054432
#        AC1 = (0.944 − 0.054432) / (1 − 0.054432) = 0.889568 / 0.945568 = 0.9408
GWET_PARADOX = [[118, 5], [2, 0]]


def test_gwet_ac1_stays_high_when_kappa_collapses() -> None:
    a, b = expand(GWET_PARADOX, [1, 0])
    assert percent_agreement(a, b) == pytest.approx(0.944)
    assert cohen_kappa(a, b) == pytest.approx(-0.00128 / 0.05472)
    assert round(cohen_kappa(a, b), 3) == -0.023
    assert gwet_ac1(a, b) == pytest.approx(0.889568 / 0.945568)
    assert round(gwet_ac1(a, b), 3) == 0.941
    assert gwet_ac1(a, b, labels=[0, 1]) == pytest.approx(gwet_ac1(a, b))


def test_gwet_ac1_wikipedia_table() -> None:
    # 20/5/10/15: p_a = 0.70; π_yes = (0.5 + 0.6)/2 = 0.55, π_no = 0.45;
    # p_e = 2·0.55·0.45 / 1 = 0.495; AC1 = (0.70 − 0.495)/(1 − 0.495) = 0.40594
    a, b = expand(WIKI_YES_NO, ["yes", "no"])
    assert gwet_ac1(a, b) == pytest.approx(0.205 / 0.505)


def test_gwet_ac1_counts_unused_categories() -> None:
    # Three tiers, "good" dominating: 18 good/good, 1 good/fair, 1 fair/good; "poor" unused.
    # p_a = 18/20 = 0.9; π_good = (19/20 + 19/20)/2 = 0.95, π_fair = 0.05, π_poor = 0.
    # q = 3 (labels): p_e = (0.95·0.05 + 0.05·0.95 + 0) / 2 = 0.0475; AC1 = 0.8525/0.9525 = 0.89501
    # q = 2 (seen):   p_e = 0.095 / 1 = 0.095;                         AC1 = 0.805/0.905 = 0.88950
    # kappa: p_e = 0.95² + 0.05² = 0.905; κ = (0.9 − 0.905)/0.095 = −0.0526
    a = ["good"] * 18 + ["good", "fair"]
    b = ["good"] * 18 + ["fair", "good"]
    assert gwet_ac1(a, b, labels=TIERS) == pytest.approx(0.8525 / 0.9525)
    assert gwet_ac1(a, b) == pytest.approx(0.805 / 0.905)
    assert cohen_kappa(a, b, labels=TIERS) == pytest.approx(-0.005 / 0.095)


# ----------------------------------------------------------------------------- percent agreement

#   a: poor fair good good poor
#   b: fair fair poor good good
#   steps along TIERS:  1    0    2    0    2
# exact: 2/5 = 0.4; within one step: 3/5 = 0.6.
# In alphabetical order (fair, good, poor) the steps would be 2, 0, 1, 0, 1 → 4/5: wrong.
PA_A = ["poor", "fair", "good", "good", "poor"]
PA_B = ["fair", "fair", "poor", "good", "good"]


def test_percent_agreement_with_ordered_labels() -> None:
    assert percent_agreement(PA_A, PA_B, labels=TIERS) == pytest.approx(0.4)
    assert percent_agreement(PA_A, PA_B) == pytest.approx(0.4)
    assert percent_agreement(PA_A, PA_B, tolerance=1, labels=TIERS) == pytest.approx(0.6)
    assert percent_agreement(PA_A, PA_B, tolerance=2, labels=TIERS) == pytest.approx(1.0)
    assert percent_agreement(PA_A, PA_B, tolerance=1, labels=sorted(TIERS)) == pytest.approx(0.8)


def test_percent_agreement_numbers_and_missing() -> None:
    # |1−2| = 1, |2−2| = 0, |3−5| = 2; the pair with None is dropped.
    assert percent_agreement([1, 2, 3, None], [2, 2, 5, 4]) == pytest.approx(1 / 3)
    assert percent_agreement([1, 2, 3, None], [2, 2, 5, 4], tolerance=1) == pytest.approx(2 / 3)
    # With labels the steps are positions along them: on [0, 5, 10], 0–5 and 5–10 are one step,
    # 10–0 two.
    assert percent_agreement([0, 5, 10], [5, 10, 0], tolerance=1, labels=[0, 5, 10]) == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- binary outcome


@pytest.mark.parametrize("seed", range(30))
def test_binary_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    truth = (rng.random(n) < rng.random()).astype(int).tolist()
    predicted = (rng.random(n) < rng.random() * 0.5).astype(int).tolist()
    m = binary_metrics(truth, predicted)
    p, r, f, _ = precision_recall_fscore_support(truth, predicted, average="binary", zero_division=np.nan)
    assert same(m.precision, float(p))
    assert same(m.recall, float(r))
    assert same(m.f1, float(f))
    tn, fp, fn, tp = sk_confusion_matrix(truth, predicted, labels=[0, 1]).ravel()
    assert (m.tp, m.fp, m.fn, m.tn) == (tp, fp, fn, tn)
    assert m.support == sum(truth)


def test_binary_metrics_by_hand_and_nan() -> None:
    # truth 1 1 1 0 0, predicted 1 0 1 1 0: tp 2, fn 1, fp 1, tn 1.
    assert binary_metrics([1, 1, 1, 0, 0], [1, 0, 1, 1, 0]) == BinaryMetrics(
        precision=2 / 3, recall=2 / 3, f1=4 / 6, support=3, tp=2, fp=1, fn=1, tn=1
    )
    # Nothing predicted positive: precision is undefined; recall is 0; f1 = 0/(0 + 0 + 2) = 0.
    m = binary_metrics([1, 0, 1], [0, 0, 0])
    assert math.isnan(m.precision)
    assert (m.recall, m.f1) == (0.0, 0.0)
    # No positives at all: all three undefined.
    m = binary_metrics([False, False], [False, False])
    assert math.isnan(m.precision) and math.isnan(m.recall) and math.isnan(m.f1)
    assert m.tn == 2


def test_confusion_matrix_matches_sklearn() -> None:
    a, b = expand(ORDINAL_TABLE, TIERS)
    assert confusion_matrix(a, b, labels=TIERS) == ORDINAL_TABLE
    assert confusion_matrix(a, b, labels=TIERS) == sk_confusion_matrix(a, b, labels=TIERS).tolist()
    assert confusion_matrix([None], ["poor"], labels=TIERS) == [[0, 0, 0]] * 3


# ----------------------------------------------------------------------------- numeric scores


@pytest.mark.parametrize("seed", range(10))
def test_numeric_scores_match_numpy_and_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(50, 101, size=30).astype(float)  # integer scores: ties for spearman
    y = np.clip(x + rng.normal(0, 8, size=30).round(), 0, 100)
    assert mae(x.tolist(), y.tolist()) == pytest.approx(mean_absolute_error(x, y))
    assert rmse(x.tolist(), y.tolist()) == pytest.approx(float(np.sqrt(np.mean((x - y) ** 2))))
    assert pearson(x.tolist(), y.tolist()) == pytest.approx(stats.pearsonr(x, y).statistic)
    assert spearman(x.tolist(), y.tolist()) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_numeric_scores_drop_missing_pairs() -> None:
    a = [80.0, None, 70.0, 90.0, math.nan]
    b = [85.0, 60.0, 70.0, 80.0, 75.0]
    # Pairs kept: (80, 85), (70, 70), (90, 80): |d| = 5, 0, 10.
    assert mae(a, b) == pytest.approx(5.0)
    assert rmse(a, b) == pytest.approx(math.sqrt(125 / 3))
    assert pearson(a, b) == pytest.approx(stats.pearsonr([80, 70, 90], [85, 70, 80]).statistic)
    assert spearman(a, b) == pytest.approx(0.5)  # ranks 2,1,3 vs 3,1,2: 1 − 6·2/(3·8)


# ----------------------------------------------------------------------------- backed by scikit-learn


def kept(a: Sequence[object], b: Sequence[object]) -> tuple[list[object], list[object]]:
    """The pairs with neither side missing, as two lists."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


@pytest.mark.parametrize("seed", range(20))
def test_confusion_matrix_equals_sklearn_on_random_data(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    a = [rng.choice([*TIERS, None]) for _ in range(n)]
    b = [rng.choice([*TIERS, None]) for _ in range(n)]
    x, y = kept(a, b)
    expected = sk_confusion_matrix(x, y, labels=TIERS).tolist() if x else [[0] * 3] * 3
    assert confusion_matrix(a, b, labels=TIERS) == expected


def test_confusion_matrix_edge_cases_sklearn_refuses_or_warns_on() -> None:
    # No pair left: sklearn raises, we give zeros. One label: sklearn warns (an error under
    # this suite's filterwarnings), we give the single count. Mixed label types: positions.
    assert confusion_matrix([None, "fair"], ["good", None], labels=TIERS) == [[0, 0, 0]] * 3
    assert confusion_matrix(["x", "x", None], ["x", "x", "x"], labels=["x"]) == [[2]]
    assert confusion_matrix(["a", 1, 2.5], [1, 1, "a"], labels=["a", 1, 2.5]) == [
        [0, 1, 0],
        [0, 1, 0],
        [1, 0, 0],
    ]


@pytest.mark.parametrize("seed", range(20))
def test_binary_metrics_equal_sklearn_with_missing_pairs(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 30)
    truth = [rng.choice([0, 1, 1, None]) for _ in range(n)]
    predicted = [rng.choice([0, 0, 1, None]) for _ in range(n)]
    m = binary_metrics(truth, predicted)
    x, y = kept(truth, predicted)
    if not x:
        assert math.isnan(m.precision) and math.isnan(m.recall) and math.isnan(m.f1)
        assert (m.tp, m.fp, m.fn, m.tn, m.support) == (0, 0, 0, 0, 0)
        return
    p, r, f, _ = precision_recall_fscore_support(x, y, average="binary", zero_division=np.nan)
    assert same(m.precision, float(p)) and same(m.recall, float(r)) and same(m.f1, float(f))
    tn, fp, fn, tp = sk_confusion_matrix(x, y, labels=[0, 1]).ravel()
    assert (m.tp, m.fp, m.fn, m.tn) == (tp, fp, fn, tn)


def test_binary_metrics_undefined_cases_stay_nan() -> None:
    m = binary_metrics([None, 1], [0, None])  # no pair left
    assert math.isnan(m.precision) and math.isnan(m.recall) and math.isnan(m.f1)
    assert (m.tp, m.fp, m.fn, m.tn, m.support) == (0, 0, 0, 0, 0)
    m = binary_metrics([0, 0, 1], [0, 0, 0])  # nothing predicted positive
    assert math.isnan(m.precision) and (m.recall, m.f1) == (0.0, 0.0)
    m = binary_metrics([0, 0], [1, 0])  # nothing truly positive
    assert math.isnan(m.recall) and (m.precision, m.f1) == (0.0, 0.0)
    m = binary_metrics([0, False], [0, 0])  # no positive on either side
    assert math.isnan(m.precision) and math.isnan(m.recall) and math.isnan(m.f1)


@pytest.mark.parametrize("seed", range(20))
def test_mae_and_rmse_equal_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 50))
    a = [None if rng.random() < 0.1 else float(v) for v in rng.normal(70, 15, size=n)]
    b = [math.nan if rng.random() < 0.1 else float(v) for v in rng.normal(70, 15, size=n)]
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and not math.isnan(y)]
    if not pairs:
        assert math.isnan(mae(a, b)) and math.isnan(rmse(a, b))
        return
    x, y = np.array(pairs).T
    assert mae(a, b) == pytest.approx(mean_absolute_error(x, y), abs=1e-12)
    assert rmse(a, b) == pytest.approx(root_mean_squared_error(x, y), abs=1e-12)


def test_mae_and_rmse_undefined_and_infinite() -> None:
    assert math.isnan(mae([None], [1.0])) and math.isnan(rmse([1.0], [math.nan]))
    # sklearn refuses infinity; these keep plain arithmetic's answer.
    assert mae([math.inf, 1.0], [0.0, 1.0]) == math.inf
    assert rmse([1.0, -math.inf], [1.0, 0.0]) == math.inf


def test_importing_agreement_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, llm_grader.agreement; "
        "print(sorted(m for m in ('sklearn', 'matplotlib', 'openai', 'instructor') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- undefined → NaN


@pytest.mark.parametrize(
    "value",
    [
        # Both raters used one and the same label: chance agreement is 1.
        pytest.param(cohen_kappa(["good"] * 5, ["good"] * 5), id="kappa-single-label"),
        pytest.param(cohen_kappa(["good"] * 5, ["good"] * 5, labels=TIERS), id="kappa-single-label-labels"),
        pytest.param(cohen_kappa([3] * 4, [3] * 4, weights="quadratic"), id="kappa-weighted-single-label"),
        pytest.param(gwet_ac1(["good"] * 5, ["good"] * 5), id="ac1-one-category"),
        pytest.param(fleiss_kappa([[3, 0], [3, 0]]), id="fleiss-one-category"),
        pytest.param(fleiss_kappa([[1, 0], [0, 1]]), id="fleiss-one-rater"),
        pytest.param(fleiss_kappa([]), id="fleiss-no-subjects"),
        # No unit has two values: nothing is pairable.
        pytest.param(krippendorff_alpha([[1, N, 3], [N, 2, N]]), id="alpha-one-value-per-unit"),
        pytest.param(krippendorff_alpha([[2, 2, 2], [2, 2, N]], level="interval"), id="alpha-no-variation"),
        pytest.param(krippendorff_alpha([[N, N], [N, N]]), id="alpha-all-missing"),
        pytest.param(pearson([1, 2, 3], [5, 5, 5]), id="pearson-zero-variance"),
        pytest.param(pearson([0.1, 0.1, 0.1], [1, 2, 3]), id="pearson-constant-float"),
        pytest.param(pearson([1], [2]), id="pearson-one-pair"),
        pytest.param(spearman([1, 2, 3], [7, 7, 7]), id="spearman-zero-variance"),
        # Empty after dropping pairs with a missing side.
        pytest.param(cohen_kappa([None, "good"], ["poor", None]), id="kappa-empty"),
        pytest.param(gwet_ac1([None], [None]), id="ac1-empty"),
        pytest.param(percent_agreement([], []), id="percent-empty"),
        pytest.param(
            percent_agreement([None], ["fair"], tolerance=1, labels=TIERS), id="percent-empty-tolerance"
        ),
        pytest.param(mae([None, 1.0], [2.0, math.nan]), id="mae-empty"),
        pytest.param(rmse([], []), id="rmse-empty"),
        pytest.param(spearman([None], [None]), id="spearman-empty"),
        pytest.param(binary_metrics([None], [1]).f1, id="binary-empty"),
    ],
)
def test_undefined_is_nan(value: float) -> None:
    assert math.isnan(value)


def test_single_shared_label_with_a_scale_is_defined_for_ac1() -> None:
    # With labels, q = 3: p_a = 1, π_good = 1, p_e = 0 → AC1 = 1, while kappa stays NaN.
    assert gwet_ac1(["good"] * 5, ["good"] * 5, labels=TIERS) == 1.0
    assert math.isnan(cohen_kappa(["good"] * 5, ["good"] * 5, labels=TIERS))


def test_disjoint_single_labels_are_defined() -> None:
    # a always poor, b always good: p_o = 0, p_e = 0 → κ = 0 (defined, not NaN).
    assert cohen_kappa(["poor"] * 3, ["good"] * 3) == 0.0


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cohen_kappa(["good"] * 5, ["good"] * 4), "a and b have different lengths (5 and 4)"),
        (
            lambda: cohen_kappa(["poor", "good"], ["fair", "great"], labels=TIERS),
            "label 'great' in b is not in labels ['poor', 'fair', 'good']",
        ),
        (
            lambda: gwet_ac1(["ok", None], ["poor", "fair"], labels=TIERS),
            "label 'ok' in a is not in labels ['poor', 'fair', 'good']",
        ),
        (
            lambda: cohen_kappa(["poor"], ["poor"], weights="cubic"),  # type: ignore[arg-type]
            "unknown weights 'cubic'; valid: None, 'linear', 'quadratic'",
        ),
        (
            lambda: cohen_kappa(PA_A, PA_B, weights="linear"),
            "weights='linear' needs the order of the categories: pass labels=[...] from lowest to highest",
        ),
        (
            lambda: percent_agreement(PA_A, PA_B, tolerance=1),
            "tolerance=1 needs the order of the categories: pass labels=[...] from lowest to highest",
        ),
        (
            lambda: percent_agreement(PA_A, PA_B, tolerance=-1, labels=TIERS),
            "tolerance must be a whole number of tier steps, 0 or more; got -1",
        ),
        (
            lambda: percent_agreement(PA_A, PA_B, tolerance=0.5, labels=TIERS),  # type: ignore[arg-type]
            "tolerance must be a whole number of tier steps, 0 or more; got 0.5",
        ),
        (
            lambda: cohen_kappa(PA_A, PA_B, labels=[]),
            "labels is empty; pass the categories, or labels=None to use the values seen",
        ),
        (
            lambda: cohen_kappa(PA_A, PA_B, labels=["poor", "fair", "fair", "good"]),
            "labels contains 'fair' more than once",
        ),
        (
            lambda: cohen_kappa(PA_A, PA_B, labels=["poor", None]),
            "labels cannot contain None or NaN: they mark a missing rating",
        ),
        (lambda: cohen_kappa("poor", "good"), "a must be a sequence of labels, not str"),
        (
            lambda: confusion_matrix(["poor"], ["bad"], labels=TIERS),
            "label 'bad' in b is not in labels ['poor', 'fair', 'good']",
        ),
        (
            lambda: krippendorff_alpha(KRIPPENDORFF_2011, level="ratio"),  # type: ignore[arg-type]
            "unknown level 'ratio'; valid: 'nominal', 'ordinal', 'interval'",
        ),
        (
            lambda: krippendorff_alpha(AS_STRINGS, level="ordinal"),
            "level='ordinal' needs the order of the categories: pass labels=[...] from lowest to highest",
        ),
        (
            lambda: krippendorff_alpha(AS_STRINGS, level="interval"),
            "level='interval' needs the order of the categories: pass labels=[...] from lowest to highest",
        ),
        (
            lambda: krippendorff_alpha([[1, 2, 3], [1, 2]]),
            "data rows have different lengths (row 0 has 3 units, row 1 has 2); use None for a unit a rater did not rate",
        ),
        (
            lambda: krippendorff_alpha(AS_STRINGS, labels=ORDER[:4]),
            "label 'five' in data[1] is not in labels ['one', 'two', 'three', 'four']",
        ),
        (
            lambda: fleiss_kappa([[1, 2], [3]]),
            "table rows have different lengths (row 0 has 2 categories, row 1 has 1)",
        ),
        (
            lambda: fleiss_kappa([[7, 7], [7, 6]]),
            "every subject needs the same number of raters: row 0 has 14, row 1 has 13",
        ),
        (lambda: fleiss_kappa([[2, 1], [-1, 4]]), "table[1][0] is -1; a count cannot be negative"),
        (lambda: fleiss_kappa([[2, 1], [1.5, 1.5]]), "table[1][0] is 1.5, not a whole count"),  # type: ignore[list-item]
        (lambda: mae([1, "x"], [1, 2]), "value 'x' in a is not a number"),  # type: ignore[list-item]
        (lambda: pearson([1, 2], [1, 2, 3]), "a and b have different lengths (2 and 3)"),
        (lambda: binary_metrics([1, 0], [1, 2]), "label 2 in predicted is not in labels [0, 1]"),
        (lambda: binary_metrics([1, 0], [1]), "truth and predicted have different lengths (2 and 1)"),
    ],
)
def test_errors(call: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        call()  # type: ignore[operator]
    assert str(info.value) == message


def test_validation_comes_before_nan() -> None:
    # A bad label is reported even when every pair would be dropped.
    with pytest.raises(ValueError, match=r"label 'great' in a"):
        cohen_kappa(["great", None], [None, "good"], labels=TIERS)
