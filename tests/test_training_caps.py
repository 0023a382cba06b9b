"""Step cap (``max_steps``) and mixed precision on the CPU (``amp: fp16 | bf16``), for the
binary trainer (AudioFuse with BatchNorm, a Koike torchvision network) and AST+SAM; tiny
models, a few steps each."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from auscult.models import build_model
from auscult.papers.ast_sam import train as tr_ast
from auscult.params import ParamsError, validate
from auscult.training import engine, seed_everything, train_binary, validate_train_cfg

# every epoch leaves a resumable checkpoint (tests of resume)
pytestmark = pytest.mark.usefixtures("one_thread", "checkpoint_every_epoch")  # conftest.py

# AudioFuse at toy size: the wave CNN has BatchNorm (momentum 0.01), the ViT LayerNorm
AUDIOFUSE = {
    "arch": "audiofuse", "branches": ["spec", "wave"],
    "vit": {"img_size": 32, "patch": 8, "width": 16, "depth": 1, "heads": 2, "mlp_dim": 32,
            "dropout": 0.2, "attn_dropout": 0.2, "pos_emb": "frozen_random", "ln_eps": 1.0e-6},
    "wave_cnn": {"channels": [4, 8, 8], "kernel": 8, "stride": 1, "pool": 4, "out_dim": 8,
                 "bn_momentum": 0.01, "bn_eps": 1.0e-3},
    "head": {"hidden": 16, "dropout": 0.5}, "init": "glorot",
}
TRAIN = {"optimizer": "adamw", "lr": 3.0e-3, "weight_decay": 1.0e-4, "batch_size": 8, "max_epochs": 3,
         "patience": 15, "monitor": "val_loss", "lr_plateau": {"factor": 0.5, "patience": 1, "min_lr": 1.0e-6},
         "class_balance": "pos_weight", "amp": True, "trainable": "all", "bn_recalibrate_batches": 0}
# Koike: a torchvision network on a small log-mel (class-balanced draws, dev UAR), from scratch
KOIKE = {"arch": "imagenet", "name": "mobilenet_v2", "input": "logmel", "input_norm": "batchnorm",
         "dropout": 0.5}
KOIKE_TRAIN = {**TRAIN, "optimizer": "adam", "monitor": "val_uar", "class_balance": "sampler", "max_epochs": 2}
TINY_AST = {"arch": "ast", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32,
            "patch_size": 16, "fstride": 10, "tstride": 10, "max_length": 48, "num_mel_bins": 32,
            "dropout": 0.0, "head_dropout": 0.3, "pooling": "mean", "n_classes": 4, "pretrained": False}
AST_TRAIN = {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 8, "epochs": 2, "label_smoothing": 0.1,
             "sampler": "weighted", "sam": {"enabled": True, "rho": 0.05, "adaptive": False}, "amp": True,
             "monitor": "score_exact", "paper_protocol": True}


@pytest.fixture(scope="module")
def data():
    """32 training and 12 validation recordings (4 batches of 8 per epoch)."""
    rng = np.random.default_rng(0)
    y = np.array([1] * 10 + [0] * 22 + [1] * 4 + [0] * 8)
    y[:32], y[32:] = rng.permutation(y[:32]), rng.permutation(y[32:])
    spec = rng.random((44, 32, 32)).astype(np.float32)
    spec[y == 1, :8] += 0.3
    wave = rng.standard_normal((44, 256)).astype(np.float32)
    wave[y == 1] *= 1.3
    return {"spec": spec[:32], "wave": wave[:32]}, y[:32], {"spec": spec[32:], "wave": wave[32:]}, y[32:]


def _watch_dtypes(model: nn.Module, dtypes: set) -> None:
    """Collect the output dtypes of the model's first convolution in training mode (the heads
    and CNN14's front end stay fp32 under autocast by design, auscult.models)."""
    conv = next(m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d)))
    conv.register_forward_hook(lambda mod, i, o: dtypes.add(o.dtype) if mod.training else None)


class _Interrupt(Exception):
    pass


def _train(data, out, *, cfg=TRAIN, model_cfg=AUDIOFUSE, seed=1, interrupt_after=None, dtypes=None,
           logmel=False):
    """Build the model (init seed 0) and train it; ``dtypes`` collects the output dtypes of the
    model's first convolution during training; ``interrupt_after`` raises after that epoch."""
    seed_everything(0)
    model = build_model(model_cfg)
    if dtypes is not None:
        _watch_dtypes(model, dtypes)
    tr, ytr, va, yva = data
    if logmel:
        tr, va = {"logmel": tr["spec"]}, {"logmel": va["spec"]}

    def stop(epoch, row):
        if epoch == interrupt_after:
            raise _Interrupt

    summary = train_binary(model, tr, ytr, va, yva, cfg, out, seed=seed, progress=False, on_epoch_end=stop)
    return model, summary


