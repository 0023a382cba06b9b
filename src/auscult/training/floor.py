"""The classical reference floor: MFCC + log-mel summary statistics -> scikit-learn.

Not a model of any paper: a floor the deep models should clear, run through each paper's own
protocol so its row is comparable with theirs (tables label it "reference floor (not in the
paper)"). Inputs are the cached ``stats`` vectors of ``features.floor_stats``
(auscult.features.floor); this module imports only numpy, pandas and scikit-learn (no
librosa, no torch), so it runs from cached features anywhere.

Classifier (``floor.model``): ``kind: hgb``, a ``HistGradientBoostingClassifier`` without
early stopping, or ``kind: logreg``, ``StandardScaler`` + L2 ``LogisticRegression``; class
balance by ``class_weight`` ('balanced' or 'none'); ``random_state`` = the run's seed.

- AudioFuse protocol (:func:`run_audiofuse`): the same train / validation / test records as
  the deep models (auscult.papers.audiofuse.train.protocol_splits), threshold chosen on the
  validation split with the paper's ``threshold_rule``, PASCAL zero-shot on all labelled
  recordings and head-retrained (here: the floor re-fitted on the PASCAL train part of the
  same carve, threshold on its inner validation part); ``metrics.json`` and
  ``predictions.csv`` in the format of auscult.papers.audiofuse.evaluate.run_evaluation.
- Koike protocol (:func:`run_koike`): the same 3:1:1 parts (auscult.papers.koike.train
  .protocol_splits); no model selection on dev (nothing to select), dev and test scored once;
  ``split.csv``, ``predictions.csv`` and ``train_summary.json`` as koike_run_<model> writes them.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.atomic import write_csv, write_json
from auscult.evaluation.metrics import binary_metrics, choose_threshold
from auscult.features.store import load_arrays, read_index
from auscult.papers.audiofuse import train as af_protocol
from auscult.papers.koike import train as koike_protocol

log = logging.getLogger(__name__)
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


def _features(features_dir: str | Path, df: pd.DataFrame) -> np.ndarray:
    return load_arrays(features_dir, [KEY], df["record_id"].tolist(), dtype="float64")[1][KEY]


def _device() -> str:
    return f"CPU ({platform.processor() or platform.machine()}, scikit-learn)"


def _threads(threads: int):
    """Cap the OpenMP/BLAS threads scikit-learn uses (HGB results do not depend on it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a scikit-learn dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=max(1, int(threads)))


def _train_record(model_cfg: Mapping, seed: int, n_train: int, n_val: int, n_features: int, wall_s: float,
                  threads: int) -> dict:
    return {"model": dict(model_cfg), "seed": int(seed), "n_train": int(n_train), "n_val": int(n_val),
            "n_features": int(n_features), "wall_s": round(wall_s, 3), "device": "cpu",
            "device_name": _device(), "threads": int(threads), "weights": "scratch",
            "weights_requested": "scratch", "weights_reason": "classical model: no pretrained weights"}


def run_audiofuse(
    *,
    train_features: str | Path,
    transfer_features: str | Path,
    floor_params: Mapping,
    seed: int,
    out_metrics: str | Path,
    out_predictions: str | Path,
    threads: int = 1,
) -> dict:
    """The floor under every AudioFuse protocol for one seed (see the module docstring).

    ``floor_params`` is :func:`auscult.layout.floor_slice` of ``audiofuse``: model, split,
    max_train_records, threshold_rule, head_retrain (test_fraction, val_fraction, seed)."""
    with _threads(threads):
        return _run_audiofuse(train_features, transfer_features, floor_params, seed, out_metrics, out_predictions,
                              threads)


