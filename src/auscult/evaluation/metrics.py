"""Binary classification metrics, threshold rules, and the ICBHI 4-class cycle metrics (Sp,
Se, Score; bottom of the module). Intervals and comparisons over seeds and recordings:
:mod:`auscult.stats.paired`.

Conventions: label 1 = abnormal = positive class; a recording is predicted positive when
``score >= threshold``. Undefined ratios follow scikit-learn where it has a convention
(precision, F1 and MCC are 0 when their denominator is 0) and are NaN otherwise
(sensitivity without positives, specificity without negatives, AUC with one class).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

THRESHOLD_RULES = ("youden", "max_mcc", "max_f1", "fixed_0.5")
# Keys of binary_metrics that depend on a threshold (everything except 'auc').
THRESHOLD_METRICS = (
    "mcc", "f1", "accuracy", "sensitivity", "specificity", "uar", "precision", "kappa",
)
_TIE_TOL = 1e-12


class DegenerateMetricWarning(UserWarning):
    """A metric is undefined for the given labels (e.g. AUC with a single class)."""


# --------------------------------------------------------------------------- input checks
def _as_labels(y_true) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y.shape}")
    if y.dtype == bool:
        return y.astype(np.int8)
    if y.size and not np.isin(y, (0, 1)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise ValueError(f"y_true must contain only 0/1 labels, found {bad.tolist()}")
    return y.astype(np.int8)


def _as_scores(y_score, n: int) -> np.ndarray:
    s = np.asarray(y_score, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] != n:
        raise ValueError(f"y_score must be 1-D with {n} entries (like y_true), got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("y_score contains NaN or infinite values")
    return s


# --------------------------------------------------------------------------- AUC
def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get the average rank (like scipy.stats.rankdata 'average')."""
    _, inv, cnt = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(cnt)
    return (ends - (cnt - 1) / 2.0)[inv.reshape(-1)]


def roc_auc(y_true, y_score) -> float:
    """ROC-AUC by the Mann-Whitney rank statistic (ties count 1/2); equals
    ``sklearn.metrics.roc_auc_score``. NaN (with a DegenerateMetricWarning) for one class."""
    y = _as_labels(y_true)
    s = _as_scores(y_score, y.shape[0])
    return _auc_unchecked(y, s, warn=True)


