"""The reference floor under the AudioFuse protocols (the paper module's ``FLOOR``).

The same train / validation / test records as the deep models
(:func:`auscult.papers.audiofuse.train.protocol_splits`), threshold chosen on the validation
split with the paper's ``threshold_rule``, PASCAL zero-shot on all labelled recordings and
head-retrained (here: the floor re-fitted on the PASCAL train part of the same carve,
threshold on its inner validation part); ``metrics.json`` and ``predictions.csv`` in the
format of :func:`auscult.papers.audiofuse.evaluate.run_evaluation`. Imports only numpy,
pandas and scikit-learn (:mod:`auscult.training.floor`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.atomic import write_csv, write_json
from auscult.evaluation.metrics import binary_metrics, choose_threshold
from auscult.features.store import read_index
from auscult.papers.audiofuse import train as protocol
from auscult.training import floor

log = logging.getLogger(__name__)


def run_floor(
    *,
    features: Sequence[str | Path],
    floor_params: Mapping,
    seed: int,
    out_dir: str | Path,
    threads: int = 1,
) -> dict:
    """The floor under every AudioFuse protocol for one seed (see the module docstring):
    ``features`` are the floor caches of the train and transfer datasets; writes
    ``metrics.json`` and ``predictions.csv`` into ``out_dir``.

    ``floor_params`` is :func:`auscult.layout.floor_slice` of ``audiofuse``: model, split,
    max_train_records, threshold_rule, head_retrain (test_fraction, val_fraction, seed)."""
    with floor.thread_limit(threads):
        train_features, transfer_features = features
        out = Path(out_dir)
        return _run(train_features, transfer_features, floor_params, seed, out / "metrics.json",
                    out / "predictions.csv", threads)


def _run(train_features, transfer_features, floor_params, seed, out_metrics, out_predictions, threads) -> dict:
    t0 = time.perf_counter()
    model_cfg, rule = floor_params["model"], floor_params["threshold_rule"]
    cap = floor_params.get("max_eval_records")  # a rehearsal's cap on val, test and PASCAL
    parts = protocol.protocol_splits(read_index(train_features), floor_params["split"], floor_params["max_train_records"],
                                     cap)
    x = {name: floor.load_features(train_features, df) for name, df in parts.items()}
    y = {name: df["label"].to_numpy() for name, df in parts.items()}
    model = floor.fit(x["train"], y["train"], model_cfg, seed)
    train_s = time.perf_counter() - t0
    metrics: dict = {"seed": int(seed), "n_params": None,
                     "train": floor.train_record(model_cfg, seed, len(y["train"]), len(y["val"]), x["train"].shape[1],
                                            train_s, threads)}
    preds: list[pd.DataFrame] = []

    def record(name: str, df: pd.DataFrame, s: np.ndarray, thr: float, dataset: str) -> None:
        metrics[name] = binary_metrics(df["label"].to_numpy(), s, thr)
        metrics[name + "@0.5"] = binary_metrics(df["label"].to_numpy(), s, 0.5)
        preds.append(pd.DataFrame({"protocol": name, "dataset": dataset, "record_id": df["record_id"],
                                   "label": df["label"].to_numpy(), "score": s, "threshold": thr}))

    s_val, s_test = floor.scores(model, x["val"]), floor.scores(model, x["test"])
    thr = choose_threshold(y["val"], s_val, rule)
    metrics["threshold"] = {"rule": rule, "value": thr, "chosen_on": "physionet validation split"}
    record("physionet_val", parts["val"], s_val, thr, "physionet2016")
    record("physionet_test", parts["test"], s_test, thr, "physionet2016")

    pascal = protocol.transfer_records(read_index(transfer_features), cap, floor_params["split"]["seed"])
    x_pascal = floor.load_features(transfer_features, pascal)
    s_zero = floor.scores(model, x_pascal)
    record("pascal_zero_shot", pascal, s_zero, thr, "pascal")
    pos = pd.Series(range(len(pascal)), index=pascal["record_id"])
    hr = floor_params["head_retrain"]
    for name, group in protocol.HEAD_RETRAIN_PROTOCOLS.items():
        hp = protocol.head_retrain_splits(pascal, hr, group)
        xi = {k: x_pascal[pos.loc[df["record_id"]].to_numpy()] for k, df in hp.items()}
        refit = floor.fit(xi["train"], hp["train"]["label"].to_numpy(), model_cfg, seed)
        thr_hr = choose_threshold(hp["val"]["label"].to_numpy(), floor.scores(refit, xi["val"]), rule)
        record(name, hp["test"], floor.scores(refit, xi["test"]), thr_hr, "pascal")
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