def _run_audiofuse(train_features, transfer_features, floor_params, seed, out_metrics, out_predictions,
                   threads) -> dict:
    t0 = time.perf_counter()
    model_cfg, rule = floor_params["model"], floor_params["threshold_rule"]
    parts = af_protocol.protocol_splits(read_index(train_features), floor_params["split"], floor_params["max_train_records"])
    x = {name: _features(train_features, df) for name, df in parts.items()}
    y = {name: df["label"].to_numpy() for name, df in parts.items()}
    model = fit(x["train"], y["train"], model_cfg, seed)
    train_s = time.perf_counter() - t0
    metrics: dict = {"seed": int(seed), "n_params": None,
                     "train": _train_record(model_cfg, seed, len(y["train"]), len(y["val"]), x["train"].shape[1],
                                            train_s, threads)}
    preds: list[pd.DataFrame] = []

    def record(name: str, df: pd.DataFrame, s: np.ndarray, thr: float, dataset: str) -> None:
        metrics[name] = binary_metrics(df["label"].to_numpy(), s, thr)
        metrics[name + "@0.5"] = binary_metrics(df["label"].to_numpy(), s, 0.5)
        preds.append(pd.DataFrame({"protocol": name, "dataset": dataset, "record_id": df["record_id"],
                                   "label": df["label"].to_numpy(), "score": s, "threshold": thr}))

    s_val, s_test = scores(model, x["val"]), scores(model, x["test"])
    thr = choose_threshold(y["val"], s_val, rule)
    metrics["threshold"] = {"rule": rule, "value": thr, "chosen_on": "physionet validation split"}
    record("physionet_val", parts["val"], s_val, thr, "physionet2016")
    record("physionet_test", parts["test"], s_test, thr, "physionet2016")

    pascal = read_index(transfer_features)
    x_pascal = _features(transfer_features, pascal)
    s_zero = scores(model, x_pascal)
    record("pascal_zero_shot", pascal, s_zero, thr, "pascal")
    pos = pd.Series(range(len(pascal)), index=pascal["record_id"])
    hr = floor_params["head_retrain"]
    for name, group in af_protocol.HEAD_RETRAIN_PROTOCOLS.items():
        hp = af_protocol.head_retrain_splits(pascal, hr, group)
        xi = {k: x_pascal[pos.loc[df["record_id"]].to_numpy()] for k, df in hp.items()}
        refit = fit(xi["train"], hp["train"]["label"].to_numpy(), model_cfg, seed)
        thr_hr = choose_threshold(hp["val"]["label"].to_numpy(), scores(refit, xi["val"]), rule)
        record(name, hp["test"], scores(refit, xi["test"]), thr_hr, "pascal")
        if group is None:
            record("pascal_zero_shot_split", hp["test"], s_zero[pos.loc[hp["test"]["record_id"]].to_numpy()],
                   thr, "pascal")

    metrics["wall_s"] = round(time.perf_counter() - t0, 3)
    metrics["device"] = "cpu"
    write_csv(out_predictions, pd.concat(preds, ignore_index=True))
    write_json(out_metrics, metrics)
    log.info("floor (audiofuse protocol) seed %s: physionet test AUC %.4f, %.1f s", seed,
             metrics["physionet_test"]["auc"], metrics["wall_s"])
    return metrics


def run_koike(
    *,
    features_dir: str | Path,
    floor_params: Mapping,
    seed: int,
    out_dir: str | Path,
    threads: int = 1,
) -> dict:
    """The floor under the Koike 3:1:1 protocol for one seed; writes split.csv,
    predictions.csv (dev and test scores) and train_summary.json into ``out_dir``.

    ``floor_params`` is :func:`auscult.layout.floor_slice` of ``koike``: model, split,
    max_train_records, max_eval_records. The tables score test at probability 0.5."""
    with _threads(threads):
        return _run_koike(features_dir, floor_params, seed, Path(out_dir), threads)


def _run_koike(features_dir, floor_params, seed, out_dir: Path, threads) -> dict:
    t0 = time.perf_counter()
    model_cfg = floor_params["model"]
    parts = koike_protocol.protocol_splits(read_index(features_dir), floor_params["split"], floor_params["max_train_records"],
                            floor_params["max_eval_records"])
    write_csv(out_dir / "split.csv", koike_protocol.split_table(parts))
    x = {name: _features(features_dir, df) for name, df in parts.items()}
    model = fit(x["train"], parts["train"]["label"].to_numpy(), model_cfg, seed)
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    preds = [pd.DataFrame({"record_id": parts[name]["record_id"], "part": name,
                           "label": parts[name]["label"].to_numpy(), "score": scores(model, x[name])})
             for name in ("dev", "test")]
    write_csv(out_dir / "predictions.csv", pd.concat(preds, ignore_index=True))
    dev = preds[0]
    summary = dict(_train_record(model_cfg, seed, len(parts["train"]), len(parts["dev"]), x["train"].shape[1], train_s,
                                 threads),
                   n_params=None, n_dev=len(parts["dev"]), n_test=len(parts["test"]),
                   dev_uar_at_0_5=binary_metrics(dev["label"].to_numpy(), dev["score"].to_numpy(), 0.5)["uar"],
                   predict_s=round(time.perf_counter() - t1, 3),
                   test_abnormal_fraction=float(np.mean(parts["test"]["label"])))
    summary["wall_s"] = round(time.perf_counter() - t0, 3)
    write_json(out_dir / "train_summary.json", summary)
    log.info("floor (koike protocol) seed %s: %d train / %d dev / %d test, %.1f s", seed, len(parts["train"]),
             len(parts["dev"]), len(parts["test"]), summary["wall_s"])
    return summary
