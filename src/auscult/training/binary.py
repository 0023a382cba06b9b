"""Binary training (AudioFuse, Koike): BCE on :mod:`auscult.training.engine`.

Training config: a paper's ``training`` block (``audiofuse.training``, ``koike.training``,
``audiofuse.head_retrain.training``) deep-merged with a variant's or model's overrides, checked
against the params schema's ``$defs/training`` (every key required but the optional
``max_steps``; unknown keys rejected). Meanings:

- ``optimizer``: adamw | adam (torch defaults for betas and eps);
- ``patience``: early stopping, epochs without improvement of ``monitor`` (``val_auc`` and
  ``val_uar``: higher is better; ``val_loss``: lower); ``lr_plateau``: ReduceLROnPlateau;
- ``class_balance``: ``pos_weight`` (BCE pos_weight = n_neg / n_pos) | ``sampler`` (each epoch
  draws n_train indices with replacement, both classes equally likely) | ``none``;
- ``amp``: true = fp16 autocast + GradScaler on CUDA, ignored on CPU; ``fp16`` | ``bf16``: that
  autocast on any device, CPU included (fp16 with torch.amp.GradScaler("cpu"): tests, CPU
  rehearsals);
- ``trainable``: all | head (freeze model.backbone, keep it in eval mode);
- ``bn_recalibrate_batches``: 0 keeps BatchNorm's running statistics as trained; N > 0
  recomputes them after every epoch, before validation, as the exact average over N training
  batches (see below);
- ``max_steps`` (absent or null: no cap): stop after this many optimizer steps; the epoch in
  progress ends early, its validation and checkpoint selection still run.

"Improvement" is strict for both early stopping and ReduceLROnPlateau (threshold 0, so a
tie keeps the earlier best epoch). The validation loss uses the same pos_weight as the
training loss; the validation AUC is computed from logits (no sigmoid saturation ties);
the validation UAR (mean of the two recalls) thresholds the logits at 0 (probability 0.5).

BatchNorm recalibration: with a small momentum (AudioFuse's wave CNN uses Keras' 0.99, i.e.
torch momentum 0.01) and few optimizer steps, the running statistics are far from the
statistics of the trained network, so every eval-mode score (early stopping, thresholds,
test) describes another network. ``bn_recalibrate_batches: N`` resets them after each epoch
and re-estimates them with a cumulative average (``momentum=None``) over N training batches
drawn in a fixed seeded order (dropout off, no gradients, the training RNG untouched), as
``torch.optim.swa_utils.update_bn`` does. The selected and saved weights carry those statistics.

The epochs, selection, early stopping, LR plateau, AMP, recalibration and checkpoints are the
engine's (:mod:`auscult.training.engine`); this module checks the data and the config, and
builds the BCE task and the summary.

Outputs in ``out_dir``: ``history.csv``, ``model.pt`` (best state_dict), ``train_summary.json``.
``checkpoint_dir/last.pt`` (default ``out_dir/checkpoints``) is written after every epoch; a
later call resumes from it and produces bit-identical results on CPU. Workflows keep it
outside the versioned run folder, so that folder holds only final artifacts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from auscult import configcheck

from ..atomic import write_json
from ..evaluation.metrics import roc_auc
from . import engine
from .engine import (
    batchnorm_layers,
    class_balanced_draws,
    predict_logits,
    predict_scores,
    recalibrate_batchnorm,
)

__all__ = [
    "HISTORY_COLUMNS", "batchnorm_layers", "class_balanced_draws", "predict_logits",
    "predict_scores", "recalibrate_batchnorm", "train_binary", "uar", "validate_train_cfg",
    "validation_scores",
]

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_auc", "val_uar", "lr", "seconds"]
CHECKPOINT_FORMAT = engine.CHECKPOINT_FORMAT


# --------------------------------------------------------------------------- config
def validate_train_cfg(cfg: Mapping) -> None:
    """Raise KeyError / ValueError naming the first missing, unknown or invalid key (the
    params schema's ``$defs/training``)."""
    configcheck.check("training config", cfg, "training")


# --------------------------------------------------------------------------- data helpers
def _check_data(name: str, data: Mapping[str, np.ndarray], y: np.ndarray,
                inputs: tuple[str, ...]) -> np.ndarray:
    if not isinstance(data, Mapping):
        raise ValueError(f"{name} must be a dict of input arrays, got {type(data).__name__}")
    missing = [k for k in inputs if k not in data]
    if missing:
        raise KeyError(f"{name} lacks input(s) {missing}; the model uses {list(inputs)}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y_{name} must be 1-D, got shape {y.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_{name} must contain only 0/1 labels")
    for k in inputs:
        if len(data[k]) != len(y):
            raise ValueError(f"{name}['{k}'] has {len(data[k])} rows but y_{name} has {len(y)}")
    if len(y) == 0:
        raise ValueError(f"{name} is empty")
    return y.astype(np.float32)


def uar(y: np.ndarray, logits: np.ndarray) -> float:
    """Unweighted average recall at logit 0; NaN unless both classes are present."""
    pred = logits > 0
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return float("nan")
    return float((pred[pos].mean() + (~pred[neg]).mean()) / 2)


class BinaryTask(engine.Task):
    """BCE with logits (``pos_weight`` on the positive class) on raw logits of shape (B,);
    validation loss (same pos_weight), AUC from logits and UAR at logit 0."""

    def __init__(self, train, yt, val, yv, inputs, *, pos_weight: float, balanced: bool,
                 monitor: str, batch_size: int, device: torch.device, fingerprint: dict):
        self.train, self.y, self.val, self.yv, self.inputs = train, yt, val, yv, inputs
        self.balanced, self.batch_size, self.device = balanced, batch_size, device
        self.criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, dtype=torch.float32,
                                                                      device=device))
        self.selections = (engine.Selection("best", monitor, maximize=monitor != "val_loss"),)
        self.fingerprint = fingerprint
        self.val_logits: list[np.ndarray] = []  # of each evaluate() call in this process

    def loss(self, output, target):
        return self.criterion(output.float().reshape(-1), target)

    def evaluate(self, model):
        logits = predict_logits(model, self.val, batch_size=self.batch_size, device=self.device)
        self.val_logits.append(logits)
        val_loss = float(self.criterion(torch.from_numpy(logits).float().to(self.device),
                                        torch.from_numpy(self.yv).to(self.device)))
        val_auc = roc_auc(self.yv, logits) if len(np.unique(self.yv)) == 2 else float("nan")
        return {"val_loss": val_loss, "val_auc": val_auc, "val_uar": uar(self.yv, logits)}


