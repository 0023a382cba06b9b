"""4-class ICBHI cycle training (paper P3): CE + label smoothing, AdamW, optional WRS and SAM.

Training config (``ast_sam.training`` deep-merged with the variant's overrides; every key
required, unknown keys rejected)::

    lr: 1.0e-5
    weight_decay: 1.0e-4
    batch_size: 8
    epochs: 20                   # fixed number of epochs (no early stopping, as the paper)
    label_smoothing: 0.1
    sampler: uniform             # uniform (shuffle) | weighted (WRS: weight 1/count[class],
                                 #   n_train draws with replacement, seeded generator)
    sam: {enabled: false, rho: 0.05, adaptive: false}   # pytorch_optimizer.SAM around AdamW
    amp: true                    # bf16 autocast on CUDA (no GradScaler); ignored on CPU
    monitor: score_exact         # validation metric for the clean selection: score_exact | score_any
    paper_protocol: true         # also score the test set after every epoch (history columns
                                 #   test_*), only to report the paper's test-selected epoch

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

Checkpoints: ``checkpoint_dir/last.pt`` after every epoch (model, optimizer, RNG); a later
call with the same config/seed/data resumes from it and gives bit-identical results on CPU.
Imports only torch, numpy, pandas, scikit-learn (splits) and pytorch_optimizer (SAM).
"""

from __future__ import annotations

import copy
import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from auscult import splits
from auscult.atomic import atomic_path, write_csv, write_json
from auscult.configcheck import check_keys
from auscult.evaluation.icbhi import N_CLASSES, icbhi_metrics

from .loop import (
    _batch,
    _cpu_state,
    _digest,
    _model_inputs,
    _num,
    class_balanced_draws,
    predict_logits,
)
from .seeding import get_rng_state, seed_everything, set_rng_state

log = logging.getLogger(__name__)

TRAIN_KEYS = {
    "lr", "weight_decay", "batch_size", "epochs", "label_smoothing", "sampler", "sam", "amp",
    "monitor", "paper_protocol",
}
SAM_KEYS = {"enabled", "rho", "adaptive"}
SPLIT_KEYS = {"val_fraction", "seed", "max_train_cycles", "max_val_cycles", "max_test_cycles"}
SAMPLERS = ("uniform", "weighted")
MONITORS = ("score_exact", "score_any")
METRIC_COLS = ("loss", "sp", "se_exact", "se_any", "score_exact", "score_any")
CHECKPOINT_FORMAT = 1


def validate_train_cfg(cfg: Mapping) -> None:
    check_keys("icbhi training config", "<top level>", cfg, TRAIN_KEYS)
    check_keys("icbhi training config", "sam", cfg["sam"], SAM_KEYS)
    if cfg["sampler"] not in SAMPLERS:
        raise ValueError(f"icbhi training config: sampler must be one of {list(SAMPLERS)}, got {cfg['sampler']!r}")
    if cfg["monitor"] not in MONITORS:
        raise ValueError(f"icbhi training config: monitor must be one of {list(MONITORS)}, got {cfg['monitor']!r}")
    _num("lr", cfg["lr"])
    _num("weight_decay", cfg["weight_decay"], low_inclusive=True)
    _num("batch_size", cfg["batch_size"], integer=True)
    _num("epochs", cfg["epochs"], integer=True)
    _num("label_smoothing", cfg["label_smoothing"], low_inclusive=True)
    _num("sam.rho", cfg["sam"]["rho"])
    for key, v in (("amp", cfg["amp"]), ("paper_protocol", cfg["paper_protocol"]),
                   ("sam.enabled", cfg["sam"]["enabled"]), ("sam.adaptive", cfg["sam"]["adaptive"])):
        if not isinstance(v, bool):
            raise ValueError(f"icbhi training config: {key} must be true or false, got {v!r}")


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
    if sampler == "uniform":
        return torch.randperm(len(y), generator=gen).numpy()
    return class_balanced_draws(y, gen)


def _evaluate(model, data, y, criterion, bs, dev) -> tuple[dict, np.ndarray]:
    logits = predict_logits(model, data, batch_size=bs, device=dev)
    loss = float(criterion(torch.from_numpy(logits).float(), torch.from_numpy(y)))
    m = icbhi_metrics(y, logits.argmax(1))
    return {"loss": loss, **{k: m[k] for k in METRIC_COLS if k != "loss"}}, logits


def _has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def make_optimizer(params, cfg: Mapping):
    """AdamW, or pytorch_optimizer.SAM around AdamW."""
    kwargs = {"lr": float(cfg["lr"]), "weight_decay": float(cfg["weight_decay"])}
    if not cfg["sam"]["enabled"]:
        return torch.optim.AdamW(params, **kwargs)
    from pytorch_optimizer import SAM

    return SAM(params, base_optimizer=torch.optim.AdamW, rho=float(cfg["sam"]["rho"]),
               adaptive=bool(cfg["sam"]["adaptive"]), **kwargs)


def _opt_state(optimizer) -> dict:
    return (optimizer.base_optimizer if hasattr(optimizer, "base_optimizer") else optimizer).state_dict()


