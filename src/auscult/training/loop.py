"""Binary training loop: early stopping, LR plateau, AMP, exact resume from a checkpoint.

Training config (every key required; unknown keys are rejected)::

    optimizer: adamw             # adamw | adam  (torch defaults for betas and eps)
    lr: 3.0e-4
    weight_decay: 1.0e-4
    batch_size: 32
    max_epochs: 100
    patience: 15                 # early stopping: epochs without improvement of the monitor
    monitor: val_auc             # val_auc | val_uar (higher is better) | val_loss (lower)
    lr_plateau: {factor: 0.5, patience: 10, min_lr: 1.0e-6}
    class_balance: pos_weight    # pos_weight (BCE pos_weight = n_neg / n_pos)
                                 # | sampler (each epoch draws n_train indices with
                                 #   replacement, both classes equally likely) | none
    amp: true                    # fp16 autocast + GradScaler on CUDA; ignored on CPU
    trainable: all               # all | head (freeze model.backbone, keep it in eval mode)
    bn_recalibrate_batches: 0    # 0: keep BatchNorm's running statistics as trained. N > 0:
                                 # after every epoch, before validation, recompute them as the
                                 # exact average over N training batches (see below)

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

Outputs in ``out_dir``: ``history.csv``, ``model.pt`` (best state_dict), ``train_summary.json``.
``checkpoint_dir/last.pt`` (default ``out_dir/checkpoints``) is written after every epoch; a
later call resumes from it and produces bit-identical results on CPU. Workflows keep it
outside the versioned run folder, so that folder holds only final artifacts.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from auscult.configcheck import check_keys

from ..atomic import atomic_path, write_csv, write_json
from ..evaluation.metrics import roc_auc
from .seeding import get_rng_state, seed_everything, set_rng_state

TRAIN_KEYS = {
    "optimizer", "lr", "weight_decay", "batch_size", "max_epochs", "patience", "monitor",
    "lr_plateau", "class_balance", "amp", "trainable", "bn_recalibrate_batches",
}
PLATEAU_KEYS = {"factor", "patience", "min_lr"}
OPTIMIZERS = ("adamw", "adam")
MONITORS = ("val_auc", "val_uar", "val_loss")
CLASS_BALANCE = ("pos_weight", "sampler", "none")
TRAINABLE = ("all", "head")
HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_auc", "val_uar", "lr", "seconds"]
CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------- config
def _keys(section: str, got: Any, required: set[str]) -> None:
    check_keys("training config", section, got, required)


def _num(name: str, v: Any, *, integer: bool = False, low: float = 0.0,
         low_inclusive: bool = False) -> None:
    ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok_type or not (v >= low if low_inclusive else v > low):
        kind = "an integer" if integer else "a number"
        rel = ">=" if low_inclusive else ">"
        raise ValueError(f"training config: {name} must be {kind} {rel} {low}, got {v!r}")


def validate_train_cfg(cfg: Mapping) -> None:
    """Raise KeyError / ValueError naming the first missing, unknown or invalid key."""
    _keys("<top level>", cfg, TRAIN_KEYS)
    for key, allowed in (("optimizer", OPTIMIZERS), ("monitor", MONITORS),
                         ("class_balance", CLASS_BALANCE), ("trainable", TRAINABLE)):
        if cfg[key] not in allowed:
            raise ValueError(f"training config: {key} must be one of {list(allowed)}, "
                             f"got {cfg[key]!r}")
    _num("lr", cfg["lr"])
    _num("weight_decay", cfg["weight_decay"], low_inclusive=True)
    _num("batch_size", cfg["batch_size"], integer=True)
    _num("max_epochs", cfg["max_epochs"], integer=True)
    _num("patience", cfg["patience"], integer=True)
    _num("bn_recalibrate_batches", cfg["bn_recalibrate_batches"], integer=True, low_inclusive=True)
    if not isinstance(cfg["amp"], bool):
        raise ValueError(f"training config: amp must be true or false, got {cfg['amp']!r}")
    p = cfg["lr_plateau"]
    _keys("lr_plateau", p, PLATEAU_KEYS)
    _num("lr_plateau.factor", p["factor"])
    if p["factor"] >= 1:
        raise ValueError(f"training config: lr_plateau.factor must be < 1, got {p['factor']!r}")
    _num("lr_plateau.patience", p["patience"], integer=True, low_inclusive=True)
    _num("lr_plateau.min_lr", p["min_lr"], low_inclusive=True)


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


def _batch(data: Mapping[str, np.ndarray], inputs: tuple[str, ...], idx,
           device: torch.device) -> dict[str, torch.Tensor]:
    """Rows ``idx`` (slice or index array) of each input as float32 tensors. Only those rows
    are read, so memory-mapped arrays are never loaded whole."""
    out = {}
    for k in inputs:
        arr = np.ascontiguousarray(data[k][idx], dtype=np.float32)
        out[k] = torch.from_numpy(arr).to(device, non_blocking=True)
    return out


def _model_inputs(model: nn.Module) -> tuple[str, ...]:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise AttributeError("model must define .inputs, the tuple of feature keys it reads")
    return tuple(inputs)


@torch.no_grad()
def predict_logits(model: nn.Module, data: Mapping[str, np.ndarray], *, batch_size: int,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Raw logits (float64) in eval mode without gradients; the model's mode is restored.
    Shape (N,) for a binary model (outputs (B,) or (B, 1)), (N, C) for a C-class one."""
    inputs = _model_inputs(model)
    missing = [k for k in inputs if k not in data]
    if missing:
        raise KeyError(f"data lacks input(s) {missing}; the model uses {list(inputs)}")
    n = len(data[inputs[0]])
    if any(len(data[k]) != n for k in inputs):
        raise ValueError("all input arrays must have the same number of rows")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    try:
        chunks = []
        for i in range(0, n, int(batch_size)):
            logits = model(_batch(data, inputs, slice(i, min(i + int(batch_size), n)), device))
            chunks.append(logits.detach().double().cpu().numpy().reshape(len(logits), -1))
    finally:
        model.train(was_training)
    out = np.concatenate(chunks) if chunks else np.zeros((0, 1))
    return out[:, 0] if out.shape[1] == 1 else out


