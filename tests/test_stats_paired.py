"""The paired statistics engine (auscult.stats.paired): its weighted metrics against
auscult.evaluation.metrics, its one-seed comparison against DeLong's test, a small
calibration run (false-positive rate, power), degenerate inputs and the derived metrics.
Simulations are kept small (seconds on a busy 2-core machine); benchmarks/calibration.py
runs the large version."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auscult.evaluation.metrics import binary_metrics, roc_auc
from auscult.stats.delong import delong_test
from auscult.stats.paired import (
    THRESHOLD_METRICS,
    Runs,
    compare,
    estimate,
    identical,
    is_constant,
    weighted_auc,
    weighted_threshold_metric,
)
from auscult.stats.simulate import rejection_rates, simulate_pair


def _data(n=120, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    y[:2] = [0, 1]
    s = rng.random(n) + 0.4 * y
    return y, (np.round(s, 1) if ties else s)


def _runs(y, scores, threshold=np.nan, ids=None, reference=None):
    scores = np.atleast_2d(scores)
    ids = np.array([f"r{i:04d}" for i in range(len(y))]) if ids is None else ids
    return Runs(ids, y, scores, np.full(scores.shape[0], threshold), reference=reference)


# ------------------------------------------------------------------ weighted metrics
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_auc_with_unit_weights_is_roc_auc(seed, ties):
    y, s = _data(seed=seed, ties=ties)
    assert weighted_auc(y, s, np.ones((1, y.size)))[0] == pytest.approx(roc_auc(y, s), abs=1e-12)


def test_weighted_auc_of_constant_scores_is_one_half():
    y, _ = _data()
    s = np.full(y.size, 0.3)
    assert weighted_auc(y, s, np.ones((1, y.size)))[0] == roc_auc(y, s) == 0.5


@pytest.mark.parametrize("ties", [False, True])
def test_weight_two_equals_a_duplicated_record(ties):
    y, s = _data(seed=3, ties=ties)
    for i in (0, 1, 7, 50):
        w = np.ones((1, y.size))
        w[0, i] = 2
        dup_y, dup_s = np.r_[y, y[i]], np.r_[s, s[i]]
        assert weighted_auc(y, s, w)[0] == pytest.approx(roc_auc(dup_y, dup_s), abs=1e-12)
        for m in THRESHOLD_METRICS:
            assert weighted_threshold_metric(m, y, s, w, 0.6)[0] == pytest.approx(
                binary_metrics(dup_y, dup_s, 0.6)[m], abs=1e-12)


def test_zero_weight_drops_the_record():
    y, s = _data(seed=4, ties=True)
    w = np.ones((1, y.size))
    w[0, 5] = 0
    keep = np.arange(y.size) != 5
    assert weighted_auc(y, s, w)[0] == pytest.approx(roc_auc(y[keep], s[keep]), abs=1e-12)


@pytest.mark.parametrize("threshold", [0.2, 0.55, 0.9, 5.0])
@pytest.mark.parametrize("ties", [False, True])
def test_weighted_threshold_metrics_equal_binary_metrics(threshold, ties):
    y, s = _data(seed=2, ties=ties)
    ref = binary_metrics(y, s, threshold)
    for m in THRESHOLD_METRICS:
        got = weighted_threshold_metric(m, y, s, np.ones((1, y.size)), threshold)[0]
        assert got == pytest.approx(ref[m], abs=1e-12), m


def test_threshold_metric_without_threshold_refuses():
    y, s = _data()
    with pytest.raises(ValueError, match="threshold"):
        compare(_runs(y, s), _runs(y, s + 0.1), "uar", n_boot=10)


# ------------------------------------------------------------------ against DeLong
@pytest.fixture(scope="module")
def delong_agreement():
    rows = []
    rng = np.random.default_rng(2024)
    for delta in (0.0, 0.04, 0.08):
        for i in range(20):
            a, b = simulate_pair(rng, n_records=301, delta=delta)
            c = compare(a, b, "auc", n_boot=1000, seed=i)
            d = delong_test(a.labels, a.scores[0], b.scores[0])
            rows.append((a, b, c, d))
    return rows


def test_one_seed_difference_is_the_exact_auc_difference(delong_agreement):
    for a, b, c, d in delong_agreement:
        assert c.difference == pytest.approx(roc_auc(b.labels, b.scores[0]) - roc_auc(a.labels, a.scores[0]),
                                             abs=1e-12)
        assert c.difference == pytest.approx(d["difference"], abs=1e-12)
        assert c.value_b - c.value_a == pytest.approx(c.difference, abs=1e-15)
        assert c.n_seeds_a == c.n_seeds_b == 1 and c.n_records == 301


def test_one_seed_agrees_with_delong(delong_agreement):
    agree = np.mean([(c.p_value < 0.05) == (d["p_value"] < 0.05) for _, _, c, d in delong_agreement])
    assert agree >= 0.9
    ratio = np.mean([c.se / d["se"] for _, _, c, d in delong_agreement])
    assert abs(ratio - 1) < 0.15, ratio


# ------------------------------------------------------------------ calibration (small)
def test_false_positive_rate_under_the_null():
    rows = rejection_rates([{"delta": 0.0, "n_seeds": 1}, {"delta": 0.0, "n_seeds": 3, "seed_sd": 0.15}],
                           n_sims=150, n_boot=200, seed=7)
    for r in rows:
        assert 0.01 <= r["rejection_rate"] <= 0.11, r


def test_power_at_delta_008_on_301_records():
    (row,) = rejection_rates([{"delta": 0.08, "n_seeds": 1, "n_records": 301}], n_sims=100, n_boot=200, seed=8)
    assert row["rejection_rate"] > 0.6, row


# ------------------------------------------------------------------ degenerate inputs
def test_identical_scores_give_zero_difference_and_p_one():
    rng = np.random.default_rng(5)
    for n_seeds in (1, 3):
        a, _ = simulate_pair(rng, n_records=80, n_seeds=n_seeds)
        b = Runs(a.record_ids, a.labels, a.scores.copy(), a.thresholds)
        c = compare(a, b, "auc", n_boot=200)
        assert c.difference == 0 and c.p_value == 1 and c.prob_b_better == 0.5
        assert identical(a, b)
    assert not identical(a, Runs(a.record_ids, a.labels, a.scores + 1e-9, a.thresholds))


def test_is_constant():
    y, s = _data()
    assert is_constant(_runs(y, np.full(y.size, 0.7)))
    assert is_constant(_runs(y, s, threshold=-1.0))  # every recording abnormal
    assert is_constant(_runs(y, s, threshold=10.0))  # every recording normal
    assert not is_constant(_runs(y, s, threshold=0.6))
    assert not is_constant(_runs(y, s))  # varied scores, no threshold
    assert not is_constant(_runs(y, np.vstack([np.full(y.size, 0.7), s]), threshold=0.6))


def test_mismatched_records_raise_naming_them():
    y, s = _data()
    a = _runs(y, s)
    ids = a.record_ids.astype(object)
    ids[3] = "extra_record"
    with pytest.raises(ValueError, match="extra_record"):
        compare(a, _runs(y, s, ids=ids), "auc", n_boot=10)
    y2 = y.copy()
    y2[4] = 1 - y2[4]
    with pytest.raises(ValueError, match="labels differ.*r0004"):
        compare(a, _runs(y2, s), "auc", n_boot=10)


def test_estimate_with_one_seed():
    y, s = _data()
    e = estimate(_runs(y, s), "auc", n_boot=300)
    assert math.isnan(e.seed_std) and e.n_seeds == 1
    assert "test sampling only" in e.covers
    assert e.value == pytest.approx(roc_auc(y, s)) and e.low < e.value < e.high
    e3 = estimate(_runs(y, np.vstack([s, s + 0.01 * np.arange(y.size), s[::-1]])), "auc", n_boot=300)
    assert e3.seed_std > 0 and "seed spread" in e3.covers and "only" not in e3.covers


# ------------------------------------------------------------------ derived metrics
def test_derived_metrics_equal_the_hand_computation():
    rng = np.random.default_rng(11)
    n_seeds = 3
    ref_a, ref_b = simulate_pair(rng, n_records=150, auc_a=0.85, delta=0.03, n_seeds=n_seeds)
    tgt_a, tgt_b = simulate_pair(rng, n_records=90, auc_a=0.70, delta=0.05, n_seeds=n_seeds)
    a = Runs(tgt_a.record_ids, tgt_a.labels, tgt_a.scores, tgt_a.thresholds, reference=ref_a)
    b = Runs(tgt_b.record_ids, tgt_b.labels, tgt_b.scores, tgt_b.thresholds, reference=ref_b)

    def hand(runs, metric):
        out = []
        for k in range(runs.n_seeds):
            auc = roc_auc(runs.labels, runs.scores[k])
            ref = roc_auc(runs.reference.labels, runs.reference.scores[k])
            out.append((auc - ref) / ref * 100 if metric == "rel_change" else (auc - 0.5) / (ref - 0.5))
        return float(np.mean(out))

    for metric in ("retention", "rel_change"):
        ea, eb = estimate(a, metric, n_boot=200), estimate(b, metric, n_boot=200)
        assert ea.value == pytest.approx(hand(a, metric), abs=1e-12)
        assert eb.value == pytest.approx(hand(b, metric), abs=1e-12)
        c = compare(a, b, metric, n_boot=200)
        assert c.value_a == pytest.approx(hand(a, metric), abs=1e-12)
        assert c.difference == pytest.approx(hand(b, metric) - hand(a, metric), abs=1e-12)
        assert c.ci_low < c.difference < c.ci_high
    with pytest.raises(ValueError, match="reference"):
        compare(tgt_a, tgt_b, "retention", n_boot=10)
