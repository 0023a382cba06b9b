"""4-class ICBHI cycle training (paper P3): CE + label smoothing, AdamW, optional WRS and SAM.

Training config: ``ast_sam.training`` deep-merged with the variant's overrides, checked
against the params schema's ``$defs/ast_training`` (every key required but the optional
``max_steps``; unknown keys rejected). ``epochs`` is a fixed number of epochs (no early
stopping, as the paper); ``sampler``: ``uniform`` (shuffle) | ``weighted`` (WRS: weight
1/count[class], n_train draws with replacement, seeded generator); ``sam``: pytorch_optimizer.SAM
around AdamW when enabled; ``amp``: true = bf16 autocast on CUDA (no GradScaler), ignored on
CPU, ``bf16`` | ``fp16``: that autocast on any device (fp16: GradScaler, refused with SAM);
``monitor``: the validation metric of the clean selection; ``paper_protocol``: also score the
test set after every epoch (history columns test_*), only to report the paper's test-selected
epoch; ``max_steps`` (absent or null: no cap): stop after this many optimizer steps (a SAM
pair is one).

Selection. ``clean``: the epoch with the best validation ``monitor`` (strict improvement, so
ties keep the earlier epoch); the validation split is carved from the official *training*
recordings, grouped by patient. ``paper``: the epoch with the best *test* ``score_any``
(the AST+SAM paper picks its checkpoint on the test set with its any-abnormal Score); it is
a protocol report only and never influences the clean model. Both states are saved
(``model.pt``, ``model_paper.pt``).

SAM: per batch, forward/backward at w, ``first_step`` (w + e), a second full forward/
backward, ``second_step`` (AdamW step at w with the perturbed gradient). Models with
BatchNorm get pytorch_optimizer's ``enable_running_stats`` before the first pass and
``disable_running_stats`` before the second, so running statistics are updated once.

The epochs, SAM steps, selections and checkpoints are :mod:`auscult.training.engine`'s; this
module checks the config and the labels and builds the cross-entropy task and the summary.
Checkpoints: ``checkpoint_dir/last.pt`` after every epoch (model, optimizer, RNG); a later
call with the same config/seed/data resumes from it and gives bit-identical results on CPU.
Imports only torch, numpy, pandas, scikit-learn (splits) and pytorch_optimizer (SAM).
"""

from __future__ import annotations

import copy
import logging
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from auscult import configcheck
from auscult.atomic import write_csv, write_json
from auscult.evaluation.metrics import ICBHI_N_CLASSES as N_CLASSES
from auscult.evaluation.metrics import icbhi_metrics
from auscult.splits import icbhi_protocol_splits as protocol_splits
from auscult.training import engine
from auscult.training.engine import predict_logits
from auscult.training.seeding import seed_everything

log = logging.getLogger(__name__)

__all__ = ["METRIC_COLS", "epoch_order", "make_optimizer", "protocol_splits", "run_training",
           "train_cycles", "validate_train_cfg"]

SAM_FP16 = ("SAM with amp: fp16 is not supported (its two passes per step cannot share one GradScaler "
            "step); use amp: bf16")
METRIC_COLS = ("loss", "sp", "se_exact", "se_any", "score_exact", "score_any")
CHECKPOINT_FORMAT = engine.CHECKPOINT_FORMAT


def validate_train_cfg(cfg: Mapping) -> None:
    """The params schema's ``$defs/ast_training``, and no SAM with fp16 (one GradScaler step
    cannot serve SAM's two passes)."""
    configcheck.check("ast_sam training config", cfg, "ast_training")
    if cfg["sam"]["enabled"] and cfg["amp"] == "fp16":
        raise ValueError(f"ast_sam training config: {SAM_FP16}")


def _labels(name: str, data: Mapping[str, np.ndarray], y, inputs: tuple[str, ...]) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_{name} must be a non-empty 1-D array, got shape {y.shape}")
    if not np.isin(y, np.arange(N_CLASSES)).all():
        raise ValueError(f"y_{name} must hold class indices 0..{N_CLASSES - 1}")
    for k in inputs:
        if k not in data:
            raise KeyError(f"{name} lacks input {k!r}; the model uses {list(inputs)}")
        if len(data[k]) != len(y):
            raise ValueError(f"{name}['{k}'] has {len(data[k])} rows but y_{name} has {len(y)}")
    return y.astype(np.int64)


def epoch_order(y: np.ndarray, sampler: str, gen: torch.Generator) -> np.ndarray:
    """Sample indices for one epoch: a permutation, or WRS draws (weights 1/class count)."""
    return engine.sample_order(y, sampler == "weighted", gen)


