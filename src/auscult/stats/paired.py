"""Intervals and paired comparisons over seeds and recordings.

A model's runs (:class:`Runs`) are its seeds' scores on one set of recordings; every seed
scores every recording, so seeds and recordings are *crossed*. The estimate of a metric is
the mean over seeds of the metric on all recordings. Its variance has two parts:

- **test sampling**: a bootstrap over recordings, stratified by class (and by ``strata``,
  e.g. the PASCAL set, where given). Two models compared on the same recordings get the
  same resampled recordings, so the comparison is paired;
- **seed spread**: the between-seed variance of the metric divided by the number of seeds,
  less the recording-by-seed interaction the recording bootstrap already counts (method of
  moments: ``(V1 - VS) / (S - 1)``, with V1 the bootstrap variance of one seed's metric and
  VS that of the seed mean). With one seed it cannot be estimated: the
  interval then covers test sampling only, and says so.

The interval and the two-sided p-value use a t distribution with Welch-Satterthwaite
degrees of freedom (recordings: N - 1; each model's seeds: S - 1), the variance-sum form of
a two-level bootstrap. ``prob_b_better`` is the t distribution's mass above zero.
The minimum detectable effect is ``(t(1 - alpha/2) + t(power)) * SE``.

Derived metrics go through the same resampling: ``rel_change`` and ``retention`` compare
each seed's score on a target set with the same seed's in-domain AUC (``Runs.reference``,
resampled on its own recordings), per seed, then average over seeds.

Only numpy and scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

# threshold-free, threshold metrics, and derived metrics (need Runs.reference)
RANK_METRICS = ("auc", "auc_within")
THRESHOLD_METRICS = ("uar", "mcc", "f1", "sensitivity", "specificity", "accuracy")
DERIVED_METRICS = ("rel_change", "rel_change_within", "retention", "retention_within")
METRICS = RANK_METRICS + THRESHOLD_METRICS + DERIVED_METRICS
# the range a metric can take: intervals are clipped to it (a t interval over few seeds can
# otherwise reach past 1)
BOUNDS = {**{m: (0.0, 1.0) for m in RANK_METRICS + THRESHOLD_METRICS}, "mcc": (-1.0, 1.0)}


@dataclass(frozen=True)
class Runs:
    """One model's seeds scored on the same recordings.

    ``scores``: (seeds, records); ``thresholds``: (seeds,) decision thresholds (NaN where
    none: threshold metrics then refuse); ``strata``: (records,) group labels (e.g. PASCAL
    set) for ``auc_within`` and stratified resampling; ``reference``: the same seeds' runs
    on the in-domain test set, for the derived metrics.
    """

    record_ids: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    thresholds: np.ndarray
    strata: np.ndarray | None = None
    reference: Runs | None = None

    def __post_init__(self):
        s = np.atleast_2d(np.asarray(self.scores, float))
        object.__setattr__(self, "scores", s)
        object.__setattr__(self, "labels", np.asarray(self.labels).astype(np.int8))
        object.__setattr__(self, "record_ids", np.asarray(self.record_ids).astype(str))
        object.__setattr__(self, "thresholds", np.broadcast_to(np.asarray(self.thresholds, float),
                                                               (s.shape[0],)).copy())
        if s.shape[1] != self.labels.shape[0] or self.record_ids.shape[0] != self.labels.shape[0]:
            raise ValueError(f"scores have {s.shape[1]} records, labels {self.labels.shape[0]}, "
                             f"record ids {self.record_ids.shape[0]}")
        if not np.isfinite(s).all():
            raise ValueError("scores contain NaN or infinite values")
        if self.strata is not None:
            object.__setattr__(self, "strata", np.asarray(self.strata).astype(str))
        if self.reference is not None and self.reference.n_seeds != self.n_seeds:
            raise ValueError(f"the reference runs have {self.reference.n_seeds} seeds, these {self.n_seeds}")

    @property
    def n_seeds(self) -> int:
        return int(self.scores.shape[0])

    @property
    def n_records(self) -> int:
        return int(self.scores.shape[1])

    def relabel(self, labels: np.ndarray) -> Runs:
        """The same scores against other labels (e.g. the PASCAL set: how well the scores
        alone tell the sets apart)."""
        return replace(self, labels=np.asarray(labels), strata=None, reference=None)


# ------------------------------------------------------------------ resampling weights
def resample_weights(labels: np.ndarray, strata: np.ndarray | None, n_boot: int,
                     rng: np.random.Generator) -> np.ndarray:
    """(n_boot, N) counts of a bootstrap over recordings, stratified by class (and stratum):
    every resample keeps each group's size, so no resample loses a class."""
    n = labels.shape[0]
    groups = labels.astype(str) if strata is None else np.char.add(strata.astype(str), labels.astype(str))
    w = np.zeros((n_boot, n), dtype=np.float64)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        w[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=n_boot)
    return w


