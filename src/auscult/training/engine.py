"""The training engine every paper trains with: epochs, selection, early stopping, exact resume.

A paper's trainer (``train_binary`` of :mod:`.binary` for AudioFuse and Koike, ``train_cycles``
of :mod:`.ast_sam` for AST+SAM) validates its config, seeds (:func:`setup`), builds the
optimizer (:func:`make_optimizer`) and hands the engine a :class:`Task` (training data and
order, loss, validation metrics, what to select on) and :class:`Settings` (epochs, batch size,
early stopping, LR plateau, AMP, SAM, BatchNorm recalibration). :func:`fit` runs the epochs
and writes ``model.pt`` (and one file per further :class:`Selection`) and ``history.csv``;
the trainer writes ``train_summary.json`` from the :class:`Fit` it returns.

One epoch: ``model.train()`` (a frozen part stays in eval mode); the order of the epoch's
training examples from the seeded generator (a permutation, or class-balanced draws with
replacement); per batch one optimizer step, or SAM's two passes (``first_step`` at w + e,
``second_step`` at w with the perturbed gradient; models with BatchNorm get
pytorch_optimizer's ``enable_running_stats`` / ``disable_running_stats`` so running
statistics are updated by the first pass only); optionally BatchNorm recalibration
(:func:`recalibrate_batchnorm`); the task's evaluation, whose values join the history row
``epoch, train_loss, <metrics>, lr, seconds``; every selection keeps the state of its best
epoch (strict improvement, so ties keep the earlier epoch; non-finite values never count);
the first selection also drives early stopping (``patience``) and ReduceLROnPlateau
(threshold 0). AMP: ``fp16`` autocast + GradScaler, or ``bf16`` autocast, on CUDA only
unless ``Settings.amp_on_cpu`` (a training config's ``amp: fp16`` / ``amp: bf16``, for tests
and CPU rehearsals): then the same code path runs on the CPU too (CPU autocast,
``torch.amp.GradScaler("cpu")`` for fp16). SAM with fp16's GradScaler is refused (SAM's
two passes per step cannot share one GradScaler step; use bf16).

Step cap: ``Settings.max_steps`` (a training config's ``max_steps``, absent = no cap) stops
training after that many optimizer steps over the whole run (one per batch; a SAM pair and a
step the GradScaler skips count as one): the epoch in progress ends early, and its
BatchNorm recalibration, validation, selection and checkpoint still run. The run state
counts ``steps``; a resumed run goes on counting.

Checkpoints: ``last.pt`` at the end of an epoch once ``AUSCULT_CHECKPOINT_EVERY_S`` seconds
(a runtime setting, default 60; 0 = every epoch) have passed since the last one was written
or the run started, so an interruption loses at most that much work while epochs of a few
seconds (the demo) do not spend more time writing checkpoints than training. It holds ``format``, ``fingerprint`` (the run's identity:
a different config, seed, data or model is refused), the run state (epoch, history, the
selections' states, early-stopping counters, timings) and, while unfinished, the model,
optimizer (the base optimizer's under SAM), scheduler, scaler and every RNG state. A later
call resumes from it and gives bit-identical results on CPU; a finished run is not trained
again. The format is the one both former loops wrote (a state key one of them did not write
takes its default when read). An unreadable ``last.pt`` (empty, truncated, not a torch file)
is moved aside to ``last.pt.corrupt`` with a warning and the run starts from scratch.

Imports only torch, numpy, pandas, tqdm and the standard library (pytorch_optimizer when SAM
is on), so it runs on a GPU machine without the audio stack.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..atomic import atomic_path, write_csv
from .seeding import get_rng_state, seed_everything, set_rng_state

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
CHECKPOINT_EVERY_ENV = "AUSCULT_CHECKPOINT_EVERY_S"
CHECKPOINT_EVERY_DEFAULT_S = 60.0


def checkpoint_every_s() -> float:
    """Seconds between resumable checkpoints (``$AUSCULT_CHECKPOINT_EVERY_S``, default 60)."""
    raw = os.environ.get(CHECKPOINT_EVERY_ENV, "").strip()
    if not raw:
        return CHECKPOINT_EVERY_DEFAULT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{CHECKPOINT_EVERY_ENV}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{CHECKPOINT_EVERY_ENV}={raw!r} must be a finite number of seconds >= 0")
    return value


AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


# --------------------------------------------------------------------------- config helpers
def amp_settings(amp: bool | str, paper_dtype: str) -> dict:
    """engine.Settings' ``amp`` and ``amp_on_cpu`` for a config's ``amp``: true = the paper's
    ``paper_dtype`` on CUDA only, a dtype name = that autocast on any device, false = none."""
    if isinstance(amp, str):
        return {"amp": amp, "amp_on_cpu": True}
    return {"amp": paper_dtype if amp else None, "amp_on_cpu": False}


# --------------------------------------------------------------------------- data helpers
def model_inputs(model: nn.Module) -> tuple[str, ...]:
    """The feature keys the model reads (its ``.inputs``)."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise AttributeError("model must define .inputs, the tuple of feature keys it reads")
    return tuple(inputs)