def _auc_unchecked(y: np.ndarray, s: np.ndarray, warn: bool = True) -> float:
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        if warn:
            warnings.warn(
                f"ROC-AUC is undefined with a single class (n_pos={n_pos}, n_neg={n_neg}); "
                "returning NaN",
                DegenerateMetricWarning,
                stacklevel=3,
            )
        return float("nan")
    ranks = _average_ranks(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


# --------------------------------------------------------------------------- threshold metrics
def roc_points(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr)``, one point per distinct score from the highest down, starting
    at (0, 0) and keeping only the corners; the same points as
    ``sklearn.metrics.roc_curve`` (``drop_intermediate=True``), without importing
    scikit-learn in the figures job (about a second of its start-up, on the report's serial tail)."""
    y = _as_labels(y_true)
    s = _as_scores(y_score, y.shape[0])
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last_of_score = np.r_[np.flatnonzero(np.diff(s)), y.shape[0] - 1]  # the last index of each score
    tps = np.cumsum(y)[last_of_score].astype(np.float64)
    fps = (last_of_score + 1) - tps
    # drop points on a straight segment between their neighbours (a run of one class)
    if tps.shape[0] > 2:
        corner = np.r_[True, np.logical_or(np.diff(fps, 2) != 0, np.diff(tps, 2) != 0), True]
        tps, fps = tps[corner], fps[corner]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    with np.errstate(invalid="ignore", divide="ignore"):
        return fps / fps[-1], tps / tps[-1]


def _confusion(y: np.ndarray, s: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    pred = s >= threshold
    pos = y == 1
    tp = int(np.count_nonzero(pred & pos))
    fp = int(np.count_nonzero(pred & ~pos))
    fn = int(np.count_nonzero(~pred & pos))
    tn = int(y.shape[0] - tp - fp - fn)
    return tp, fp, tn, fn


def _div(a: float, b: float, undefined: float) -> float:
    return float(a / b) if b else undefined


def metrics_from_confusion(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Threshold metrics from a confusion matrix (abnormal = positive)."""
    n = tp + fp + tn + fn
    p, neg = tp + fn, tn + fp
    pp = tp + fp  # predicted positive
    sens = _div(tp, p, float("nan"))
    spec = _div(tn, neg, float("nan"))
    prec = _div(tp, pp, 0.0)
    f1 = _div(2 * tp, 2 * tp + fp + fn, 0.0)
    acc = _div(tp + tn, n, float("nan"))
    denom = math.sqrt(float(pp) * float(p) * float(neg) * float(tn + fn))
    mcc = _div(float(tp) * tn - float(fp) * fn, denom, 0.0)
    # Cohen's kappa: (p_o - p_e) / (1 - p_e)
    if n:
        p_o = (tp + tn) / n
        p_e = (pp * p + (tn + fn) * neg) / (n * n)
        kappa = _div(p_o - p_e, 1.0 - p_e, 0.0)
    else:
        kappa = float("nan")
    return {
        "mcc": mcc,
        "f1": f1,
        "accuracy": acc,
        "sensitivity": sens,
        "specificity": spec,
        "uar": (sens + spec) / 2.0,
        "precision": prec,
        "kappa": kappa,
    }


def binary_metrics(y_true, y_score, threshold: float) -> dict:
    """All metrics for one set of scores.

    Keys: auc, mcc, f1 (abnormal = positive class), accuracy, sensitivity (recall of class
    1), specificity (recall of class 0), uar (mean of the two recalls), precision, kappa,
    tp, fp, tn, fn, threshold, n, n_pos. Predicted positive means ``score >= threshold``.
    """
    y = _as_labels(y_true)
    s = _as_scores(y_score, y.shape[0])
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    tp, fp, tn, fn = _confusion(y, s, threshold)
    out: dict = {"auc": _auc_unchecked(y, s, warn=True)}
    out.update(metrics_from_confusion(tp, fp, tn, fn))
    out.update(tp=tp, fp=fp, tn=tn, fn=fn, threshold=threshold, n=int(y.shape[0]),
               n_pos=int(y.sum()))
    return out


# --------------------------------------------------------------------------- thresholds
def _candidates(s: np.ndarray) -> np.ndarray:
    """The lowest score (everything positive) and the midpoints between sorted unique scores."""
    u = np.unique(s)
    return np.concatenate([u[:1], (u[:-1] + u[1:]) / 2.0])


def choose_threshold(y_true, y_score, rule: str) -> float:
    """Pick a decision threshold on (validation) scores.

    Rules: 'youden' (max TPR - FPR), 'max_mcc', 'max_f1', 'fixed_0.5'. Candidates are the
    midpoints between consecutive sorted unique scores plus the lowest score (predict all
    positive); among candidates whose value is within 1e-12 of the best, the lowest
    threshold wins, so the choice is deterministic.
    """
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; choose one of {list(THRESHOLD_RULES)}")
    if rule == "fixed_0.5":
        return 0.5
    y = _as_labels(y_true)
    s = _as_scores(y_score, y.shape[0])
    if y.shape[0] == 0:
        raise ValueError("choose_threshold needs at least one score")
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    if rule == "youden" and (n_pos == 0 or n_neg == 0):
        warnings.warn(
            f"Youden's J is undefined with a single class (n_pos={n_pos}, n_neg={n_neg}); "
            "returning threshold 0.5",
            DegenerateMetricWarning,
            stacklevel=2,
        )
        return 0.5
    cand = _candidates(s)
    pos_sorted = np.sort(s[y == 1])
    neg_sorted = np.sort(s[y == 0])
    tp = (n_pos - np.searchsorted(pos_sorted, cand, side="left")).astype(np.float64)
    fp = (n_neg - np.searchsorted(neg_sorted, cand, side="left")).astype(np.float64)
    fn = n_pos - tp
    tn = n_neg - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        if rule == "youden":
            value = tp / n_pos - fp / n_neg
        elif rule == "max_f1":
            denom = 2 * tp + fp + fn
            value = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
        else:  # max_mcc
            denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
            value = np.where(denom > 0, (tp * tn - fp * fn) / np.where(denom > 0, denom, 1), 0.0)
    best = np.max(value)
    idx = int(np.flatnonzero(value >= best - _TIE_TOL)[0])  # candidates are ascending
    return float(cand[idx])


def relative_change(new: float, ref: float) -> float:
    """Relative change in percent: ``(new - ref) / ref * 100`` (NaN with a warning if ref = 0)."""
    new, ref = float(new), float(ref)
    if ref == 0:
        warnings.warn("relative_change: reference is 0; returning NaN", DegenerateMetricWarning,
                      stacklevel=2)
        return float("nan")
    return (new - ref) / ref * 100.0


# --------------------------------------------------------------------------- ICBHI cycles
# ICBHI 2017 4-class cycle metrics (normal 0, crackle 1, wheeze 2, both 3); see
# auscult.papers.ast_sam.evaluate for the definitions (Sp; Se exact and any-abnormal; the two
# Scores). Here, below training, so that training can score epochs without importing the
# evaluation runners.

ICBHI_N_CLASSES = 4
ICBHI_CLASS_NAMES = ("normal", "crackle", "wheeze", "both")
ICBHI_METRICS = ("sp", "se_exact", "se_any", "score_exact", "score_any")


def confusion_matrix(y_true, y_pred, n_classes: int = ICBHI_N_CLASSES) -> np.ndarray:
    """``cm[i, j]`` = cycles of true class i predicted as j (int64, n_classes x n_classes)."""
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y.shape[0]} vs {p.shape[0]}")
    for name, a in (("y_true", y), ("y_pred", p)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} must hold class indices in [0, {n_classes}), got {sorted(set(a.tolist()))[:8]}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y, p), 1)
    return cm


def _cycle_rate(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def icbhi_metrics_from_cm(cm: np.ndarray) -> dict[str, float]:
    """Sp, Se (exact and any-abnormal) and the two Scores from a 4x4 confusion matrix."""
    cm = np.asarray(cm)
    if cm.shape != (ICBHI_N_CLASSES, ICBHI_N_CLASSES):
        raise ValueError(f"expected a {ICBHI_N_CLASSES}x{ICBHI_N_CLASSES} confusion matrix, got {cm.shape}")
    sp = _cycle_rate(cm[0, 0], cm[0].sum())
    n_abnormal = cm[1:].sum()
    se_exact = _cycle_rate(np.trace(cm[1:, 1:]), n_abnormal)
    se_any = _cycle_rate(cm[1:, 1:].sum(), n_abnormal)
    return {
        "sp": sp,
        "se_exact": se_exact,
        "se_any": se_any,
        "score_exact": (sp + se_exact) / 2,
        "score_any": (sp + se_any) / 2,
    }


def icbhi_metrics(y_true, y_pred) -> dict:
    """Metrics of :data:`ICBHI_METRICS` plus ``accuracy``, ``n`` and the confusion matrix (lists)."""
    cm = confusion_matrix(y_true, y_pred)
    out = icbhi_metrics_from_cm(cm)
    n = int(cm.sum())
    out["accuracy"] = _cycle_rate(np.trace(cm), n)
    out["n"] = n
    out["confusion"] = cm.tolist()
    return out
