"""The reference floor under the Koike 3:1:1 protocol (the paper module's ``FLOOR``).

The same 3:1:1 parts as the deep models (:func:`auscult.papers.koike.train.protocol_splits`);
no model selection on dev (nothing to select), dev and test scored once; ``split.csv``,
``predictions.csv`` and ``train_summary.json`` as ``koike_run_<model>`` writes them. Imports
only numpy, pandas and scikit-learn (:mod:`auscult.training.floor`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.atomic import write_csv, write_json
from auscult.evaluation.metrics import binary_metrics
from auscult.features.store import read_index
from auscult.papers.koike import train as protocol
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
    """The floor under the Koike 3:1:1 protocol for one seed (``features``: the floor cache of
    the train dataset); writes split.csv,
    predictions.csv (dev and test scores) and train_summary.json into ``out_dir``.

    ``floor_params`` is :func:`auscult.layout.floor_slice` of ``koike``: model, split,
    max_train_records, max_eval_records. The tables score test at probability 0.5."""
    with floor.thread_limit(threads):
        return _run(features[0], floor_params, seed, Path(out_dir), threads)


def _run(features_dir, floor_params, seed, out_dir: Path, threads) -> dict:
    t0 = time.perf_counter()
    model_cfg = floor_params["model"]
    parts = protocol.protocol_splits(read_index(features_dir), floor_params["split"], floor_params["max_train_records"],
                            floor_params["max_eval_records"])
    write_csv(out_dir / "split.csv", protocol.split_table(parts))
    x = {name: floor.load_features(features_dir, df) for name, df in parts.items()}
    model = floor.fit(x["train"], parts["train"]["label"].to_numpy(), model_cfg, seed)
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    preds = [pd.DataFrame({"record_id": parts[name]["record_id"], "part": name,
                           "label": parts[name]["label"].to_numpy(), "score": floor.scores(model, x[name])})
             for name in ("dev", "test")]
    write_csv(out_dir / "predictions.csv", pd.concat(preds, ignore_index=True))
    dev = preds[0]
    summary = dict(floor.train_record(model_cfg, seed, len(parts["train"]), len(parts["dev"]), x["train"].shape[1], train_s,
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