def batch_tensors(data: Mapping[str, np.ndarray], inputs: Sequence[str], idx,
                  device: torch.device) -> dict[str, torch.Tensor]:
    """Rows ``idx`` (slice or index array) of each input as float32 tensors. Only those rows
    are read, so memory-mapped arrays are never loaded whole."""
    out = {}
    for k in inputs:
        arr = np.ascontiguousarray(data[k][idx], dtype=np.float32)
        out[k] = torch.from_numpy(arr).to(device, non_blocking=True)
    return out


@torch.no_grad()
def predict_logits(model: nn.Module, data: Mapping[str, np.ndarray], *, batch_size: int,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Raw logits (float64) in eval mode without gradients; the model's mode is restored.
    Shape (N,) for a binary model (outputs (B,) or (B, 1)), (N, C) for a C-class one."""
    inputs = model_inputs(model)
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
            logits = model(batch_tensors(data, inputs, slice(i, min(i + int(batch_size), n)), device))
            chunks.append(logits.detach().double().cpu().numpy().reshape(len(logits), -1))
    finally:
        model.train(was_training)
    out = np.concatenate(chunks) if chunks else np.zeros((0, 1))
    return out[:, 0] if out.shape[1] == 1 else out


def predict_scores(model: nn.Module, data: Mapping[str, np.ndarray], *, batch_size: int,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Sigmoid probabilities (float64) in eval mode without gradients."""
    logits = predict_logits(model, data, batch_size=batch_size, device=device)
    return 1.0 / (1.0 + np.exp(-logits))


def class_balanced_draws(y: np.ndarray, gen: torch.Generator) -> np.ndarray:
    """``len(y)`` indices drawn with replacement, each example weighted 1 / (count of its
    class), so every class is drawn equally often in expectation (what
    ``WeightedRandomSampler(weights, len(y), replacement=True, generator=gen)`` does)."""
    counts = np.bincount(y.astype(np.int64))
    w = torch.as_tensor(1.0 / counts[y.astype(np.int64)], dtype=torch.double)
    return torch.multinomial(w, len(y), replacement=True, generator=gen).numpy()


def sample_order(y: np.ndarray, balanced: bool, gen: torch.Generator) -> np.ndarray:
    """One epoch's indices: a permutation, or class-balanced draws (:func:`class_balanced_draws`)."""
    if balanced:
        return class_balanced_draws(y, gen)
    return torch.randperm(len(y), generator=gen).numpy()


def digest(*arrays: np.ndarray) -> str:
    """A short sha256 of the arrays' bytes (run fingerprints)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's state_dict on the CPU."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def param_shapes(model: nn.Module) -> list[list]:
    """``[[name, shape], ...]`` of the state_dict (part of a run's fingerprint)."""
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


# --------------------------------------------------------------------------- BatchNorm
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def has_batchnorm(model: nn.Module) -> bool:
    """Whether the model has any BatchNorm layer (SAM's running-statistics handling)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


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
    inputs = model_inputs(model)
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
    # Only the layers up to the last BatchNorm call matter: the first batch counts the BN
    # calls of one forward pass, later batches stop there (VGG's only BN is its input norm,
    # so its recalibration costs one full forward pass instead of max_batches).
    calls = {"seen": 0, "per_forward": None}

    def count(_module, _inputs, _output):
        calls["seen"] += 1
        if calls["per_forward"] is not None and calls["seen"] >= calls["per_forward"]:
            raise _LastBatchNormDone

    hooks = [m.register_forward_hook(count) for m in layers]
    try:
        for i in range(0, len(order), int(batch_size)):
            idx = order[i:i + int(batch_size)]
            if len(idx) < 2:  # BatchNorm needs two examples in train mode
                continue
            calls["seen"] = 0
            try:
                model(batch_tensors(data, inputs, idx, device))
            except _LastBatchNormDone:
                pass
            if calls["per_forward"] is None:
                calls["per_forward"] = calls["seen"]
    finally:
        for h in hooks:
            h.remove()
        for m, mom in zip(layers, saved, strict=True):
            m.momentum = mom
        model.eval()
    return int(len(order))


class _LastBatchNormDone(Exception):
    """Raised by recalibrate_batchnorm's hook after a batch's last BatchNorm call."""


# --------------------------------------------------------------------------- optimizers
def make_optimizer(params, *, lr: float, weight_decay: float, optimizer: str = "adamw",
                   sam: Mapping | None = None):
    """torch AdamW / Adam, or (``sam`` with ``enabled: true``) pytorch_optimizer.SAM around it."""
    base = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[optimizer]
    kwargs = {"lr": float(lr), "weight_decay": float(weight_decay)}
    if not (sam and sam["enabled"]):
        return base(params, **kwargs)
    from pytorch_optimizer import SAM

    return SAM(params, base_optimizer=base, rho=float(sam["rho"]), adaptive=bool(sam["adaptive"]), **kwargs)


def is_sam(optimizer) -> bool:
    return hasattr(optimizer, "base_optimizer") and hasattr(optimizer, "first_step")


def optimizer_state(optimizer) -> dict:
    """The state to checkpoint: the base optimizer's under SAM."""
    return (optimizer.base_optimizer if hasattr(optimizer, "base_optimizer") else optimizer).state_dict()


def load_optimizer_state(optimizer, state: dict) -> None:
    if hasattr(optimizer, "base_optimizer"):
        optimizer.base_optimizer.load_state_dict(state)
        # torch replaces param_groups/state on load: re-link SAM to the base optimizer's.
        optimizer.param_groups = optimizer.base_optimizer.param_groups
        optimizer.state = optimizer.base_optimizer.state
    else:
        optimizer.load_state_dict(state)


# --------------------------------------------------------------------------- the engine
@dataclass(frozen=True)
class Selection:
    """A kept state: the epoch with the best history value ``column``. Its run-state keys are
    ``<name>_state``, ``<name>_epoch`` and ``<name>_value``; its weights go to ``file``."""

    name: str
    column: str
    maximize: bool = True
    file: str = "model.pt"


class Task:
    """What a paper's trainer gives the engine. Subclasses set the attributes and override
    :meth:`loss` and :meth:`evaluate`.

    ``train``/``y``: the training inputs and targets (``y[idx]`` becomes the loss target
    tensor); ``inputs``: the model's feature keys; ``balanced``: class-balanced draws instead
    of a permutation each epoch; ``selections``: the first is the model the run returns
    (``model.pt``), which also drives early stopping and the LR plateau; ``fingerprint``: the
    run's identity in the checkpoint.
    """

    train: Mapping[str, np.ndarray]
    y: np.ndarray
    inputs: tuple[str, ...]
    balanced: bool = False
    selections: tuple[Selection, ...] = ()
    fingerprint: dict

    def epoch_order(self, gen: torch.Generator) -> np.ndarray:
        return sample_order(self.y, self.balanced, gen)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation (and other) metrics of the model after an epoch: history columns."""
        raise NotImplementedError


@dataclass
class Settings:
    """Engine settings. ``patience`` None: no early stopping. ``plateau``: {factor, patience,
    min_lr} for ReduceLROnPlateau on the first selection, or None. ``amp``: 'fp16' | 'bf16' |
    None (CUDA only, unless ``amp_on_cpu``: then on any device). ``max_steps``: stop after
    that many optimizer steps (None: no cap). ``frozen``: a part kept in eval mode in training and left alone by the
    BatchNorm recalibration (``bn_recalibrate_batches`` > 0: after each epoch, seed
    ``seed * 100003 + epoch``). ``history_columns``: the columns of history.csv (None: the
    row keys)."""

    max_epochs: int
    batch_size: int
    patience: int | None = None
    plateau: Mapping | None = None
    amp: str | None = None
    frozen: nn.Module | None = None
    bn_recalibrate_batches: int = 0
    history_columns: Sequence[str] | None = None
    amp_on_cpu: bool = False
    max_steps: int | None = None


@dataclass
class Fit:
    """What :func:`fit` returns: the final run state and how the run went."""

    state: dict
    resumed_from: int | None
    device: torch.device
    amp: bool
    deterministic: bool
    amp_dtype: str | None = None  # 'fp16' | 'bf16' where autocast ran, else None

    def best_row(self) -> dict:
        return self.state["history"][self.state["best_epoch"] - 1]

    def run_record(self, seed: int) -> dict:
        """The fields every training summary shares: seed, timings, throughput, device and
        the torch that ran it, and the epoch a resumed run started from."""
        st = self.state
        return {
            "seed": int(seed),
            "wall_s": st["wall_seconds"],
            "samples_per_s": st["samples_seen"] / st["train_seconds"] if st["train_seconds"] else None,
            # seconds per optimizer step (the training passes only: no validation, no BN recalibration)
            "s_per_step": st["train_seconds"] / st["steps"] if st["steps"] else None,
            # peak GPU memory torch allocated in this process (CUDA only), MB
            "gpu_max_memory_mb": (torch.cuda.max_memory_allocated(self.device) / 2**20
                                  if self.device.type == "cuda" else None),
            "device": str(self.device),
            "device_name": device_name(self.device),
            "deterministic": bool(self.deterministic),
            "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__,
            "resumed_from_epoch": self.resumed_from,
        }


def setup(seed: int, device: str | torch.device, deterministic: bool | None) -> tuple[torch.device, bool]:
    """Seed everything; ``deterministic`` defaults to True on CPU and False on CUDA (cuDNN
    deterministic kernels are slow). Returns (device, deterministic)."""
    dev = torch.device(device)
    if deterministic is None:
        deterministic = dev.type == "cpu"
    seed_everything(seed, deterministic=deterministic)
    return dev, bool(deterministic)


def _initial_state(selections: Sequence[Selection]) -> dict[str, Any]:
    st: dict[str, Any] = {"epoch": 0}
    for s in selections:
        st.update({f"{s.name}_state": None, f"{s.name}_epoch": None, f"{s.name}_value": None})
    st.update(bad_epochs=0, history=[], finished=False, stopped_early=False, train_seconds=0.0,
              wall_seconds=0.0, samples_seen=0, steps=0, stopped_at_max_steps=False)
    return st


def _better(value: float, best: float | None, maximize: bool) -> bool:
    return math.isfinite(value) and (best is None or (value > best if maximize else value < best))


def fit(
    model: nn.Module,
    task: Task,
    optimizer,
    settings: Settings,
    out_dir: str | Path,
    *,
    checkpoint_path: str | Path,
    seed: int,
    device: torch.device,
    deterministic: bool,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> Fit:
    """Train ``model`` (already on ``device``, seeded by :func:`setup`) with ``optimizer``;
    see the module docstring. ``on_epoch_end(epoch, history_row)`` is called after the
    epoch's checkpoint, when one is due, is saved (with ``AUSCULT_CHECKPOINT_EVERY_S=0`` an
    exception there always leaves a resumable checkpoint). On return
    the model holds the first selection's weights and is in eval mode."""
    if not task.selections:
        raise ValueError("a task needs at least one selection")
    out_dir, ckpt_path = Path(out_dir), Path(checkpoint_path)
    run = _set_up_run(model, task, optimizer, settings, device=device, seed=seed)
    st, resumed_from = _resume(ckpt_path, task, model, optimizer, run)

    every_s = checkpoint_every_s()
    last_saved = time.perf_counter()
    while not st["finished"]:
        epoch = st["epoch"] + 1
        t0 = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        train_loss, n_seen = _train_one_epoch(model, task, optimizer, settings, run, st, epoch,
                                              progress=progress)
        t_train = time.perf_counter() - t0
        if int(settings.bn_recalibrate_batches) > 0:
            recalibrate_batchnorm(model, task.train, batch_size=int(settings.batch_size),
                                  max_batches=int(settings.bn_recalibrate_batches),
                                  seed=int(seed) * 100_003 + epoch, device=run.dev, skip=settings.frozen)

        row = {"epoch": epoch, "train_loss": train_loss, **task.evaluate(model)}
        _update_selections(model, task, run, st, row, epoch)
        row.update(lr=lr, seconds=time.perf_counter() - t0)
        _record_epoch(st, settings, row, t_train=t_train, n_seen=n_seen)
        if time.perf_counter() - last_saved >= every_s:
            _save_checkpoint(ckpt_path, task, st, model, optimizer, run.scheduler, run.scaler, run.gen)
            last_saved = time.perf_counter()
        if on_epoch_end is not None:
            on_epoch_end(epoch, dict(row))

    _write_outputs(model, task, settings, st, out_dir)
    return Fit(state=st, resumed_from=resumed_from, device=run.dev, amp=run.use_amp,
               deterministic=deterministic, amp_dtype=settings.amp if run.use_amp else None)


@dataclass
class _Run:
    """What :func:`fit` sets up once: device, autocast, step cap, LR plateau scheduler,
    GradScaler, SAM (with its BatchNorm running-statistics switches) and the generator of
    the epochs' order."""

    dev: torch.device
    use_amp: bool
    amp_dtype: torch.dtype
    max_steps: int | None
    primary: Selection
    scheduler: Any
    scaler: Any
    sam: bool
    # (enable_running_stats, disable_running_stats) where SAM meets BatchNorm, else None
    sam_bn_switches: tuple[Callable, Callable] | None
    gen: torch.Generator


def _set_up_run(model: nn.Module, task: Task, optimizer, settings: Settings, *,
                device: torch.device, seed: int) -> _Run:
    """Check the settings and build the scheduler, scaler and the seeded order generator."""
    dev = torch.device(device)
    if settings.amp is not None and settings.amp not in AMP_DTYPES:
        raise ValueError(f"amp must be one of {sorted(AMP_DTYPES)} or None, got {settings.amp!r}")
    use_amp = settings.amp is not None and (dev.type == "cuda" or bool(settings.amp_on_cpu))
    amp_dtype = AMP_DTYPES[settings.amp] if settings.amp is not None else torch.float16
    max_steps = None if settings.max_steps is None else int(settings.max_steps)
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer or None, got {settings.max_steps!r}")
    primary = task.selections[0]
    scheduler = None
    if settings.plateau is not None:
        p = settings.plateau
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max" if primary.maximize else "min", factor=float(p["factor"]),
            patience=int(p["patience"]), min_lr=float(p["min_lr"]), threshold=0.0, threshold_mode="abs",
        )
    scaler = torch.amp.GradScaler(dev.type, enabled=use_amp) if settings.amp == "fp16" else None
    sam = is_sam(optimizer)
    if sam and scaler is not None and use_amp:
        raise NotImplementedError("SAM with fp16 autocast and a GradScaler is not supported; use bf16")
    sam_bn_switches = None
    if sam and has_batchnorm(model):  # BN statistics are updated by the first SAM pass only
        from pytorch_optimizer.optimizer.utils import disable_running_stats, enable_running_stats

        sam_bn_switches = (enable_running_stats, disable_running_stats)
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return _Run(dev=dev, use_amp=use_amp, amp_dtype=amp_dtype, max_steps=max_steps, primary=primary,
                scheduler=scheduler, scaler=scaler, sam=sam, sam_bn_switches=sam_bn_switches, gen=gen)