def make_optimizer(params, cfg: Mapping):
    """AdamW, or pytorch_optimizer.SAM around AdamW."""
    return engine.make_optimizer(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"], sam=cfg["sam"])


def evaluate_cycles(model, data, y, criterion, batch_size, device) -> tuple[dict, np.ndarray]:
    """Loss and ICBHI metrics (:data:`METRIC_COLS`) of the model's argmax predictions."""
    logits = predict_logits(model, data, batch_size=batch_size, device=device)
    loss = float(criterion(torch.from_numpy(logits).float(), torch.from_numpy(y)))
    m = icbhi_metrics(y, logits.argmax(1))
    return {"loss": loss, **{k: m[k] for k in METRIC_COLS if k != "loss"}}, logits


class CycleTask(engine.Task):
    """Cross-entropy with label smoothing on (B, 4) logits; validation (and, under the paper
    protocol, test) loss and ICBHI metrics after every epoch."""

    def __init__(self, train, yt, val, yv, test, ys, inputs, *, cfg: Mapping, device: torch.device,
                 fingerprint: dict):
        self.train, self.y, self.val, self.yv, self.test, self.ys = train, yt, val, yv, test, ys
        self.inputs, self.device, self.batch_size = inputs, device, int(cfg["batch_size"])
        self.balanced = cfg["sampler"] == "weighted"
        self.criterion = nn.CrossEntropyLoss(label_smoothing=float(cfg["label_smoothing"]))
        clean = engine.Selection("best", f"val_{cfg['monitor']}", maximize=True, file="model.pt")
        paper = engine.Selection("paper", "test_score_any", maximize=True, file="model_paper.pt")
        self.selections = (clean, paper) if test is not None else (clean,)
        self.fingerprint = fingerprint

    def loss(self, output, target):
        return self.criterion(output.float(), target)

    def evaluate(self, model):
        val_m, _ = evaluate_cycles(model, self.val, self.yv, self.criterion, self.batch_size, self.device)
        row = {f"val_{k}": v for k, v in val_m.items()}
        if self.test is not None:
            test_m, _ = evaluate_cycles(model, self.test, self.ys, self.criterion, self.batch_size, self.device)
            row.update({f"test_{k}": v for k, v in test_m.items()})
        return row


def train_cycles(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    y_train,
    val: Mapping[str, np.ndarray],
    y_val,
    cfg: Mapping,
    out_dir: str | Path,
    *,
    checkpoint_dir: str | Path,
    seed: int,
    test: Mapping[str, np.ndarray] | None = None,
    y_test=None,
    device: str = "cpu",
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    deterministic: bool | None = None,
    write_summary: bool = True,
) -> dict:
    """Train a 4-class model (logits (B, 4)); see the module docstring.

    ``test``/``y_test`` are used only when ``cfg['paper_protocol']`` (and then required). On
    return the model holds the clean (validation-selected) weights, in eval mode. Writes
    ``model.pt``, ``model_paper.pt`` (paper protocol), ``history.csv`` and (unless
    ``write_summary`` is false) ``train_summary.json`` to ``out_dir``;
    ``checkpoint_dir/last.pt`` for resuming.
    """
    validate_train_cfg(cfg)
    cfg = copy.deepcopy(dict(cfg))
    out_dir, ckpt_path = Path(out_dir), Path(checkpoint_dir) / "last.pt"
    inputs = engine.model_inputs(model)
    yt = _labels("train", train, y_train, inputs)
    yv = _labels("val", val, y_val, inputs)
    paper = bool(cfg["paper_protocol"])
    ys = None
    if paper:
        if test is None or y_test is None:
            raise ValueError("paper_protocol: true needs the test set (test, y_test)")
        ys = _labels("test", test, y_test, inputs)
    dev, deterministic = engine.setup(seed, device, deterministic)
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg)
    fingerprint = {
        "cfg": cfg, "seed": int(seed), "inputs": list(inputs), "n_train": len(yt), "n_val": len(yv),
        "labels": engine.digest(yt, yv, *([ys] if paper else [])), "params": engine.param_shapes(model),
    }
    task = CycleTask(train, yt, val, yv, test if paper else None, ys, inputs, cfg=cfg, device=dev,
                     fingerprint=fingerprint)
    settings = engine.Settings(max_epochs=int(cfg["epochs"]), batch_size=int(cfg["batch_size"]),
                               **engine.amp_settings(cfg["amp"], "bf16"), max_steps=cfg.get("max_steps"))
    fit = engine.fit(model, task, optimizer, settings, out_dir, checkpoint_path=ckpt_path, seed=seed,
                     device=dev, deterministic=deterministic, progress=progress, on_epoch_end=on_epoch_end)
    st = fit.state
    best = fit.best_row()
    weights = getattr(model, "weights", None)
    summary: dict[str, Any] = {
        "selection": {"clean": {"epoch": st["best_epoch"], "on": f"val_{cfg['monitor']}",
                                "value": st["best_value"]},
                      "paper": ({"epoch": st["paper_epoch"], "on": "test_score_any",
                                 "value": st["paper_value"],
                                 "note": "checkpoint selected on the test set (the paper's protocol)"}
                                if paper else None)},
        "best_epoch": st["best_epoch"],
        "best_val": {k: best[f"val_{k}"] for k in METRIC_COLS},
        "epochs_run": st["epoch"],
        "steps_run": st["steps"], "max_steps": cfg.get("max_steps"),
        "stopped_at_max_steps": st["stopped_at_max_steps"],
        "n_train": len(yt), "n_val": len(yv), "n_test": len(ys) if paper else None,
        "train_class_counts": np.bincount(yt, minlength=N_CLASSES).tolist(),
        "sampler": cfg["sampler"], "sam": cfg["sam"],
        "n_trainable_params": sum(p.numel() for p in params),
        "weights": weights.as_dict() if hasattr(weights, "as_dict") else None,
        "amp": fit.amp_dtype,
        **fit.run_record(seed),
    }
    if write_summary:
        write_json(out_dir / "train_summary.json", summary)
    return summary