def _ones(n: int) -> np.ndarray:
    return np.ones((1, n))


# ------------------------------------------------------------------ weighted metrics
def weighted_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUC (ties count 1/2) of each row of weights ``w`` (B, N): the Mann-Whitney statistic
    of the resampled recordings, computed from one sort."""
    order = np.argsort(s, kind="mergesort")
    s, y, w = s[order], y[order], w[:, order]
    _, start = np.unique(s, return_index=True)
    wp = np.add.reduceat(w * (y == 1), start, axis=1)
    wn = np.add.reduceat(w * (y == 0), start, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    num = (wp * (below + 0.5 * wn)).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def weighted_auc_within(y: np.ndarray, s: np.ndarray, w: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    """AUC over (abnormal, normal) pairs from the same stratum only: a score that separates
    the strata (device, site) earns nothing here."""
    if strata is None:
        return weighted_auc(y, s, w)
    num = np.zeros(w.shape[0])
    den = np.zeros(w.shape[0])
    for g in np.unique(strata):
        m = strata == g
        wp, wn = (w[:, m] * (y[m] == 1)).sum(1), (w[:, m] * (y[m] == 0)).sum(1)
        if not (wp.any() and wn.any()):
            continue
        a = weighted_auc(y[m], s[m], w[:, m])
        num += np.nan_to_num(a) * wp * wn
        den += wp * wn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def weighted_threshold_metric(metric: str, y: np.ndarray, s: np.ndarray, w: np.ndarray,
                              threshold: float) -> np.ndarray:
    """A threshold metric (abnormal when score >= threshold) of each row of weights; the
    conventions of :mod:`auscult.evaluation.metrics` (F1, MCC 0 when undefined)."""
    if not math.isfinite(threshold):
        raise ValueError(f"metric {metric!r} needs a decision threshold; these runs have none")
    pred, pos = s >= threshold, y == 1
    tp, fp = w @ (pred & pos), w @ (pred & ~pos)
    fn, tn = w @ (~pred & pos), w @ (~pred & ~pos)
    with np.errstate(invalid="ignore", divide="ignore"):
        sens, spec = tp / (tp + fn), tn / (tn + fp)
        if metric == "sensitivity":
            return sens
        if metric == "specificity":
            return spec
        if metric == "uar":
            return (sens + spec) / 2
        if metric == "accuracy":
            return (tp + tn) / (tp + tn + fp + fn)
        if metric == "f1":
            d = 2 * tp + fp + fn
            return np.where(d > 0, 2 * tp / np.where(d > 0, d, 1), 0.0)
        if metric == "mcc":
            d = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
            return np.where(d > 0, (tp * tn - fp * fn) / np.where(d > 0, d, 1), 0.0)
    raise ValueError(f"unknown metric {metric!r}; one of {list(METRICS)}")


def seed_values(runs: Runs, metric: str, w: np.ndarray, w_ref: np.ndarray | None = None) -> np.ndarray:
    """(seeds, B) values of ``metric`` for every seed under every row of weights."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {list(METRICS)}")
    y, out = runs.labels, []
    for k in range(runs.n_seeds):
        s = runs.scores[k]
        if metric in THRESHOLD_METRICS:
            out.append(weighted_threshold_metric(metric, y, s, w, runs.thresholds[k]))
            continue
        within = metric.endswith("_within")
        auc = weighted_auc_within(y, s, w, runs.strata) if within else weighted_auc(y, s, w)
        if metric in RANK_METRICS:
            out.append(auc)
            continue
        if runs.reference is None or w_ref is None:
            raise ValueError(f"metric {metric!r} needs the in-domain reference runs")
        ref = weighted_auc(runs.reference.labels, runs.reference.scores[k], w_ref)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((auc - ref) / ref * 100 if metric.startswith("rel_change") else (auc - 0.5) / (ref - 0.5))
    return np.vstack(out)