def _state(out):
    return torch.load(out / "model.pt", weights_only=True)


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _history(out):
    return pd.read_csv(out / "history.csv").drop(columns="seconds")


# --------------------------------------------------------------------------- max_steps
def test_max_steps_ends_the_epoch_early_and_still_validates(data, tmp_path):
    _, full = _train(data, tmp_path / "full")
    assert full["steps_run"] == 12 and full["max_steps"] is None and not full["stopped_at_max_steps"]
    _, capped = _train(data, tmp_path / "capped", cfg={**TRAIN, "max_steps": 6})
    assert capped["steps_run"] == 6 and capped["max_steps"] == 6 and capped["stopped_at_max_steps"]
    assert capped["epochs_run"] == 2 and not capped["stopped_early"]
    hist = _history(tmp_path / "capped")
    assert hist["epoch"].tolist() == [1, 2] and hist[["val_loss", "val_auc"]].notna().all().all()
    assert (tmp_path / "capped" / "model.pt").exists()
    # the cap changes nothing before it: the first epoch is the uncapped run's first epoch
    pd.testing.assert_frame_equal(hist.iloc[:1], _history(tmp_path / "full").iloc[:1])
    # epoch 2 saw 2 of its 4 batches: a different loss, and the model differs from the full run's
    assert hist["train_loss"].iloc[1] != _history(tmp_path / "full")["train_loss"].iloc[1]
    _, one = _train(data, tmp_path / "one", cfg={**TRAIN, "max_steps": 1})
    assert one["epochs_run"] == 1 and one["steps_run"] == 1 and len(_history(tmp_path / "one")) == 1


def test_resume_under_a_step_cap_is_identical(data, tmp_path):
    cfg = {**TRAIN, "max_steps": 7}
    _, full = _train(data, tmp_path / "full", cfg=cfg)
    with pytest.raises(_Interrupt):
        _train(data, tmp_path / "resumed", cfg=cfg, interrupt_after=1)
    _, resumed = _train(data, tmp_path / "resumed", cfg=cfg)
    assert resumed["resumed_from_epoch"] == 1 and resumed["steps_run"] == full["steps_run"] == 7
    assert _same_state(_state(tmp_path / "full"), _state(tmp_path / "resumed"))
    pd.testing.assert_frame_equal(_history(tmp_path / "full"), _history(tmp_path / "resumed"))


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_max_steps_must_be_a_positive_integer(bad):
    validate_train_cfg({**TRAIN, "max_steps": 5})
    validate_train_cfg({**TRAIN, "max_steps": None})
    with pytest.raises(ValueError, match="max_steps"):
        validate_train_cfg({**TRAIN, "max_steps": bad})
    with pytest.raises(ValueError, match="max_steps"):
        tr_ast.validate_train_cfg({**AST_TRAIN, "max_steps": bad})


def test_params_schema_takes_an_optional_step_cap_and_amp_modes(paper):
    cfg = copy.deepcopy(paper)
    cfg["audiofuse"]["training"]["max_steps"] = 5
    cfg["koike"]["training"]["amp"] = "bf16"
    cfg["ast_sam"]["training"]["max_steps"] = 3
    validate(cfg)
    cfg["audiofuse"]["training"]["max_steps"] = 0
    with pytest.raises(ParamsError, match=r"audiofuse\.training\.max_steps"):
        validate(cfg)
    cfg = copy.deepcopy(paper)
    cfg["koike"]["training"]["amp"] = "fp32"
    with pytest.raises(ParamsError, match=r"koike\.training\.amp"):
        validate(cfg)