def run_training(
    features_dir: str | Path,
    train_params: Mapping,
    out_dir: str | Path,
    *,
    checkpoint_dir: str | Path,
    seed: int,
    threads: int = 1,
    device: str | None = None,
    progress: bool = True,
    variant: str = "?",
    card_context: dict | None = None,
) -> dict:
    """Train one (variant, seed) from the cached ``ast_sam`` features; model_card.json too
    (``card_context``: :func:`auscult.cards.release_context` of the workflow configuration).

    ``train_params`` = {model, training, split} (the variant already merged in).
    """
    from auscult.features.store import load_arrays, read_index
    from auscult.models import build_model

    configcheck.check_keys("ast_sam train params", "<top level>", train_params, {"model", "training", "split"})
    torch.set_num_threads(max(1, int(threads)))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out_dir = Path(out_dir)
    parts = protocol_splits(read_index(features_dir), train_params["split"])
    write_csv(out_dir / "split.csv", pd.concat(
        [df[["record_id", "recording", "patient_id", "label"]].assign(part=name) for name, df in parts.items()]))
    seed_everything(seed)
    model = build_model(train_params["model"])
    if getattr(model, "weights", None) is not None:
        log.info("model weights: %s %s", model.weights.status, model.weights.reason or model.weights.source)
    arrays = {name: load_arrays(features_dir, model.inputs, df["record_id"].tolist(), dtype="float32")[1]
              for name, df in parts.items()}
    paper = bool(train_params["training"]["paper_protocol"])
    summary = train_cycles(
        model, arrays["train"], parts["train"]["label"].to_numpy(), arrays["val"],
        parts["val"]["label"].to_numpy(), train_params["training"], out_dir,
        checkpoint_dir=checkpoint_dir, seed=seed,
        test=arrays["test"] if paper else None, y_test=parts["test"]["label"].to_numpy() if paper else None,
        device=device, progress=progress, write_summary=False,
    )
    summary = dict(summary, threads=int(threads))
    write_json(out_dir / "train_summary.json", summary)
    from auscult import cards
    from auscult.datasets.icbhi2017 import CLASSES

    weights = summary.get("weights") or {}
    cards.write_card(out_dir, cards.build_card(
        paper="ast_sam", variant=variant, seed=seed, model_cfg=train_params["model"], run_dir=out_dir,
        features_dir=features_dir, inputs=model.inputs,
        training=dict(summary, n_train=len(parts["train"]), n_val=len(parts["val"])),
        decision={"kind": "multiclass", "classes": list(CLASSES), "rule": "argmax of the logits",
                  "threshold": None, "chosen_on": "validation split (checkpoint: clean protocol)"},
        validation=summary.get("best_val") or {},
        weights={"weights": weights.get("status", "scratch"), "weights_reason": weights.get("reason", ""),
                 **({"weights_name": weights["name"]} if weights.get("name") else {})},
        context=card_context))
    # As the other papers' runners: a finished run no longer needs its resumable state.
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return summary