# ------------------------------------------------------------------ variance parts
def _seed_part(full: np.ndarray, boot: np.ndarray) -> tuple[float, float]:
    """(variance of the seed mean due to seeds, its degrees of freedom); 0 with one seed."""
    n = full.shape[0]
    if n < 2:
        return 0.0, math.inf
    between = float(np.var(full, ddof=1)) / n
    one_seed = float(np.nanmean(np.nanvar(boot, axis=1, ddof=1)))
    mean_of_seeds = float(np.nanvar(boot.mean(axis=0), ddof=1))
    interaction = max(one_seed - mean_of_seeds, 0.0) / (n - 1)
    return between - interaction, float(n - 1)


def _satterthwaite(v_rec: float, df_rec: float, parts: Sequence[tuple[float, float]]) -> tuple[float, float]:
    # A seed part may come out negative (its interaction correction is itself an estimate
    # from few seeds): kept in the sum, which stays unbiased; the total is floored at half the
    # recordings' variance, and only positive parts count towards the degrees of freedom.
    # Clipping each part at 0 instead made the test conservative (false-positive rate 0.02
    # instead of 0.05 in benchmarks/calibration.py's setting with per-seed noise).
    total = max(v_rec + sum(v for v, _ in parts), 0.5 * v_rec)
    den = v_rec ** 2 / df_rec + sum(v ** 2 / df for v, df in parts if v > 0 and math.isfinite(df))
    return total, (total ** 2 / den if den > 0 else math.inf)


def _t():
    from scipy import stats

    return stats.t


def _df(df: float) -> float:
    return min(df, 1e6)


@dataclass(frozen=True)
class Estimate:
    """One model's metric: the seed mean, its interval and what the interval covers."""

    metric: str
    value: float
    low: float
    high: float
    se: float
    df: float
    n_seeds: int
    n_records: int
    seed_std: float  # NaN with one seed

    @property
    def covers(self) -> str:
        if self.n_seeds < 2:
            return "test sampling only (1 seed: seed spread not estimable)"
        return f"test sampling and seed spread ({self.n_seeds} seeds)"