def validation_scores(model: nn.Module, val: Mapping[str, np.ndarray], kept: Mapping, *,
                      batch_size: int, device: str | torch.device = "cpu") -> np.ndarray:
    """The trained model's sigmoid scores on ``val``: those ``train_binary(...,
    best_val_scores=kept)`` kept from the selected epoch's validation pass (bit-identical,
    no second pass), else predicted (a run resumed after its selected epoch)."""
    scores = kept.get("scores")
    return scores if scores is not None else predict_scores(model, val, batch_size=batch_size, device=device)


# --------------------------------------------------------------------------- training
def train_binary(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    y_train: np.ndarray,
    val: Mapping[str, np.ndarray],
    y_val: np.ndarray,
    cfg: Mapping,
    out_dir: str | Path,
    *,
    seed: int,
    device: str = "cpu",
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    deterministic: bool | None = None,
    checkpoint_dir: str | Path | None = None,
    write_summary: bool = True,
    best_val_scores: dict | None = None,
) -> dict:
    """Train ``model`` (raw-logit output, shape (B,)) with BCE; see the module docstring.

    ``on_epoch_end(epoch, history_row)`` is called after the epoch's checkpoint, when one is
    due (``AUSCULT_CHECKPOINT_EVERY_S``, see :mod:`auscult.training.engine`), is saved. ``deterministic`` defaults to True on
    CPU and False on CUDA (cuDNN deterministic kernels are slow). On return the model holds
    the best weights and is in eval mode. Returns the summary, also written to
    train_summary.json unless ``write_summary`` is false (a caller that adds fields writes it).
    ``best_val_scores``, a dict, receives ``"scores"``: the returned model's sigmoid scores on
    ``val`` (what :func:`engine.predict_scores` would compute, bit for bit), kept from the
    validation pass of the selected epoch when that epoch ran in this process.
    """
    validate_train_cfg(cfg)
    cfg = copy.deepcopy(dict(cfg))
    out_dir = Path(out_dir)
    ckpt_path = Path(checkpoint_dir if checkpoint_dir is not None else out_dir / "checkpoints") / "last.pt"
    inputs = engine.model_inputs(model)
    yt = _check_data("train", train, y_train, inputs)
    yv = _check_data("val", val, y_val, inputs)
    pos_weight = _pos_weight(cfg, yt, yv)

    dev, deterministic = engine.setup(seed, device, deterministic)
    model.to(dev)
    params = _trainable_params(model, cfg)
    optimizer = engine.make_optimizer(params, optimizer=cfg["optimizer"], lr=cfg["lr"],
                                      weight_decay=cfg["weight_decay"])
    fingerprint = {
        "cfg": cfg, "seed": int(seed), "inputs": list(inputs), "n_train": len(yt),
        "n_val": len(yv), "labels": engine.digest(yt, yv), "params": engine.param_shapes(model),
    }
    task = BinaryTask(train, yt, val, yv, inputs, pos_weight=pos_weight,
                      balanced=cfg["class_balance"] == "sampler", monitor=cfg["monitor"],
                      batch_size=int(cfg["batch_size"]), device=dev, fingerprint=fingerprint)
    fit = engine.fit(model, task, optimizer, _engine_settings(cfg, model), out_dir, checkpoint_path=ckpt_path,
                     seed=seed, device=dev, deterministic=deterministic, progress=progress,
                     on_epoch_end=on_epoch_end)
    if best_val_scores is not None:
        _keep_best_val_scores(best_val_scores, fit, task)
    task.val_logits.clear()
    summary = _summary(cfg, fit, yt, yv, pos_weight=pos_weight, params=params, seed=seed)
    if write_summary:
        write_json(out_dir / "train_summary.json", summary)
    return summary