def _resume(ckpt_path: Path, task: Task, model: nn.Module, optimizer, run: _Run) -> tuple[dict, int | None]:
    """The run state to go on from and the epoch it was resumed from (None: a fresh run).
    An unfinished run's checkpoint also restores the model, optimizer, scheduler, scaler and
    the order generator's RNG state."""
    st = _initial_state(task.selections)
    ckpt = _read_checkpoint(ckpt_path)
    if ckpt is None:
        return st, None
    if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("fingerprint") != task.fingerprint:
        raise ValueError(
            f"{ckpt_path} was written by a different run (config, seed, data or model "
            "differ); delete it to start afresh"
        )
    for k in st:
        if k in ckpt:
            st[k] = ckpt[k]
    # A checkpoint holds the model exactly while its run is unfinished.
    st["finished"] = "model" not in ckpt
    if "model" in ckpt:
        model.load_state_dict(ckpt["model"])
        load_optimizer_state(optimizer, ckpt["optimizer"])
        if run.scheduler is not None:
            run.scheduler.load_state_dict(ckpt["scheduler"])
        if run.scaler is not None and run.use_amp:
            run.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"], run.gen)
    return st, st["epoch"]


def _train_one_epoch(model: nn.Module, task: Task, optimizer, settings: Settings, run: _Run,
                     st: dict, epoch: int, *, progress: bool) -> tuple[float, int]:
    """The epoch's optimizer steps (up to the step cap, counted in ``st["steps"]``).
    Returns the mean training loss and the number of examples seen."""
    model.train()
    if settings.frozen is not None:
        settings.frozen.eval()  # BN statistics and dropout of the frozen part stay fixed
    bs = int(settings.batch_size)
    n_batches = math.ceil(len(task.y) / bs)
    order = task.epoch_order(run.gen)
    loss_sum, n_seen = 0.0, 0
    bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{int(settings.max_epochs)}", unit="batch",
               leave=False, disable=None if progress else True)
    for b in range(n_batches):
        idx = order[b * bs:(b + 1) * bs]
        batch = batch_tensors(task.train, task.inputs, idx, run.dev)
        target = torch.from_numpy(task.y[idx]).to(run.dev)
        loss_val = _optimizer_step(model, task, optimizer, run, batch, target)
        loss_sum += loss_val * len(idx)
        n_seen += len(idx)
        st["steps"] += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss_val:.4f}")
        if run.max_steps is not None and st["steps"] >= run.max_steps:
            st["stopped_at_max_steps"] = True
            break  # the step cap ends the epoch here; validation and selection still run
    bar.close()
    train_loss = loss_sum / n_seen
    if not math.isfinite(train_loss):
        raise FloatingPointError(f"training loss is {train_loss} at epoch {epoch}")
    return train_loss, n_seen