def _weights(runs: Runs, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    w = resample_weights(runs.labels, runs.strata, n_boot, rng)
    ref = runs.reference
    w_ref = resample_weights(ref.labels, ref.strata, n_boot, rng) if ref is not None else None
    return w, w_ref


def estimate(runs: Runs, metric: str, *, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> Estimate:
    """The seed-mean metric with a (1 - alpha) interval covering test sampling and seed spread."""
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    w, w_ref = _weights(runs, n_boot, seed)
    full = seed_values(runs, metric, _ones(runs.n_records),
                       _ones(runs.reference.n_records) if runs.reference is not None else None)[:, 0]
    boot = seed_values(runs, metric, w, w_ref)
    value = float(np.mean(full))
    v_rec = float(np.nanvar(boot.mean(axis=0), ddof=1))
    v, df = _satterthwaite(v_rec, max(runs.n_records - 1, 1), [_seed_part(full, boot)])
    se = math.sqrt(v)
    q = float(_t().ppf(1 - alpha / 2, _df(df)))
    std = float(np.std(full, ddof=1)) if runs.n_seeds > 1 else float("nan")
    lo, hi = BOUNDS.get(metric, (-math.inf, math.inf))
    return Estimate(metric, value, max(value - q * se, lo), min(value + q * se, hi), se, df, runs.n_seeds,
                    runs.n_records, std)


@dataclass(frozen=True)
class Comparison:
    """B minus A on the same recordings (paired), over both models' seeds."""

    metric: str
    value_a: float
    value_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    prob_b_better: float
    n_records: int
    n_seeds_a: int
    n_seeds_b: int
    method: str
    se: float
    df: float
    mde: float  # smallest |difference| this test detects with probability `power` at level alpha

    def as_dict(self) -> dict:
        keys = ("metric", "value_a", "value_b", "difference", "ci_low", "ci_high", "p_value", "prob_b_better",
                "n_records", "n_seeds_a", "n_seeds_b", "method")
        return {k: getattr(self, k) for k in keys}


def check_paired(a: Runs, b: Runs) -> None:
    """Both models scored the same recordings with the same labels (in the same order)."""
    if a.n_records != b.n_records or not np.array_equal(a.record_ids, b.record_ids):
        only_a = sorted(set(a.record_ids.tolist()) - set(b.record_ids.tolist()))
        only_b = sorted(set(b.record_ids.tolist()) - set(a.record_ids.tolist()))
        raise ValueError(f"the two models scored different recordings ({len(only_a)} only in A, e.g. "
                         f"{only_a[:3]}; {len(only_b)} only in B, e.g. {only_b[:3]})")
    if not np.array_equal(a.labels, b.labels):
        bad = a.record_ids[a.labels != b.labels]
        raise ValueError(f"labels differ between the two models for {bad.size} recordings, e.g. {bad[:3].tolist()}")
    if (a.strata is None) != (b.strata is None) or (a.strata is not None and not np.array_equal(a.strata, b.strata)):
        raise ValueError("the two models' recordings are grouped (strata) differently")
    if (a.reference is None) != (b.reference is None):
        raise ValueError("only one of the two models has in-domain reference runs")
    if a.reference is not None:
        check_paired(a.reference, b.reference)


def method_text(a: Runs, b: Runs, n_boot: int) -> str:
    if min(a.n_seeds, b.n_seeds) > 1:
        seeds = "seed spread from the between-seed variance (t with Welch-Satterthwaite df)"
    elif max(a.n_seeds, b.n_seeds) > 1:
        one = "A" if a.n_seeds == 1 else "B"
        seeds = (f"seed spread of the model with several seeds (t with Welch-Satterthwaite df); {one} has one "
                 "seed, its seed spread is not covered")
    else:
        seeds = "one seed per model: seed spread not covered"
    return (f"paired bootstrap over recordings stratified by class ({n_boot} resamples, the same for both "
            f"models) + {seeds}")


def compare(a: Runs, b: Runs, metric: str, *, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05,
            power: float = 0.8) -> Comparison:
    """Paired comparison of ``b`` against ``a`` (difference = b - a)."""
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    check_paired(a, b)
    w, w_ref = _weights(a, n_boot, seed)
    ones = _ones(a.n_records)
    ones_ref = _ones(a.reference.n_records) if a.reference is not None else None
    full_a, full_b = (seed_values(r, metric, ones, ones_ref)[:, 0] for r in (a, b))
    boot_a, boot_b = (seed_values(r, metric, w, w_ref) for r in (a, b))
    va, vb = float(np.mean(full_a)), float(np.mean(full_b))
    diff = vb - va
    v_rec = float(np.nanvar(boot_b.mean(axis=0) - boot_a.mean(axis=0), ddof=1))
    v, df = _satterthwaite(v_rec, max(a.n_records - 1, 1), [_seed_part(full_a, boot_a), _seed_part(full_b, boot_b)])
    se = math.sqrt(v)
    t = _t()
    dfc = _df(df)
    q = float(t.ppf(1 - alpha / 2, dfc))
    if not (math.isfinite(se) and math.isfinite(diff)):  # e.g. a ratio over a near-zero denominator
        nan = float("nan")
        return Comparison(metric, va, vb, diff, nan, nan, nan, nan, a.n_records, a.n_seeds, b.n_seeds,
                          method_text(a, b, n_boot) + "; no interval: the metric is unstable on these runs",
                          se, df, nan)
    if se > 0:
        stat = diff / se
        p = float(2 * t.sf(abs(stat), dfc))
        prob = float(t.cdf(stat, dfc))
    else:  # identical score vectors, or constant metrics
        p = 1.0 if diff == 0 else 0.0
        prob = 0.5 if diff == 0 else float(diff > 0)
    mde = (q + float(t.ppf(power, dfc))) * se
    return Comparison(metric, va, vb, diff, diff - q * se, diff + q * se, p, prob, a.n_records, a.n_seeds,
                      b.n_seeds, method_text(a, b, n_boot), se, df, mde)


# ------------------------------------------------------------------ degenerate rows
def is_constant(runs: Runs) -> bool:
    """Every seed gives every recording the same score, or the same side of its threshold
    (a constant predictor: its threshold metrics say nothing about the recordings)."""
    for k in range(runs.n_seeds):
        s = runs.scores[k]
        if np.ptp(s) == 0:
            continue
        t = runs.thresholds[k]
        if math.isfinite(t) and ((s >= t).all() or (s < t).all()):
            continue
        return False
    return True


def identical(a: Runs, b: Runs) -> bool:
    """Two variants with bit-identical score vectors on the same recordings (e.g. the same
    network under two names, trained from the same scratch initialisation)."""
    return (a.scores.shape == b.scores.shape and np.array_equal(a.record_ids, b.record_ids)
            and np.array_equal(a.scores, b.scores))