# --------------------------------------------------------------------------- mixed precision on CPU
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_audiofuse_mixed_precision_runs_on_cpu(data, tmp_path, amp):
    dtypes: set = set()
    _, s = _train(data, tmp_path, cfg={**TRAIN, "amp": amp, "max_epochs": 2}, dtypes=dtypes)
    assert s["amp"] is True and s["amp_dtype"] == amp and s["device"] == "cpu"
    assert dtypes == {engine.AMP_DTYPES[amp]}  # autocast ran in training
    assert np.isfinite(_history(tmp_path)["train_loss"]).all()
    # amp: true is the paper's setting: CUDA only, so full precision here
    dtypes.clear()
    _, off = _train(data, tmp_path / "paper", cfg={**TRAIN, "max_epochs": 1}, dtypes=dtypes)
    assert off["amp"] is False and off["amp_dtype"] is None and dtypes == {torch.float32}


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_mixed_precision_resume_is_identical_to_uninterrupted(data, tmp_path, amp):
    cfg = {**TRAIN, "amp": amp}
    _, full = _train(data, tmp_path / "full", cfg=cfg, seed=5)
    with pytest.raises(_Interrupt):
        _train(data, tmp_path / "resumed", cfg=cfg, seed=5, interrupt_after=2)
    ckpt = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    assert ("scaler" in ckpt) == (amp == "fp16")  # fp16: the CPU GradScaler's state goes on
    if amp == "fp16":
        assert ckpt["scaler"]["scale"] > 0
    _, resumed = _train(data, tmp_path / "resumed", cfg=cfg, seed=5)
    assert resumed["resumed_from_epoch"] == 2 and resumed["amp_dtype"] == amp
    assert _same_state(_state(tmp_path / "full"), _state(tmp_path / "resumed"))
    pd.testing.assert_frame_equal(_history(tmp_path / "full"), _history(tmp_path / "resumed"))
    assert resumed["best_epoch"] == full["best_epoch"]


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_koike_network_mixed_precision_on_cpu(data, tmp_path, amp):
    dtypes: set = set()
    _, s = _train(data, tmp_path, cfg={**KOIKE_TRAIN, "amp": amp, "max_steps": 3}, model_cfg=KOIKE,
                  dtypes=dtypes, logmel=True)
    assert s["amp_dtype"] == amp and dtypes == {engine.AMP_DTYPES[amp]}
    assert s["steps_run"] == 3 and np.isfinite(s["best_val_loss"])


def _ast_data(n, seed, frames=48, bins=32):
    rng = np.random.default_rng(seed)
    y = rng.choice(4, n, p=[0.55, 0.25, 0.13, 0.07])
    x = rng.standard_normal((n, frames, bins)).astype(np.float32)
    x[np.arange(n), :, y] += 1.0
    return {"fbank": x}, y


def _train_ast(tmp_path, cfg, dtypes=None):
    torch.manual_seed(0)
    model = build_model(TINY_AST)
    if dtypes is not None:
        _watch_dtypes(model, dtypes)
    (xt, yt), (xv, yv), (xs, ys) = _ast_data(24, 1), _ast_data(8, 2), _ast_data(8, 3)
    return tr_ast.train_cycles(model, xt, yt, xv, yv, cfg, tmp_path / "run", checkpoint_dir=tmp_path / "ckpt",
                               seed=3, test=xs, y_test=ys, progress=False)


def test_ast_sam_bf16_on_cpu_with_a_step_cap(tmp_path):
    dtypes: set = set()
    s = _train_ast(tmp_path, {**AST_TRAIN, "amp": "bf16", "max_steps": 4}, dtypes)
    assert s["amp"] == "bf16" and dtypes == {torch.bfloat16}
    assert s["steps_run"] == 4 and s["epochs_run"] == 2 and s["stopped_at_max_steps"]  # 3 steps per epoch
    assert np.isfinite(pd.read_csv(tmp_path / "run" / "history.csv")["train_loss"]).all()


def test_ast_fp16_without_sam_uses_the_cpu_grad_scaler(tmp_path):
    s = _train_ast(tmp_path, {**AST_TRAIN, "amp": "fp16", "sam": {**AST_TRAIN["sam"], "enabled": False},
                              "epochs": 1})
    assert s["amp"] == "fp16"


def test_sam_with_fp16_is_refused_in_one_line(paper):
    with pytest.raises(ValueError, match="SAM with amp: fp16 is not supported") as e:
        tr_ast.validate_train_cfg({**AST_TRAIN, "amp": "fp16"})
    assert "\n" not in str(e.value)
    cfg = copy.deepcopy(paper)
    cfg["ast_sam"]["training"]["amp"] = "fp16"  # ast_wrs_sam turns SAM on
    with pytest.raises(ParamsError, match=r"ast_sam\.variants\.ast_wrs_sam: SAM with amp: fp16") as e:
        validate(cfg)
    assert "\n" not in str(e.value)
    cfg["ast_sam"]["training"]["amp"] = "bf16"
    validate(cfg)