def _optimizer_step(model: nn.Module, task: Task, optimizer, run: _Run, batch: dict[str, torch.Tensor],
                    target: torch.Tensor) -> float:
    """One batch: SAM's two passes, a GradScaler step, or a plain step. Returns the loss
    (SAM: of the first pass, at w)."""

    def forward_loss():
        with torch.autocast(device_type=run.dev.type, dtype=run.amp_dtype, enabled=run.use_amp):
            out = model(batch)
        return task.loss(out, target)

    optimizer.zero_grad(set_to_none=True)
    if run.sam:
        if run.sam_bn_switches is not None:
            run.sam_bn_switches[0](model)  # enable_running_stats
        loss = forward_loss()
        loss.backward()
        optimizer.first_step(zero_grad=True)
        if run.sam_bn_switches is not None:
            run.sam_bn_switches[1](model)  # disable_running_stats
        forward_loss().backward()
        optimizer.second_step(zero_grad=True)
    elif run.scaler is not None:
        loss = forward_loss()
        run.scaler.scale(loss).backward()
        run.scaler.step(optimizer)
        run.scaler.update()
    else:
        loss = forward_loss()
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def _update_selections(model: nn.Module, task: Task, run: _Run, st: dict, row: dict, epoch: int) -> None:
    """Keep each selection's state where the epoch strictly improves it; the first selection
    also counts epochs without improvement and steps the LR plateau scheduler."""
    for sel in task.selections:
        value = row[sel.column]
        improved = _better(value, st[f"{sel.name}_value"], sel.maximize)
        if improved:
            st[f"{sel.name}_value"], st[f"{sel.name}_epoch"] = float(value), epoch
            st[f"{sel.name}_state"] = cpu_state(model)
        if sel is run.primary:
            st["bad_epochs"] = 0 if improved else st["bad_epochs"] + 1
            if run.scheduler is not None:
                run.scheduler.step(value)


