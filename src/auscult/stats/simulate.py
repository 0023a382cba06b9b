"""Paired scores with a known AUC difference, to check the engine's calibration.

Binormal model: recording i of class y_i gets, from model m and seed k, the latent score

    x = mu_mk * y_i + sqrt(rho) * z_i + sqrt(1 - rho) * e_mi + tau * eta_mki

with z the recording's own difficulty (shared by both models: the pairing), e the model's
view of it, eta per-seed noise on every recording, and mu_mk = mu_m + seed_sd * xi_mk a
per-seed shift of the separation (a seed that trains better or worse). mu_m is set so that
the model's AUC at the average seed is exactly the asked one:
``AUC = Phi(mu / sqrt(2 (1 + tau^2)))``.

:func:`rejection_rates` runs many such experiments through :func:`auscult.stats.paired.compare`
and reports how often the 95 % test rejects: the false-positive rate when the two AUCs are
equal, the power when they differ.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from auscult.stats.paired import Runs, compare


def _mu(auc: float, tau: float) -> float:
    from scipy import stats

    return math.sqrt(2 * (1 + tau ** 2)) * float(stats.norm.ppf(auc))


def simulate_pair(rng: np.random.Generator, *, n_records: int = 301, prevalence: float = 0.5,
                  auc_a: float = 0.80, delta: float = 0.0, n_seeds: int = 1, rho: float = 0.6,
                  tau: float = 0.5, seed_sd: float = 0.0) -> tuple[Runs, Runs]:
    """Model A with AUC ``auc_a`` and model B with ``auc_a + delta`` on the same recordings."""
    n_pos = int(round(n_records * prevalence))
    y = np.r_[np.ones(n_pos, int), np.zeros(n_records - n_pos, int)]
    z = rng.standard_normal(n_records)
    ids = np.array([f"r{i:05d}" for i in range(n_records)])
    out = []
    for auc in (auc_a, auc_a + delta):
        mu = _mu(auc, tau)
        e = rng.standard_normal(n_records)
        base = math.sqrt(rho) * z + math.sqrt(1 - rho) * e
        scores = np.vstack([(mu + seed_sd * rng.standard_normal()) * y + base + tau * rng.standard_normal(n_records)
                            for _ in range(n_seeds)])
        out.append(Runs(ids, y, scores, np.full(n_seeds, np.nan)))
    return out[0], out[1]


def rejection_rates(settings: Iterable[dict], *, n_sims: int = 400, n_boot: int = 500, seed: int = 0,
                    alpha: float = 0.05) -> list[dict]:
    """For each setting (keyword arguments of :func:`simulate_pair`), the share of ``n_sims``
    experiments in which the paired AUC test rejects at ``alpha``, and the mean interval width."""
    rows = []
    for k, setting in enumerate(settings):
        rng = np.random.default_rng([seed, k])
        rejected, widths, covered = 0, [], 0
        for i in range(n_sims):
            a, b = simulate_pair(rng, **setting)
            c = compare(a, b, "auc", n_boot=n_boot, seed=i, alpha=alpha)
            rejected += c.p_value < alpha
            widths.append(c.ci_high - c.ci_low)
            covered += c.ci_low <= setting.get("delta", 0.0) <= c.ci_high
        rows.append({**setting, "n_sims": n_sims, "rejection_rate": rejected / n_sims,
                     "coverage": covered / n_sims, "mean_ci_width": float(np.mean(widths))})
    return rows