def _load_opt_state(optimizer, state: dict) -> None:
    if hasattr(optimizer, "base_optimizer"):
        optimizer.base_optimizer.load_state_dict(state)
        # torch replaces param_groups/state on load: re-link SAM to the base optimizer's.
        optimizer.param_groups = optimizer.base_optimizer.param_groups
        optimizer.state = optimizer.base_optimizer.state
    else:
        optimizer.load_state_dict(state)


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
) -> dict:
    """Train a 4-class model (logits (B, 4)); see the module docstring.

    ``test``/``y_test`` are used only when ``cfg['paper_protocol']`` (and then required). On
    return the model holds the clean (validation-selected) weights, in eval mode. Writes
    ``model.pt``, ``model_paper.pt`` (paper protocol), ``history.csv`` and
    ``train_summary.json`` to ``out_dir``; ``checkpoint_dir/last.pt`` for resuming.
    """
    validate_train_cfg(cfg)
    cfg = copy.deepcopy(dict(cfg))
    out_dir, ckpt_path = Path(out_dir), Path(checkpoint_dir) / "last.pt"
    inputs = _model_inputs(model)
    yt = _labels("train", train, y_train, inputs)
    yv = _labels("val", val, y_val, inputs)
    paper = bool(cfg["paper_protocol"])
    if paper:
        if test is None or y_test is None:
            raise ValueError("paper_protocol: true needs the test set (test, y_test)")
        ys = _labels("test", test, y_test, inputs)
    dev = torch.device(device)
    use_amp = bool(cfg["amp"]) and dev.type == "cuda"
    deterministic = dev.type == "cpu" if deterministic is None else deterministic
    seed_everything(seed, deterministic=deterministic)
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg)
    use_sam = bool(cfg["sam"]["enabled"])
    has_bn = use_sam and _has_bn(model)
    if has_bn:  # BN statistics are updated by the first SAM pass only
        from pytorch_optimizer.optimizer.utils import disable_running_stats, enable_running_stats
    criterion = nn.CrossEntropyLoss(label_smoothing=float(cfg["label_smoothing"]))
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    fingerprint = {
        "cfg": cfg, "seed": int(seed), "inputs": list(inputs), "n_train": len(yt), "n_val": len(yv),
        "labels": _digest(yt, yv, *([ys] if paper else [])),
        "params": [[k, list(v.shape)] for k, v in model.state_dict().items()],
    }
    st: dict[str, Any] = {"epoch": 0, "best_state": None, "best_epoch": None, "best_value": None,
                          "paper_state": None, "paper_epoch": None, "paper_value": None,
                          "history": [], "wall_seconds": 0.0, "train_seconds": 0.0}
    resumed_from = None
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("fingerprint") != fingerprint:
            raise ValueError(f"{ckpt_path} was written by a different run (config, seed, data or "
                             "model differ); delete it to start afresh")
        st = {k: ckpt[k] for k in st}
        resumed_from = st["epoch"]
        if "model" in ckpt:
            model.load_state_dict(ckpt["model"])
            _load_opt_state(optimizer, ckpt["optimizer"])
            set_rng_state(ckpt["rng"], gen)
        del ckpt

    epochs, bs = int(cfg["epochs"]), int(cfg["batch_size"])
    n_batches = math.ceil(len(yt) / bs)

    def loss_at(batch, target):
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = model(batch)
        return criterion(logits.float(), target)

    while st["epoch"] < epochs:
        epoch = st["epoch"] + 1
        t0 = time.perf_counter()
        model.train()
        order = epoch_order(yt, cfg["sampler"], gen)
        loss_sum = 0.0
        bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                   disable=None if progress else True)
        for b in range(n_batches):
            idx = order[b * bs:(b + 1) * bs]
            batch = _batch(train, inputs, idx, dev)
            target = torch.from_numpy(yt[idx]).to(dev)
            optimizer.zero_grad(set_to_none=True)
            if use_sam:
                if has_bn:
                    enable_running_stats(model)
                loss = loss_at(batch, target)
                loss.backward()
                optimizer.first_step(zero_grad=True)
                if has_bn:
                    disable_running_stats(model)
                loss_at(batch, target).backward()
                optimizer.second_step(zero_grad=True)
            else:
                loss = loss_at(batch, target)
                loss.backward()
                optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
            bar.update(1)
        bar.close()
        train_loss = loss_sum / len(yt)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss} at epoch {epoch}")
        t_train = time.perf_counter() - t0
        val_m, _ = _evaluate(model, val, yv, criterion, bs, dev)
        row = {"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in val_m.items()}}
        current = val_m[cfg["monitor"]]
        if math.isfinite(current) and (st["best_value"] is None or current > st["best_value"]):
            st["best_value"], st["best_epoch"], st["best_state"] = float(current), epoch, _cpu_state(model)
        if paper:
            test_m, _ = _evaluate(model, test, ys, criterion, bs, dev)
            row.update({f"test_{k}": v for k, v in test_m.items()})
            value = test_m["score_any"]
            if math.isfinite(value) and (st["paper_value"] is None or value > st["paper_value"]):
                st["paper_value"], st["paper_epoch"], st["paper_state"] = float(value), epoch, _cpu_state(model)
        seconds = time.perf_counter() - t0
        row.update(lr=float(cfg["lr"]), seconds=seconds)
        st["history"].append(row)
        st["epoch"] = epoch
        st["wall_seconds"] += seconds
        st["train_seconds"] += t_train
        ckpt = {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, **st}
        if epoch < epochs:
            ckpt.update(model=model.state_dict(), optimizer=_opt_state(optimizer), rng=get_rng_state(gen))
        with atomic_path(ckpt_path, suffix=".pt") as tmp:
            torch.save(ckpt, tmp)
        del ckpt
        if on_epoch_end is not None:
            on_epoch_end(epoch, dict(row))

    if st["best_state"] is None:
        raise FloatingPointError("no epoch produced a finite validation score; nothing to keep")
    model.load_state_dict(st["best_state"])
    model.eval()
    with atomic_path(out_dir / "model.pt", suffix=".pt") as tmp:
        torch.save(st["best_state"], tmp)
    if paper:
        with atomic_path(out_dir / "model_paper.pt", suffix=".pt") as tmp:
            torch.save(st["paper_state"], tmp)
    write_csv(out_dir / "history.csv", pd.DataFrame(st["history"]))
    best = st["history"][st["best_epoch"] - 1]
    weights = getattr(model, "weights", None)
    summary = {
        "selection": {"clean": {"epoch": st["best_epoch"], "on": f"val_{cfg['monitor']}",
                                "value": st["best_value"]},
                      "paper": ({"epoch": st["paper_epoch"], "on": "test_score_any",
                                 "value": st["paper_value"],
                                 "note": "checkpoint selected on the test set (the paper's protocol)"}
                                if paper else None)},
        "best_epoch": st["best_epoch"],
        "best_val": {k: best[f"val_{k}"] for k in METRIC_COLS},
        "epochs_run": st["epoch"],
        "n_train": len(yt), "n_val": len(yv), "n_test": len(ys) if paper else None,
        "train_class_counts": np.bincount(yt, minlength=N_CLASSES).tolist(),
        "sampler": cfg["sampler"], "sam": cfg["sam"],
        "n_trainable_params": sum(p.numel() for p in params),
        "weights": weights.as_dict() if hasattr(weights, "as_dict") else None,
        "seed": int(seed),
        "wall_s": st["wall_seconds"],
        "samples_per_s": st["epoch"] * len(yt) / st["train_seconds"] if st["train_seconds"] else None,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "amp": "bf16" if use_amp else None,
        "deterministic": bool(deterministic),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "resumed_from_epoch": resumed_from,
    }
    write_json(out_dir / "train_summary.json", summary)
    return summary


# --------------------------------------------------------------------------- protocol
def protocol_splits(index: pd.DataFrame, split_cfg: Mapping) -> dict[str, pd.DataFrame]:
    """train / val / test cycle tables: test = official test recordings; val carved from the
    official training recordings grouped by patient; optional stratified caps (demo/quick)."""
    check_keys("icbhi split config", "split", split_cfg, SPLIT_KEYS)
    test = index[index["official_split"] == "test"].reset_index(drop=True)
    pool = index[index["official_split"] == "train"].reset_index(drop=True)
    if test.empty or pool.empty:
        raise ValueError("feature index needs official_split 'train' and 'test' cycles (ICBHI protocol)")
    seed = int(split_cfg["seed"])
    rest, val = splits.carve(pool, float(split_cfg["val_fraction"]), seed, group="patient_id")
    parts = {
        "train": splits.subsample(rest, split_cfg["max_train_cycles"], seed),
        "val": splits.subsample(val, split_cfg["max_val_cycles"], seed),
        "test": splits.subsample(test, split_cfg["max_test_cycles"], seed),
    }
    splits.assert_disjoint(parts["train"], parts["val"], what="train/val")
    # The official split is by recording: patients 156 and 218 are in both halves.
    splits.assert_disjoint(parts["train"], parts["test"], what="train/test", patients=False)
    splits.assert_disjoint(parts["val"], parts["test"], what="val/test", patients=False)
    for name in ("train", "test"):
        shared = set(parts[name]["recording"]) & set(parts["val"]["recording"])
        if shared:
            raise AssertionError(f"{name}/val share recordings {sorted(shared)[:3]}")
    return parts


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
) -> dict:
    """Train one (variant, seed) from the cached ``icbhi_ast`` features; model_card.json too.

    ``train_params`` = {model, training, split} (the variant already merged in).
    """
    from auscult.features.store import load_arrays, read_index
    from auscult.models import build_model

    check_keys("icbhi train params", "<top level>", train_params, {"model", "training", "split"})
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
        device=device, progress=progress,
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
        weights={"weights": weights.get("status", "scratch"), "weights_reason": weights.get("reason", "")}))
    # As the other papers' runners: a finished run no longer needs its resumable state.
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return summary