def _record_epoch(st: dict, settings: Settings, row: dict, *, t_train: float, n_seen: int) -> None:
    """Append the epoch's history row to the run state, add its timings and decide whether
    the run is finished (early stopping, last epoch or step cap)."""
    epoch, max_epochs = row["epoch"], int(settings.max_epochs)
    st["history"].append(row)
    st["epoch"] = epoch
    st["train_seconds"] += t_train
    st["wall_seconds"] += row["seconds"]
    st["samples_seen"] += n_seen
    st["stopped_early"] = (settings.patience is not None and st["bad_epochs"] >= int(settings.patience)
                           and epoch < max_epochs)
    st["finished"] = st["stopped_early"] or epoch >= max_epochs or st["stopped_at_max_steps"]


def _write_outputs(model: nn.Module, task: Task, settings: Settings, st: dict, out_dir: Path) -> None:
    """Load the first selection's weights into the model (eval mode), write every
    selection's file and ``history.csv``."""
    primary = task.selections[0]
    if st[f"{primary.name}_state"] is None:  # only if every monitored value was non-finite
        raise FloatingPointError(f"no epoch produced a finite monitored value ({primary.column}); "
                                 "nothing to keep")
    model.load_state_dict(st[f"{primary.name}_state"])
    model.eval()
    for sel in task.selections:
        save_torch(st[f"{sel.name}_state"], out_dir / sel.file)
    columns = list(settings.history_columns) if settings.history_columns is not None else None
    write_csv(out_dir / "history.csv", pd.DataFrame(st["history"], columns=columns))


