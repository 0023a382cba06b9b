"""The toy paper's protocol, shared by its model's training job (:mod:`toy.train`) and its
floor (:mod:`toy.floor`): validation carved from the official PhysioNet training records
(stratified, patient-grouped where known: :func:`auscult.splits.carve`), an optional cap on the
training part, the official test records scored; the decision threshold chosen on validation.
Each job writes ``metrics.json`` (test metrics at that threshold) and ``predictions.csv``
(validation and test scores, one line per record)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from auscult import splits
from auscult.atomic import write_csv, write_json
from auscult.evaluation.metrics import binary_metrics, choose_threshold
from auscult.features.store import read_index
from auscult.training import floor as floor_features  # the floor_stats vectors of a record table


def protocol_splits(index: pd.DataFrame, split_cfg: Mapping, max_train_records: int | None) -> dict[str, pd.DataFrame]:
    """train / val / test record tables (the official test records, validation carved from training)."""
    return splits.official_test_splits(index, split_cfg, max_train_records)


def load(features_dir: str | Path, params: Mapping) -> tuple[dict, dict, dict]:
    """(record tables, feature matrices, labels) of each part."""
    parts = protocol_splits(read_index(features_dir), params["split"], params["max_train_records"])
    x = {k: floor_features.load_features(features_dir, df) for k, df in parts.items()}
    y = {k: df["label"].to_numpy() for k, df in parts.items()}
    return parts, x, y


def score_and_write(out_dir: str | Path, parts: Mapping, y: Mapping, scores: Mapping, params: Mapping, seed: int,
                    t0: float, **record) -> dict:
    """Threshold on the validation ``scores``, test metrics; write metrics.json and predictions.csv."""
    thr = choose_threshold(y["val"], scores["val"], params["threshold_rule"])
    test = binary_metrics(y["test"], scores["test"], thr)
    preds = pd.concat([pd.DataFrame({"record_id": parts[k]["record_id"].astype(str), "part": k,
                                     "label": y[k], "score": scores[k]}) for k in ("val", "test")], ignore_index=True)
    overlap = set(parts["train"]["record_id"]) & set(parts["test"]["record_id"])
    out = {"seed": int(seed), "n_train": len(parts["train"]), "n_val": len(parts["val"]),
           "n_test": len(parts["test"]), "threshold": float(thr), "train_test_overlap": len(overlap),
           "physionet_test": {k: float(v) for k, v in test.items() if isinstance(v, (int, float, np.floating))},
           **record, "wall_s": round(time.perf_counter() - t0, 3)}
    write_csv(Path(out_dir) / "predictions.csv", preds)
    write_json(Path(out_dir) / "metrics.json", out)
    return out
