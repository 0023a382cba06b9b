"""Metrics against scikit-learn and against the confusion matrix printed in spec §5.2."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from auscult.evaluation import (
    DegenerateMetricWarning,
    binary_metrics,
    choose_threshold,
    relative_change,
    roc_auc,
    roc_points,
)


def _data(n=200, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    s = rng.random(n) + 0.4 * y
    if ties:
        s = np.round(s, 1)
    return y, s


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_auc_equals_sklearn(seed, ties):
    y, s = _data(seed=seed, ties=ties)
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


def test_auc_single_class_is_nan_with_warning():
    with pytest.warns(DegenerateMetricWarning, match="single class"):
        assert np.isnan(roc_auc(np.ones(5, int), np.linspace(0, 1, 5)))
    with pytest.warns(DegenerateMetricWarning):
        m = binary_metrics(np.zeros(4, int), [0.1, 0.2, 0.7, 0.9], 0.5)
    assert np.isnan(m["auc"]) and np.isnan(m["sensitivity"]) and m["specificity"] == 0.5
    assert m["mcc"] == 0.0 and m["f1"] == 0.0 and m["n_pos"] == 0


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.549, 0.9])
def test_binary_metrics_match_sklearn(threshold):
    y, s = _data(seed=3)
    m = binary_metrics(y, s, threshold)
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (tn, fp, fn, tp)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, pos_label=1))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y, pred, pos_label=1))
    assert m["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert m["uar"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred))
    assert m["n"] == len(y) and m["n_pos"] == y.sum() and m["threshold"] == threshold


def test_audiofuse_pascal_confusion_matrix():
    # spec §5.2: TN 42, FP 11, FN 12, TP 23 (N = 88, 53 normal / 35 abnormal), threshold 0.549.
    y = np.array([0] * 53 + [1] * 35)
    s = np.array([0.2] * 42 + [0.8] * 11 + [0.3] * 12 + [0.9] * 23)
    m = binary_metrics(y, s, 0.549)
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (42, 11, 12, 23)
    assert round(m["mcc"], 4) == 0.4519
    assert round(m["accuracy"], 4) == 0.7386
    assert round(m["f1"], 4) == 0.6667
    assert round(m["precision"], 4) == 0.6765
    assert round(m["sensitivity"], 4) == 0.6571
    assert round(m["specificity"], 4) == 0.7925
    assert round(m["kappa"], 4) == 0.4518
    hand = (42 * 23 - 11 * 12) / np.sqrt(53 * 54 * 34 * 35)
    assert m["mcc"] == pytest.approx(hand)


def _brute_force(y, s, value_fn):
    u = np.unique(s)
    cands = np.concatenate([u[:1], (u[:-1] + u[1:]) / 2])
    vals = [value_fn(binary_metrics(y, s, t)) for t in cands]
    best = max(vals)
    return cands[next(i for i, v in enumerate(vals) if v >= best - 1e-12)]


@pytest.mark.parametrize(
    ("rule", "value_fn"),
    [("youden", lambda m: m["sensitivity"] + m["specificity"] - 1),
     ("max_mcc", lambda m: m["mcc"]),
     ("max_f1", lambda m: m["f1"])],
)
@pytest.mark.parametrize("ties", [False, True])
def test_choose_threshold_matches_brute_force(rule, value_fn, ties):
    y, s = _data(n=120, seed=5, ties=ties)
    t = choose_threshold(y, s, rule)
    assert t == pytest.approx(_brute_force(y, s, value_fn))
    u = np.unique(s)
    assert t == u[0] or np.any(np.isclose(t, (u[:-1] + u[1:]) / 2))


@pytest.mark.parametrize("ties", [False, True])
def test_roc_points_equal_sklearn_roc_curve(ties):
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(2, 80))
        y = rng.integers(0, 2, n)
        y[0], y[-1] = 0, 1
        s = rng.integers(0, int(rng.integers(1, 12)), n) / 7.0 if ties else rng.random(n)
        fpr, tpr, _ = skm.roc_curve(y, s)
        got_fpr, got_tpr = roc_points(y, s)
        np.testing.assert_array_equal(got_fpr, fpr)
        np.testing.assert_array_equal(got_tpr, tpr)


def test_youden_equals_sklearn_roc_maximum():
    y, s = _data(n=150, seed=9)
    fpr, tpr, _ = skm.roc_curve(y, s)
    t = choose_threshold(y, s, "youden")
    m = binary_metrics(y, s, t)
    assert m["sensitivity"] + m["specificity"] - 1 == pytest.approx(np.max(tpr - fpr))


def test_choose_threshold_ties_pick_lowest_and_fixed():
    # Perfectly separable: every threshold between 0.3 and 0.7 is optimal; lowest midpoint wins.
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.3, 0.7, 0.9])
    assert choose_threshold(y, s, "youden") == pytest.approx(0.5)
    assert choose_threshold(y, s, "max_mcc") == pytest.approx(0.5)
    # Two separated optima with equal J: scores 0.1(0) 0.2(1) 0.3(0) 0.4(1).
    y2 = np.array([0, 1, 0, 1])
    s2 = np.array([0.1, 0.2, 0.3, 0.4])
    assert choose_threshold(y2, s2, "youden") == pytest.approx(0.15)
    assert choose_threshold(y, s, "fixed_0.5") == 0.5
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(y, s, "max_acc")


def test_relative_change_matches_readme():
    assert relative_change(0.7181, 0.8608) == pytest.approx(-16.577, abs=1e-3)
    assert round(relative_change(0.4873, 0.8066), 1) == -39.6
    assert round(relative_change(0.6782, 0.8223), 1) == -17.5
    with pytest.warns(DegenerateMetricWarning):
        assert np.isnan(relative_change(1.0, 0.0))


def test_input_validation():
    with pytest.raises(ValueError, match="0/1"):
        binary_metrics([0, 2], [0.1, 0.2], 0.5)
    with pytest.raises(ValueError, match="entries"):
        binary_metrics([0, 1], [0.1], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        binary_metrics([0, 1], [0.1, np.nan], 0.5)
