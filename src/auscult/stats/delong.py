"""DeLong, DeLong & Clarke-Pearson (1988): the variance of two correlated AUCs measured on
the same recordings, by the placement values of each positive and negative (the fast
form of Sun & Xu, 2014). The reference the paired bootstrap engine is checked against.
"""

from __future__ import annotations

import math

import numpy as np

from auscult.evaluation.metrics import _average_ranks as _midranks  # ties get the mean rank


def _placements(y: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    r_all = _midranks(np.r_[pos, neg])
    v10 = (r_all[:m] - _midranks(pos)) / n  # share of negatives below each positive
    v01 = 1.0 - (r_all[m:] - _midranks(neg)) / m  # share of positives above each negative
    return float(v10.mean()), v10, v01


def delong_test(y, score_a, score_b) -> dict:
    """AUCs of two score vectors on the same labelled recordings, their difference (b - a),
    its standard error and the two-sided p-value of DeLong's test."""
    from scipy import stats

    y = np.asarray(y).astype(int)
    auc_a, a10, a01 = _placements(y, np.asarray(score_a, float))
    auc_b, b10, b01 = _placements(y, np.asarray(score_b, float))
    m, n = a10.size, a01.size
    d10, d01 = b10 - a10, b01 - a01
    var = np.var(d10, ddof=1) / m + np.var(d01, ddof=1) / n
    se = math.sqrt(max(var, 0.0))
    diff = auc_b - auc_a
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    return {"auc_a": auc_a, "auc_b": auc_b, "difference": diff, "se": se, "p_value": p}
