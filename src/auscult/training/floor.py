"""The classical reference floor: MFCC + log-mel summary statistics -> scikit-learn.

Not a model of any paper: a floor the deep models should clear, run through each paper's own
protocol so its row is comparable with theirs (tables label it "reference floor (not in the
paper)"). Inputs are the cached ``stats`` vectors of ``features.floor_stats``
(auscult.features.floor); this module imports only numpy, pandas and scikit-learn (no
librosa, no torch), so it runs from cached features anywhere.

Classifier (``floor.model``): ``kind: hgb``, a ``HistGradientBoostingClassifier`` without
early stopping, or ``kind: logreg``, ``StandardScaler`` + L2 ``LogisticRegression``; class
balance by ``class_weight`` ('balanced' or 'none'); ``random_state`` = the run's seed.

Each paper runs it through its own protocol: its module's ``FLOOR`` names the function
(``auscult.papers.<name>.floor.run_floor``), called by the one floor rule
(``workflow/rules/floor.smk``) with the paper's floor feature caches, in the order of its
``datasets(config)``, and writes the files its ``FLOOR_OUTPUTS`` name into the run's folder.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.features.store import load_arrays

KINDS = ("hgb", "logreg")
KEY = "stats"  # the array the floor_stats recipe caches


def make_classifier(model_cfg: Mapping, seed: int):
    """An unfitted scikit-learn classifier for ``model_cfg`` = {kind, <kind>: settings, class_weight}."""
    kind = model_cfg["kind"]
    if kind not in KINDS:
        raise ValueError(f"floor model: kind must be one of {list(KINDS)}, got {kind!r}")
    cw = None if model_cfg["class_weight"] == "none" else model_cfg["class_weight"]
    cfg = model_cfg[kind]
    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            learning_rate=float(cfg["learning_rate"]), max_iter=int(cfg["max_iter"]),
            max_leaf_nodes=int(cfg["max_leaf_nodes"]), min_samples_leaf=int(cfg["min_samples_leaf"]),
            l2_regularization=float(cfg["l2_regularization"]), max_features=float(cfg["max_features"]),
            early_stopping=False, class_weight=cw, random_state=int(seed),
        )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=float(cfg["C"]), max_iter=int(cfg["max_iter"]),
                                                              class_weight=cw, random_state=int(seed)))


def fit(x: np.ndarray, y: np.ndarray, model_cfg: Mapping, seed: int):
    """Fit the floor on (N, D) features and 0/1 labels; deterministic for a given seed."""
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        raise ValueError(f"floor: training labels need both classes, got {np.unique(y).tolist()}")
    return make_classifier(model_cfg, seed).fit(np.asarray(x, dtype=np.float64), y)


def scores(model, x: np.ndarray) -> np.ndarray:
    """Probability of the abnormal class (label 1)."""
    if len(x) == 0:
        return np.zeros(0)
    return model.predict_proba(np.asarray(x, dtype=np.float64))[:, 1]


def load_features(features_dir: str | Path, df: pd.DataFrame) -> np.ndarray:
    return load_arrays(features_dir, [KEY], df["record_id"].tolist(), dtype="float64")[1][KEY]


def device_name() -> str:
    return f"CPU ({platform.processor() or platform.machine()}, scikit-learn)"


def thread_limit(threads: int):
    """Cap the OpenMP/BLAS threads scikit-learn uses (HGB results do not depend on it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a scikit-learn dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=max(1, int(threads)))


def train_record(model_cfg: Mapping, seed: int, n_train: int, n_val: int, n_features: int, wall_s: float,
                  threads: int) -> dict:
    return {"model": dict(model_cfg), "seed": int(seed), "n_train": int(n_train), "n_val": int(n_val),
            "n_features": int(n_features), "wall_s": round(wall_s, 3), "device": "cpu",
            "device_name": device_name(), "threads": int(threads), "weights": "scratch",
            "weights_requested": "scratch", "weights_reason": "classical model: no pretrained weights"}