def class_balanced_draws(y: np.ndarray, gen: torch.Generator) -> np.ndarray:
    """``len(y)`` indices drawn with replacement, each example weighted 1 / (count of its
    class), so every class is drawn equally often in expectation (what
    ``WeightedRandomSampler(weights, len(y), replacement=True, generator=gen)`` does)."""
    counts = np.bincount(y.astype(np.int64))
    w = torch.as_tensor(1.0 / counts[y.astype(np.int64)], dtype=torch.double)
    return torch.multinomial(w, len(y), replacement=True, generator=gen).numpy()


def predict_scores(model: nn.Module, data: Mapping[str, np.ndarray], *, batch_size: int,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Sigmoid probabilities (float64) in eval mode without gradients."""
    logits = predict_logits(model, data, batch_size=batch_size, device=device)
    return 1.0 / (1.0 + np.exp(-logits))


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _uar(y: np.ndarray, logits: np.ndarray) -> float:
    """Unweighted average recall at logit 0; NaN unless both classes are present."""
    pred = logits > 0
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return float("nan")
    return float((pred[pos].mean() + (~pred[neg]).mean()) / 2)


_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batchnorm_layers(model: nn.Module, *, skip: nn.Module | None = None) -> list[nn.Module]:
    """The model's BatchNorm layers that track running statistics, except those in ``skip``."""
    frozen = {id(m) for m in skip.modules()} if skip is not None else set()
    return [m for m in model.modules()
            if isinstance(m, _BN) and m.track_running_stats and id(m) not in frozen]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, data: Mapping[str, np.ndarray], *, batch_size: int,
                          max_batches: int, seed: int, device: torch.device,
                          skip: nn.Module | None = None) -> int:
    """Re-estimate BatchNorm running statistics as the exact average over up to
    ``max_batches`` batches of ``data`` (a seeded permutation; other layers in eval mode).
    Returns the number of examples used. The model is left in eval mode."""
    layers = batchnorm_layers(model, skip=skip)
    if not layers or max_batches <= 0:
        return 0
    inputs = _model_inputs(model)
    n = len(data[inputs[0]])
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    order = torch.randperm(n, generator=gen).numpy()[: int(max_batches) * int(batch_size)]
    order.sort()  # contiguous reads from memory-mapped shards
    model.eval()
    saved = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the exact mean over the batches
        m.train()
    try:
        for i in range(0, len(order), int(batch_size)):
            idx = order[i:i + int(batch_size)]
            if len(idx) < 2:  # BatchNorm needs two examples in train mode
                continue
            model(_batch(data, inputs, idx, device))
    finally:
        for m, mom in zip(layers, saved, strict=True):
            m.momentum = mom
        model.eval()
    return int(len(order))


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


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
) -> dict:
    """Train ``model`` (raw-logit output, shape (B,)) with BCE; see the module docstring.

    ``on_epoch_end(epoch, history_row)`` is called after the epoch's checkpoint is saved
    (an exception there leaves a resumable checkpoint). ``deterministic`` defaults to True on
    CPU and False on CUDA (cuDNN deterministic kernels are slow). On return the model holds
    the best weights and is in eval mode. Returns the summary written to train_summary.json.
    """
    validate_train_cfg(cfg)
    cfg = copy.deepcopy(dict(cfg))
    out_dir = Path(out_dir)
    ckpt_path = Path(checkpoint_dir if checkpoint_dir is not None else out_dir / "checkpoints") / "last.pt"
    inputs = _model_inputs(model)
    yt = _check_data("train", train, y_train, inputs)
    yv = _check_data("val", val, y_val, inputs)
    n_train, n_val = len(yt), len(yv)
    n_pos = int(yt.sum())
    n_neg = n_train - n_pos
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

    dev = torch.device(device)
    use_amp = bool(cfg["amp"]) and dev.type == "cuda"
    if deterministic is None:
        deterministic = dev.type == "cpu"
    seed_everything(seed, deterministic=deterministic)
    model.to(dev)
    head_only = cfg["trainable"] == "head"
    if head_only:
        if not hasattr(model, "backbone") or not hasattr(model, "head"):
            raise AttributeError("trainable 'head' needs a model with .backbone and .head")
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    opt_cls = torch.optim.AdamW if cfg["optimizer"] == "adamw" else torch.optim.Adam
    optimizer = opt_cls(params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    maximize = cfg["monitor"] != "val_loss"
    plateau = cfg["lr_plateau"]
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max" if maximize else "min", factor=float(plateau["factor"]),
        patience=int(plateau["patience"]), min_lr=float(plateau["min_lr"]),
        threshold=0.0, threshold_mode="abs",
    )
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, dtype=torch.float32,
                                                             device=dev))
    gen = torch.Generator()
    gen.manual_seed(int(seed))

    fingerprint = {
        "cfg": cfg, "seed": int(seed), "inputs": list(inputs), "n_train": n_train,
        "n_val": n_val, "labels": _digest(yt, yv),
        "params": [[k, list(v.shape)] for k, v in model.state_dict().items()],
    }
    st: dict[str, Any] = {
        "epoch": 0, "best_state": None, "best_epoch": None, "best_value": None,
        "bad_epochs": 0, "history": [], "finished": False, "stopped_early": False,
        "train_seconds": 0.0, "wall_seconds": 0.0, "samples_seen": 0,
    }
    resumed_from = None
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("fingerprint") != fingerprint:
            raise ValueError(
                f"{ckpt_path} was written by a different run (config, seed, data or model "
                "differ); delete it to start afresh"
            )
        for k in st:
            st[k] = ckpt[k]
        resumed_from = st["epoch"]
        if not st["finished"]:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            if use_amp:
                scaler.load_state_dict(ckpt["scaler"])
            set_rng_state(ckpt["rng"], gen)
        del ckpt

    max_epochs = int(cfg["max_epochs"])
    bs = int(cfg["batch_size"])
    n_batches = math.ceil(n_train / bs)
    while not st["finished"]:
        epoch = st["epoch"] + 1
        t0 = time.perf_counter()
        model.train()
        if head_only:
            model.backbone.eval()  # BN statistics and dropout of the frozen part stay fixed
        lr = float(optimizer.param_groups[0]["lr"])
        if cfg["class_balance"] == "sampler":  # classes sampled equally
            perm = class_balanced_draws(yt, gen)
        else:
            perm = torch.randperm(n_train, generator=gen).numpy()
        loss_sum = 0.0
        bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{max_epochs}", unit="batch",
                   leave=False, disable=None if progress else True)
        for b in range(n_batches):
            idx = perm[b * bs:(b + 1) * bs]
            batch = _batch(train, inputs, idx, dev)
            target = torch.from_numpy(yt[idx]).to(dev)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=use_amp):
                logits = model(batch)
            loss = criterion(logits.float().reshape(-1), target)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_val = float(loss.detach())
            loss_sum += loss_val * len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_val:.4f}")
        bar.close()
        train_loss = loss_sum / n_train
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss} at epoch {epoch}")
        t_train = time.perf_counter() - t0
        if int(cfg["bn_recalibrate_batches"]) > 0:
            recalibrate_batchnorm(model, train, batch_size=bs,
                                  max_batches=int(cfg["bn_recalibrate_batches"]),
                                  seed=int(seed) * 100_003 + epoch, device=dev,
                                  skip=model.backbone if head_only else None)

        val_logits = predict_logits(model, val, batch_size=bs, device=dev)
        val_loss = float(criterion(torch.from_numpy(val_logits).float().to(dev),
                                   torch.from_numpy(yv).to(dev)))
        val_auc = roc_auc(yv, val_logits) if len(np.unique(yv)) == 2 else float("nan")
        val_uar = _uar(yv, val_logits)
        current = {"val_auc": val_auc, "val_uar": val_uar, "val_loss": val_loss}[cfg["monitor"]]
        best = st["best_value"]
        improved = math.isfinite(current) and (
            best is None or (current > best if maximize else current < best)
        )
        if improved:
            st["best_value"], st["best_epoch"] = float(current), epoch
            st["best_state"] = _cpu_state(model)
            st["bad_epochs"] = 0
        else:
            st["bad_epochs"] += 1
        scheduler.step(current)
        seconds = time.perf_counter() - t0
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
               "val_auc": val_auc, "val_uar": val_uar, "lr": lr, "seconds": seconds}
        st["history"].append(row)
        st["epoch"] = epoch
        st["train_seconds"] += t_train
        st["wall_seconds"] += seconds
        st["samples_seen"] += n_train
        st["stopped_early"] = st["bad_epochs"] >= int(cfg["patience"]) and epoch < max_epochs
        st["finished"] = st["stopped_early"] or epoch >= max_epochs
        ckpt = {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, **st}
        if not st["finished"]:  # a finished run needs no optimizer or RNG state to go on
            ckpt.update(model=model.state_dict(), optimizer=optimizer.state_dict(),
                        scheduler=scheduler.state_dict(), scaler=scaler.state_dict(),
                        rng=get_rng_state(gen))
        with atomic_path(ckpt_path, suffix=".pt") as tmp:
            torch.save(ckpt, tmp)
        del ckpt
        if on_epoch_end is not None:
            on_epoch_end(epoch, dict(row))

    if st["best_state"] is None:  # only possible if every monitored value was non-finite
        raise FloatingPointError("no epoch produced a finite monitored value; nothing to keep")
    model.load_state_dict(st["best_state"])
    model.eval()
    with atomic_path(out_dir / "model.pt", suffix=".pt") as tmp:
        torch.save(st["best_state"], tmp)
    write_csv(out_dir / "history.csv", pd.DataFrame(st["history"], columns=HISTORY_COLUMNS))
    best_row = st["history"][st["best_epoch"] - 1]
    summary = {
        "best_epoch": st["best_epoch"],
        "best_val_auc": best_row["val_auc"],
        "best_val_loss": best_row["val_loss"],
        "best_val_uar": best_row["val_uar"],
        "monitor": cfg["monitor"],
        "best_monitor_value": st["best_value"],
        "epochs_run": st["epoch"],
        "stopped_early": st["stopped_early"],
        "n_train": n_train,
        "n_val": n_val,
        "n_pos_train": n_pos,
        "pos_weight": pos_weight,
        "class_balance": cfg["class_balance"],
        "trainable": cfg["trainable"],
        "bn_recalibrate_batches": int(cfg["bn_recalibrate_batches"]),
        "n_trainable_params": sum(p.numel() for p in params),
        "seed": int(seed),
        "wall_s": st["wall_seconds"],
        "samples_per_s": st["samples_seen"] / st["train_seconds"] if st["train_seconds"] else None,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "amp": use_amp,
        "deterministic": bool(deterministic),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "resumed_from_epoch": resumed_from,
    }
    write_json(out_dir / "train_summary.json", summary)
    return summary
