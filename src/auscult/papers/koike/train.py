"""Koike et al. 2020 training protocol (P2): PhysioNet 2016, stratified 3:1:1 train/dev/test.

All 3240 training-set recordings are split once (seeded, stratified by label, grouped by
patient where one is known) into train, dev and test in the ratio ``split.ratios``; the split
is written as ``split.csv`` beside the model and is the same for every model and seed.
Classes are sampled equally in training (``class_balance: sampler``), the checkpoint is the
epoch with the best dev UAR, and the selected model scores the dev and test parts
(``predictions.csv``), from which the report computes UAR, specificity, sensitivity and F1
at probability 0.5: the test part is never looked at before that.

Pretrained weights (``weights: pretrained``) are resolved from ``$AUSCULT_WEIGHTS_DIR`` or
the canonical URL; when none can be had the model trains from scratch and
``train_summary.json`` says ``weights: scratch`` with the reason (``weights_requested``
keeps what was asked), which every table cell then shows. Only torch, numpy, pandas and
scikit-learn are imported.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from auscult import cards, splits
from auscult.atomic import write_csv, write_json
from auscult.features.store import load_arrays, read_index

log = logging.getLogger(__name__)
PARTS = ("train", "dev", "test")


def protocol_splits(
    index: pd.DataFrame,
    split_cfg: dict,
    max_train_records: int | None = None,
    max_eval_records: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Stratified train/dev/test parts in the ratio ``split_cfg['ratios']`` (e.g. 3:1:1).

    ``max_*_records`` subsample the parts afterwards (stratified; quick budgets only), so
    the parts themselves never depend on them.
    """
    r_train, r_dev, r_test = (float(r) for r in split_cfg["ratios"])
    seed = int(split_cfg["seed"])
    total = r_train + r_dev + r_test
    rest, test = splits.carve(index, r_test / total, seed)
    train, dev = splits.carve(rest, r_dev / (r_train + r_dev), seed)
    parts = {
        "train": splits.subsample(train, max_train_records, seed),
        "dev": splits.subsample(dev, max_eval_records, seed),
        "test": splits.subsample(test, max_eval_records, seed),
    }
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        splits.assert_disjoint(parts[a], parts[b], what=f"{a}/{b}")
    return parts


def split_table(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    cols = ["record_id", "label", "patient_id"]
    return pd.concat([df[[c for c in cols if c in df]].assign(part=name) for name, df in parts.items()],
                     ignore_index=True)


def prepare_weights(model, requested: str) -> dict:
    """Load pretrained weights into ``model`` if asked and available; return the record."""
    if requested == "scratch":
        return {"weights": "scratch", "weights_requested": "scratch", "weights_reason": "params: weights=scratch"}
    from auscult.models.weights import load_pretrained, resolve_weights

    info = resolve_weights(model.weights_name)
    record = {"weights_requested": requested, "weights_file": info.as_dict()}
    if info.status != "pretrained":
        log.warning("no pretrained weights for %s (%s): training from scratch, marked weights=scratch",
                    model.weights_name, info.reason)
        return {**record, "weights": "scratch", "weights_reason": info.reason}
    report = load_pretrained(model, info, drop_frontend=not getattr(model, "frontend_is_canonical", True))
    return {**record, "weights": "pretrained", "weights_reason": "", "weights_load": report.as_dict()}


def run_training(
    features_dir: str | Path,
    train_params: dict,
    out_dir: str | Path,
    *,
    seed: int,
    threads: int = 1,
    device: str | None = None,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    variant: str = "?",
    card_context: dict | None = None,
) -> dict:
    """Train one Koike variant for one seed; write model.pt, history.csv, split.csv,
    predictions.csv (dev and test scores of the selected model), train_summary.json and
    model_card.json (decision at probability 0.5, the protocol's; the test part's metrics too,
    since this job scores it; ``card_context``: :func:`auscult.cards.release_context`)."""
    import torch

    from auscult.evaluation.metrics import binary_metrics
    from auscult.models import build_model, count_trainable
    from auscult.training.binary import train_binary, validation_scores
    from auscult.training.engine import predict_scores
    from auscult.training.seeding import seed_everything

    torch.set_num_threads(max(1, int(threads)))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out_dir = Path(out_dir)
    parts = protocol_splits(read_index(features_dir), train_params["split"],
                            train_params["max_train_records"], train_params["max_eval_records"])
    write_csv(out_dir / "split.csv", split_table(parts))
    seed_everything(seed)
    model = build_model(train_params["model"])
    weights = prepare_weights(model, train_params["weights"])
    t0 = time.perf_counter()
    x = {name: load_arrays(features_dir, model.inputs, df["record_id"].tolist())[1]
         for name, df in parts.items()}
    log.info("loaded %s recordings in %.1f s", {k: len(v) for k, v in parts.items()}, time.perf_counter() - t0)
    training = train_params["training"]
    dev_scores: dict = {}  # dev is the validation set: its selected epoch's scores are kept
    summary = train_binary(
        model, x["train"], parts["train"]["label"].to_numpy(), x["dev"], parts["dev"]["label"].to_numpy(),
        training, out_dir, seed=seed, device=device, progress=progress, checkpoint_dir=checkpoint_dir,
        write_summary=False, best_val_scores=dev_scores,
    )
    t1 = time.perf_counter()
    preds = []
    bs = int(training["batch_size"])
    for name in ("dev", "test"):
        scores = (validation_scores(model, x[name], dev_scores, batch_size=bs, device=device) if name == "dev"
                  else predict_scores(model, x[name], batch_size=bs, device=device))
        preds.append(pd.DataFrame({"record_id": parts[name]["record_id"], "part": name,
                                   "label": parts[name]["label"].to_numpy(), "score": scores}))
    write_csv(out_dir / "predictions.csv", pd.concat(preds, ignore_index=True))
    summary = dict(summary, **weights, seed=seed, n_params=count_trainable(model), threads=int(threads),
                   n_dev=len(parts["dev"]), n_test=len(parts["test"]),
                   predict_s=round(time.perf_counter() - t1, 3),
                   test_abnormal_fraction=float(np.mean(parts["test"]["label"])))
    write_json(out_dir / "train_summary.json", summary)
    dev, test = preds
    cards.write_card(out_dir, cards.build_card(
        paper="koike", variant=variant, seed=seed, model_cfg=train_params["model"], run_dir=out_dir,
        features_dir=features_dir, inputs=model.inputs, training=dict(summary, n_val=len(parts["dev"])),
        decision={"kind": "binary", "positive": "abnormal", "score": "sigmoid probability", "threshold": 0.5,
                  "rule": "fixed 0.5 (Koike protocol: classes sampled equally in training)",
                  "chosen_on": "protocol"},
        validation=binary_metrics(dev["label"].to_numpy(), dev["score"].to_numpy(), 0.5),
        weights={**{k: summary[k] for k in ("weights", "weights_requested", "weights_reason") if k in summary},
                 **({"weights_name": summary["weights_file"].get("name")} if summary.get("weights_file") else {})},
        context=card_context,
        test=cards.test_section_from_metrics(
            {"test": binary_metrics(test["label"].to_numpy(), test["score"].to_numpy(), 0.5)},
            "predictions.csv (part test)", "training job (Koike protocol)")))
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return summary