def _pos_weight(cfg: Mapping, yt: np.ndarray, yv: np.ndarray) -> float:
    """BCE's ``pos_weight`` (n_neg / n_pos with ``class_balance: pos_weight``, else 1), after
    checking that the monitor and the class balance have the classes they need."""
    n_pos = int(yt.sum())
    n_neg = len(yt) - n_pos
    if cfg["monitor"] in ("val_auc", "val_uar") and len(np.unique(yv)) < 2:
        raise ValueError(f"monitor {cfg['monitor']!r} needs both classes in the validation set")
    if cfg["class_balance"] == "pos_weight":
        if n_pos == 0 or n_neg == 0:
            raise ValueError(f"class_balance 'pos_weight' needs both classes in the training set "
                             f"(n_pos={n_pos}, n_neg={n_neg})")
        pos_weight = n_neg / n_pos
    else:
        pos_weight = 1.0
    if cfg["class_balance"] == "sampler" and (n_pos == 0 or n_neg == 0):
        raise ValueError(f"class_balance 'sampler' needs both classes in the training set "
                         f"(n_pos={n_pos}, n_neg={n_neg})")
    return pos_weight


def _trainable_params(model: nn.Module, cfg: Mapping) -> list[nn.Parameter]:
    """The parameters to optimize; ``trainable: head`` freezes ``model.backbone`` first."""
    if cfg["trainable"] == "head":
        if not hasattr(model, "backbone") or not hasattr(model, "head"):
            raise AttributeError("trainable 'head' needs a model with .backbone and .head")
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    return params


def _engine_settings(cfg: Mapping, model: nn.Module) -> engine.Settings:
    """The engine's settings for a (validated) training config."""
    return engine.Settings(
        max_epochs=int(cfg["max_epochs"]), batch_size=int(cfg["batch_size"]), patience=int(cfg["patience"]),
        plateau=cfg["lr_plateau"], **engine.amp_settings(cfg["amp"], "fp16"),
        frozen=model.backbone if cfg["trainable"] == "head" else None,
        bn_recalibrate_batches=int(cfg["bn_recalibrate_batches"]), history_columns=HISTORY_COLUMNS,
        max_steps=cfg.get("max_steps"),
    )


def _keep_best_val_scores(best_val_scores: dict, fit: engine.Fit, task: BinaryTask) -> None:
    """Put the selected epoch's validation scores in ``best_val_scores["scores"]`` when that
    epoch ran in this process."""
    # the selected weights are the model as it was evaluated at best_epoch (eval mode,
    # the same batches), so that pass's logits are the returned model's
    i = int(fit.state["best_epoch"]) - int(fit.resumed_from or 0) - 1
    if 0 <= i < len(task.val_logits):
        best_val_scores["scores"] = 1.0 / (1.0 + np.exp(-task.val_logits[i]))


def _summary(cfg: Mapping, fit: engine.Fit, yt: np.ndarray, yv: np.ndarray, *, pos_weight: float,
             params: list[nn.Parameter], seed: int) -> dict[str, Any]:
    """``train_summary.json``: the selected epoch, how the run ended, the data and the config."""
    st = fit.state
    best_row = fit.best_row()
    return {
        "best_epoch": st["best_epoch"],
        "best_val_auc": best_row["val_auc"],
        "best_val_loss": best_row["val_loss"],
        "best_val_uar": best_row["val_uar"],
        "monitor": cfg["monitor"],
        "best_monitor_value": st["best_value"],
        "epochs_run": st["epoch"],
        "stopped_early": st["stopped_early"],
        "steps_run": st["steps"],
        "max_steps": cfg.get("max_steps"),
        "stopped_at_max_steps": st["stopped_at_max_steps"],
        "n_train": len(yt),
        "n_val": len(yv),
        "n_pos_train": int(yt.sum()),
        "pos_weight": pos_weight,
        "class_balance": cfg["class_balance"],
        "trainable": cfg["trainable"],
        "bn_recalibrate_batches": int(cfg["bn_recalibrate_batches"]),
        "n_trainable_params": sum(p.numel() for p in params),
        "amp": fit.amp,
        "amp_dtype": fit.amp_dtype,
        **fit.run_record(seed),
    }