def _read_checkpoint(ckpt_path: Path) -> dict | None:
    """``last.pt`` as a dict, or None when there is none. An unreadable one (empty, truncated,
    not a torch zip: a crash or a full disk while it was copied) is moved aside to
    ``last.pt.corrupt`` and the run starts from scratch, with one warning saying so."""
    if not ckpt_path.exists():
        return None
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if not isinstance(ckpt, dict):
            raise TypeError(f"holds a {type(ckpt).__name__}, not a checkpoint dict")
        return ckpt
    except (MemoryError, OSError):  # the machine's trouble, not the file's
        raise
    except Exception as e:  # RuntimeError, EOFError, UnpicklingError, ...: all mean unreadable
        aside = ckpt_path.with_name(ckpt_path.name + ".corrupt")
        os.replace(ckpt_path, aside)
        reason = " ".join(str(e).split())[:200]
        log.warning("%s: unreadable checkpoint (%s: %s), moved to %s; training restarts from scratch",
                    ckpt_path, type(e).__name__, reason, aside.name)
        return None


def _save_checkpoint(ckpt_path: Path, task, st: dict, model, optimizer, scheduler, scaler, gen) -> None:
    """Write ``last.pt`` atomically: the run state, and while the run is unfinished everything
    needed to go on bit-identically (model, optimizer, scheduler, scaler, RNG states)."""
    ckpt = {"format": CHECKPOINT_FORMAT, "fingerprint": task.fingerprint, **st}
    if not st["finished"]:  # a finished run needs no optimizer or RNG state to go on
        ckpt.update(model=model.state_dict(), optimizer=optimizer_state(optimizer))
        if scheduler is not None:
            ckpt["scheduler"] = scheduler.state_dict()
        if scaler is not None:
            ckpt["scaler"] = scaler.state_dict()
        ckpt["rng"] = get_rng_state(gen)
    save_torch(ckpt, ckpt_path)


def save_torch(obj, path: Path) -> None:
    """``torch.save`` atomically and byte-reproducibly. Given a path, torch names the zip's
    root folder after the file, here the temporary one (pid, random suffix), so equal weights
    gave different bytes, and DVC saw a changed ``model.pt`` after every re-run; through a file
    object the folder is always ``archive``."""
    with atomic_path(path, suffix=".pt") as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def device_name(dev: torch.device) -> str:
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"

