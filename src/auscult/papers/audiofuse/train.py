"""AudioFuse training protocol (P1): PhysioNet 2016, official validation records as test.

Train on the 2939 non-test recordings minus a stratified validation split carved from
them (checkpoint selection, early stopping, thresholds); the 301 test records are never
seen before evaluation. Only torch/numpy/pandas/scikit-learn are imported.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pandas as pd

from auscult import cards, splits
from auscult.atomic import write_csv, write_json
from auscult.features.store import load_arrays, read_index

log = logging.getLogger(__name__)


def protocol_splits(index: pd.DataFrame, split_cfg: dict, max_train_records: int | None,
                    max_eval_records: int | None = None) -> dict[str, pd.DataFrame]:
    """train / val / test record tables for the AudioFuse PhysioNet protocol (``max_eval_records``:
    the optional cap on val and test, :func:`auscult.splits.official_test_splits`)."""
    return splits.official_test_splits(index, split_cfg, max_train_records, what=" (PhysioNet protocol)",
                                       max_eval_records=max_eval_records)


def transfer_records(pascal: pd.DataFrame, max_eval_records: int | None, seed: int) -> pd.DataFrame:
    """The transfer (PASCAL) recordings every protocol scores: all of them, or a stratified
    subsample of ``max_eval_records`` (a rehearsal's cap) drawn with the split seed."""
    return splits.subsample(pascal, max_eval_records, seed)


# PASCAL head-retrained protocols: name -> patient grouping of the carve (None = by recording,
# the paper's split; "patient_id" = the clean, patient-grouped variant)
HEAD_RETRAIN_PROTOCOLS = {"pascal_head_retrained": None, "pascal_head_retrained_grouped": "patient_id"}


def head_retrain_splits(pascal: pd.DataFrame, hr_cfg: dict, group: str | None) -> dict[str, pd.DataFrame]:
    """train / val / test parts of PASCAL for the head-retrained protocol: a stratified
    ``test_fraction`` test part, then an inner ``val_fraction`` validation part (early stopping
    and the threshold) carved from the rest; ``group`` keeps patients on one side."""
    rest, test = splits.carve(pascal, hr_cfg["test_fraction"], hr_cfg["seed"], group=group)
    train, val = splits.carve(rest, hr_cfg["val_fraction"], hr_cfg["seed"], group=group)
    name = "head-retrain" + (" (grouped)" if group else "")
    splits.assert_disjoint(train, test, what=f"{name} train/test", patients=group is not None)
    splits.assert_disjoint(val, test, what=f"{name} val/test", patients=group is not None)
    return {"train": train, "val": val, "test": test}


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
    """Train one variant for one seed; write model.pt, history.csv, train_summary.json and
    model_card.json (thresholds chosen on the validation split by every rule; ``card_context``:
    :func:`auscult.cards.release_context` of the workflow configuration).

    ``checkpoint_dir`` (default ``out_dir/checkpoints``) holds the resumable state while the
    run is unfinished; it is removed once the final artifacts are written."""
    import torch

    from auscult.evaluation.metrics import THRESHOLD_RULES, binary_metrics, choose_threshold
    from auscult.models import build_model, count_trainable
    from auscult.training.binary import train_binary, validation_scores
    from auscult.training.seeding import seed_everything

    torch.set_num_threads(max(1, int(threads)))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out_dir = Path(out_dir)
    index = read_index(features_dir)
    parts = protocol_splits(index, train_params["split"], train_params["max_train_records"],
                            train_params.get("max_eval_records"))
    write_csv(
        out_dir / "split.csv",
        pd.concat([df[["record_id", "label"]].assign(part=name) for name, df in parts.items()]),
    )
    seed_everything(seed)
    model = build_model(train_params["model"])
    t0 = time.perf_counter()
    _, x_train = load_arrays(features_dir, model.inputs, parts["train"]["record_id"].tolist())
    _, x_val = load_arrays(features_dir, model.inputs, parts["val"]["record_id"].tolist())
    log.info("loaded %d train / %d val recordings in %.1f s", len(parts["train"]), len(parts["val"]),
             time.perf_counter() - t0)
    kept: dict = {}  # the selected epoch's validation scores (validation_scores)
    summary = train_binary(
        model,
        x_train,
        parts["train"]["label"].to_numpy(),
        x_val,
        parts["val"]["label"].to_numpy(),
        train_params["training"],
        out_dir,
        seed=seed,
        device=device,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
        write_summary=False,
        best_val_scores=kept,
    )
    summary = dict(summary, seed=seed, n_params=count_trainable(model), threads=int(threads),
                   n_test=len(parts["test"]))
    write_json(out_dir / "train_summary.json", summary)
    y_val = parts["val"]["label"].to_numpy()
    val_scores = validation_scores(model, x_val, kept, batch_size=int(train_params["training"]["batch_size"]),
                                   device=device)
    # Every rule's threshold on the validation split, so that changing the evaluation's rule
    # never retrains; the card's default is the rule params.yaml uses at every budget.
    thresholds = {rule: float(choose_threshold(y_val, val_scores, rule)) for rule in THRESHOLD_RULES}
    cards.write_card(out_dir, cards.build_card(
        paper="audiofuse", variant=variant, seed=seed, model_cfg=train_params["model"], run_dir=out_dir,
        features_dir=features_dir, inputs=model.inputs, training=summary,
        decision={"kind": "binary", "positive": "abnormal", "score": "sigmoid probability",
                  "threshold": thresholds[cards.DEFAULT_RULE], "rule": cards.DEFAULT_RULE,
                  "thresholds": thresholds, "chosen_on": "validation split"},
        validation=binary_metrics(y_val, val_scores, thresholds[cards.DEFAULT_RULE]), context=card_context))
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return summary
