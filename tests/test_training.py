"""Training loop: outputs, determinism, exact resume, early stopping, head-only training."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
from scratch import run_python
from torch import nn

from auscult.models import build_model
from auscult.training import (
    HISTORY_COLUMNS,
    predict_scores,
    seed_everything,
    train_binary,
    validate_train_cfg,
)

# every epoch leaves a resumable checkpoint (tests of resume and its files)
pytestmark = pytest.mark.usefixtures("one_thread", "checkpoint_every_epoch")  # conftest.py

MODEL = {
    "arch": "audiofuse",
    "branches": ["spec", "wave"],
    "vit": {"img_size": 32, "patch": 8, "width": 16, "depth": 1, "heads": 2, "mlp_dim": 32,
            "dropout": 0.2, "attn_dropout": 0.2, "pos_emb": "frozen_random", "ln_eps": 1.0e-6},
    "wave_cnn": {"channels": [4, 8, 8], "kernel": 8, "stride": 1, "pool": 4, "out_dim": 8,
                 "bn_momentum": 0.01, "bn_eps": 1.0e-3},
    "head": {"hidden": 16, "dropout": 0.5},
    "init": "glorot",
}

TRAIN = {
    "optimizer": "adamw",
    "lr": 3.0e-3,
    "weight_decay": 1.0e-4,
    "batch_size": 8,
    "max_epochs": 4,
    "patience": 15,
    "monitor": "val_loss",
    "lr_plateau": {"factor": 0.5, "patience": 1, "min_lr": 1.0e-6},
    "class_balance": "pos_weight",
    "amp": True,
    "trainable": "all",
    "bn_recalibrate_batches": 0,
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.array([1] * 10 + [0] * 22 + [1] * 4 + [0] * 8)
    y[:32], y[32:] = rng.permutation(y[:32]), rng.permutation(y[32:])
    spec = rng.random((44, 32, 32)).astype(np.float16)
    spec[y == 1, :8] += np.float16(0.3)  # learnable signal in the low "mel" rows
    wave = rng.standard_normal((44, 256)).astype(np.float32)
    wave[y == 1] *= 1.3
    tr = {"spec": spec[:32], "wave": wave[:32]}
    va = {"spec": spec[32:], "wave": wave[32:]}
    return tr, y[:32], va, y[32:]


def _train(data, out, *, seed=1, cfg=TRAIN, model_cfg=MODEL, on_epoch_end=None, states=None):
    """Build the tiny model (init seed 0) and train it; ``states`` collects the raw weights
    after every epoch."""
    seed_everything(0)
    model = build_model(model_cfg)
    tr, ytr, va, yva = data

    def callback(epoch, row):
        if states is not None:
            states[epoch] = copy.deepcopy(model.state_dict())
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)

    summary = train_binary(model, tr, ytr, va, yva, cfg, out, seed=seed, progress=False,
                           on_epoch_end=callback)
    return model, summary


def _state(out):
    return torch.load(out / "model.pt", weights_only=True)


def _history(out):
    return pd.read_csv(out / "history.csv").drop(columns="seconds")


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_outputs_and_summary(data, tmp_path):
    model, summary = _train(data, tmp_path)
    hist = pd.read_csv(tmp_path / "history.csv")
    assert list(hist.columns) == HISTORY_COLUMNS
    assert hist["epoch"].tolist() == [1, 2, 3, 4]
    assert (tmp_path / "checkpoints" / "last.pt").exists()
    assert json.loads((tmp_path / "train_summary.json").read_text()) == summary
    for key in ("best_epoch", "best_val_auc", "epochs_run", "stopped_early", "n_train", "n_val",
                "pos_weight", "wall_s", "samples_per_s", "device", "torch_version"):
        assert key in summary, key
    ytr = data[1]
    assert summary["pos_weight"] == pytest.approx((ytr == 0).sum() / (ytr == 1).sum())
    assert summary["n_train"] == 32 and summary["n_val"] == 12
    assert summary["epochs_run"] == 4 and not summary["stopped_early"]
    assert summary["device"] == "cpu" and summary["amp"] is False  # amp ignored on CPU
    best = hist.loc[hist["val_loss"].idxmin()]
    assert summary["best_epoch"] == best["epoch"]
    assert summary["best_val_auc"] == pytest.approx(best["val_auc"])
    # the returned model holds the best weights, in eval mode
    assert not model.training
    assert _same_state({k: v for k, v in model.state_dict().items()}, _state(tmp_path))
    # predict_scores: sigmoid probabilities of the eval-mode logits
    va = data[2]
    p = predict_scores(model, va, batch_size=5)
    assert p.shape == (12,) and ((p > 0) & (p < 1)).all()
    with torch.no_grad():
        logits = model({k: torch.from_numpy(v.astype(np.float32)) for k, v in va.items()})
    assert np.allclose(p, torch.sigmoid(logits).numpy(), atol=1e-6)


def test_same_seed_identical_different_seed_differs(data, tmp_path):
    _train(data, tmp_path / "a", seed=3)
    _train(data, tmp_path / "b", seed=3)
    _train(data, tmp_path / "c", seed=4)
    assert _same_state(_state(tmp_path / "a"), _state(tmp_path / "b"))
    # byte for byte, so DVC sees an unchanged model.pt after a re-run (torch.save named the
    # zip's folder after the temporary file, which differs per run)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    pd.testing.assert_frame_equal(_history(tmp_path / "a"), _history(tmp_path / "b"))
    assert not _same_state(_state(tmp_path / "a"), _state(tmp_path / "c"))
    assert not _history(tmp_path / "a").equals(_history(tmp_path / "c"))


class _Interrupt(Exception):
    pass


def _raise_after_epoch_2(epoch, row):
    if epoch == 2:
        raise _Interrupt


def test_resume_is_identical_to_uninterrupted(data, tmp_path):
    full_states, resumed_states = {}, {}
    _, full = _train(data, tmp_path / "full", seed=5, states=full_states)
    with pytest.raises(_Interrupt):
        _train(data, tmp_path / "resumed", seed=5, on_epoch_end=_raise_after_epoch_2,
               states=resumed_states)
    assert not (tmp_path / "resumed" / "model.pt").exists()
    _, resumed = _train(data, tmp_path / "resumed", seed=5, states=resumed_states)
    assert resumed["resumed_from_epoch"] == 2
    assert sorted(resumed_states) == [1, 2, 3, 4]
    for epoch in (1, 2, 3, 4):  # raw weights after every epoch, not only the best ones
        assert _same_state(full_states[epoch], resumed_states[epoch]), epoch
    assert _same_state(_state(tmp_path / "full"), _state(tmp_path / "resumed"))
    pd.testing.assert_frame_equal(_history(tmp_path / "full"), _history(tmp_path / "resumed"))
    assert resumed["best_epoch"] == full["best_epoch"]
    # A finished run is not trained again: calling once more returns the same result.
    _, again = _train(data, tmp_path / "resumed", seed=5)
    assert again["resumed_from_epoch"] == 4 and again["best_epoch"] == full["best_epoch"]
    assert _same_state(_state(tmp_path / "full"), _state(tmp_path / "resumed"))


def test_resume_refuses_a_different_run(data, tmp_path):
    with pytest.raises(_Interrupt):
        _train(data, tmp_path, seed=5, on_epoch_end=_raise_after_epoch_2)
    with pytest.raises(ValueError, match="different run"):
        _train(data, tmp_path, seed=6)
    with pytest.raises(ValueError, match="different run"):
        _train(data, tmp_path, seed=5, cfg={**TRAIN, "lr": 1e-3})


@pytest.mark.parametrize("damage", ["empty", "truncated", "not_a_zip"])
def test_unreadable_checkpoint_is_moved_aside_and_training_restarts(data, tmp_path, caplog, damage):
    with pytest.raises(_Interrupt):
        _train(data, tmp_path / "run", seed=5, on_epoch_end=_raise_after_epoch_2)
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    good = last.read_bytes()
    last.write_bytes({"empty": b"", "truncated": good[: len(good) // 2], "not_a_zip": b"junk"}[damage])
    bad = last.read_bytes()
    with caplog.at_level("WARNING", logger="auscult.training.engine"):
        _, summary = _train(data, tmp_path / "run", seed=5)
    assert summary["resumed_from_epoch"] is None
    assert (last.parent / "last.pt.corrupt").read_bytes() == bad
    (line,) = [r.getMessage() for r in caplog.records if "unreadable checkpoint" in r.getMessage()]
    assert str(last) in line and "last.pt.corrupt" in line and "restarts from scratch" in line
    _train(data, tmp_path / "fresh", seed=5)
    assert _same_state(_state(tmp_path / "run"), _state(tmp_path / "fresh"))


class _Constant(nn.Module):
    """Same logit for every item: validation AUC is exactly 0.5 in every epoch."""

    inputs = ("x",)

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, batch):
        return self.bias.expand(batch["x"].shape[0]) + 0.0 * batch["x"].sum(dim=1)


def test_early_stopping_ties_and_lr_plateau(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((20, 3)).astype(np.float32)
    y = np.array([0, 1] * 10)
    cfg = {**TRAIN, "monitor": "val_auc", "patience": 3, "max_epochs": 50,
           "lr_plateau": {"factor": 0.5, "patience": 0, "min_lr": 1.0e-3}}
    summary = train_binary(_Constant(), {"x": x}, y, {"x": x}, y, cfg, tmp_path, seed=0,
                           progress=False)
    hist = pd.read_csv(tmp_path / "history.csv")
    assert (hist["val_auc"] == 0.5).all()
    assert summary["best_epoch"] == 1  # ties keep the earlier epoch
    assert summary["stopped_early"] and summary["epochs_run"] == 4
    assert hist["lr"].tolist() == pytest.approx([3e-3, 3e-3, 1.5e-3, 1e-3])  # min_lr clamps


def test_head_only_training_freezes_backbone(data, tmp_path):
    seed_everything(0)
    model = build_model(MODEL)
    before = copy.deepcopy(model.state_dict())
    tr, ytr, va, yva = data
    summary = train_binary(model, tr, ytr, va, yva, {**TRAIN, "trainable": "head"}, tmp_path,
                           seed=0, progress=False)
    after = model.state_dict()
    assert summary["n_trainable_params"] == sum(p.numel() for p in model.head.parameters())
    for k in before:
        if k.startswith("backbone."):  # weights and BN running stats untouched
            assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["head.fc.weight"], after["head.fc.weight"])


def test_memmap_float16_inputs(data, tmp_path):
    tr, ytr, va, yva = data
    mm = {}
    for k, arr in tr.items():
        m = np.lib.format.open_memmap(tmp_path / f"{k}.npy", mode="w+", dtype=np.float16,
                                      shape=arr.shape)
        m[:] = arr
        m.flush()
        mm[k] = np.load(tmp_path / f"{k}.npy", mmap_mode="r")
    seed_everything(0)
    model = build_model(MODEL)
    cfg = {**TRAIN, "max_epochs": 1}
    summary = train_binary(model, mm, ytr, va, yva, cfg, tmp_path / "run", seed=0, progress=False)
    assert summary["epochs_run"] == 1
    assert np.isfinite(pd.read_csv(tmp_path / "run" / "history.csv")["train_loss"]).all()


def test_config_validation(data, tmp_path):
    validate_train_cfg(TRAIN)
    bad = {k: v for k, v in TRAIN.items() if k != "patience"}
    with pytest.raises(KeyError, match="patience"):
        validate_train_cfg(bad)
    with pytest.raises(ValueError, match="unknown key.*warmup"):
        validate_train_cfg({**TRAIN, "warmup": 5})
    with pytest.raises(KeyError, match="min_lr"):
        validate_train_cfg({**TRAIN, "lr_plateau": {"factor": 0.5, "patience": 2}})
    with pytest.raises(ValueError, match="monitor"):
        validate_train_cfg({**TRAIN, "monitor": "val_acc"})
    with pytest.raises(ValueError, match="batch_size"):
        validate_train_cfg({**TRAIN, "batch_size": 0})
    tr, ytr, va, yva = data
    with pytest.raises(KeyError, match="wave"):
        train_binary(build_model(MODEL), {"spec": tr["spec"]}, ytr, va, yva, TRAIN, tmp_path,
                     seed=0, progress=False)
    with pytest.raises(ValueError, match="rows"):
        train_binary(build_model(MODEL), tr, ytr[:-1], va, yva, TRAIN, tmp_path, seed=0,
                     progress=False)


class _TinyBN(nn.Module):
    inputs = ("x",)

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(3, momentum=0.01)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(3, 1)

    def forward(self, batch):
        return self.fc(self.drop(self.bn(batch["x"]))).reshape(-1)


def test_batchnorm_recalibration_gives_the_training_statistics():
    from auscult.training.binary import recalibrate_batchnorm

    rng = np.random.default_rng(0)
    x = (5.0 + 2.0 * rng.standard_normal((64, 3))).astype(np.float32)
    model = _TinyBN()
    model.train()
    model({"x": torch.from_numpy(x[:8])})  # one momentum-0.01 step: stats stay near (0, 1)
    assert float(model.bn.running_mean.mean()) < 0.5
    used = recalibrate_batchnorm(model, {"x": x}, batch_size=8, max_batches=8, seed=0,
                                 device=torch.device("cpu"))
    assert used == 64 and not model.training and model.bn.momentum == 0.01
    # equal batches: the cumulative average of batch means is the overall mean
    np.testing.assert_allclose(model.bn.running_mean.numpy(), x.mean(0), rtol=1e-5)
    batch_vars = np.stack([x[i:i + 8].var(0, ddof=1) for i in range(0, 64, 8)])
    np.testing.assert_allclose(model.bn.running_var.numpy(), batch_vars.mean(0), rtol=1e-4)


def test_training_with_recalibration_saves_recalibrated_statistics(data, tmp_path):
    cfg = {**TRAIN, "bn_recalibrate_batches": 100}
    _, summary = _train(data, tmp_path / "recal", cfg=cfg)
    assert summary["bn_recalibrate_batches"] == 100
    _train(data, tmp_path / "plain")
    keys = [k for k in _state(tmp_path / "recal") if k.endswith("running_var")]
    assert keys, "the tiny model has BatchNorm layers"
    # momentum 0.01 over 16 steps leaves running_var near its initial 1; recalibrated it is not
    a, b = _state(tmp_path / "recal"), _state(tmp_path / "plain")
    assert any(not torch.allclose(a[k], b[k], rtol=0.1) for k in keys)
    # and it is deterministic
    _train(data, tmp_path / "again", cfg=cfg)
    assert _same_state(_state(tmp_path / "recal"), _state(tmp_path / "again"))


def test_checkpoints_follow_the_interval(data, tmp_path, monkeypatch):
    """Epochs shorter than AUSCULT_CHECKPOINT_EVERY_S write no resumable checkpoint (the
    outputs and their numbers are the same); a malformed value is refused by name."""
    monkeypatch.setenv("AUSCULT_CHECKPOINT_EVERY_S", "3600")
    _, summary = _train(data, tmp_path / "sparse")
    assert not (tmp_path / "sparse" / "checkpoints" / "last.pt").exists()
    monkeypatch.setenv("AUSCULT_CHECKPOINT_EVERY_S", "0")
    _, every = _train(data, tmp_path / "every")
    assert (tmp_path / "every" / "checkpoints" / "last.pt").exists()
    assert _history(tmp_path / "sparse").equals(_history(tmp_path / "every"))
    assert summary["best_epoch"] == every["best_epoch"]
    monkeypatch.setenv("AUSCULT_CHECKPOINT_EVERY_S", "soon")
    with pytest.raises(ValueError, match="AUSCULT_CHECKPOINT_EVERY_S"):
        _train(data, tmp_path / "bad")


def test_seed_everything_sets_the_deterministic_flags_without_inductor():
    """seed_everything sets the flags torch.use_deterministic_algorithms(mode, warn_only=True)
    sets, through the private setter it wraps (pinned torch): a torch upgrade that changes
    this fails here. And it must not import torch._inductor (1.7 s of every job's start-up)."""
    code = ("import sys, torch; from auscult.training.seeding import seed_everything\n"
            "flags = lambda: (torch.are_deterministic_algorithms_enabled(),\n"
            "                 torch.is_deterministic_algorithms_warn_only_enabled())\n"
            "got = []\n"
            "for mode in (True, False, True):\n"
            "    seed_everything(0, deterministic=mode)\n"
            "    got.append(flags())\n"
            "inductor = 'torch._inductor' in sys.modules\n"
            "want = []\n"
            "for mode in (True, False, True):\n"
            "    torch.use_deterministic_algorithms(mode, warn_only=True)\n"
            "    want.append(flags())\n"
            "print(inductor, got == want, got)")
    out = run_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[:2] == ["False", "True"], out.stdout


@pytest.mark.parametrize("recalibrate", [0, 100])
def test_kept_validation_scores_equal_a_fresh_prediction(data, tmp_path, recalibrate):
    """best_val_scores (Koike's dev scores) are the selected epoch's validation pass: equal,
    bit for bit, to predicting the returned model again; none after a finished resume."""
    cfg = {**TRAIN, "bn_recalibrate_batches": recalibrate, "monitor": "val_loss", "lr": 3.0e-2,
           "max_epochs": 6, "patience": 6}
    seed_everything(0)
    model = build_model(MODEL)
    tr, ytr, va, yva = data
    kept: dict = {}
    summary = train_binary(model, tr, ytr, va, yva, cfg, tmp_path, seed=3, progress=False,
                           best_val_scores=kept)
    if recalibrate == 0:  # the selected epoch is not the last: the weights were reloaded
        assert summary["best_epoch"] < summary["epochs_run"]
    np.testing.assert_array_equal(kept["scores"], predict_scores(model, va, batch_size=cfg["batch_size"]))
    again: dict = {}
    seed_everything(0)
    train_binary(build_model(MODEL), tr, ytr, va, yva, cfg, tmp_path, seed=3, progress=False,
                 best_val_scores=again)
    assert again == {}  # the finished run was loaded, not evaluated: the caller predicts
    from auscult.training import validation_scores

    assert validation_scores(model, va, kept, batch_size=cfg["batch_size"]) is kept["scores"]
    np.testing.assert_array_equal(validation_scores(model, va, again, batch_size=cfg["batch_size"]),
                                  kept["scores"])


def _full_forward_recalibration(model, data, *, batch_size, max_batches, seed):
    """recalibrate_batchnorm without its early stop: every batch runs the whole model."""
    from auscult.training.engine import batch_tensors, batchnorm_layers, model_inputs

    inputs = model_inputs(model)
    gen = torch.Generator()
    gen.manual_seed(seed)
    order = np.sort(torch.randperm(len(data[inputs[0]]), generator=gen).numpy()[: max_batches * batch_size])
    model.eval()
    for m in batchnorm_layers(model):
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            model(batch_tensors(data, inputs, order[i:i + batch_size], torch.device("cpu")))
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", ["vgg16", "audiofuse"])
def test_recalibration_stops_after_the_last_batchnorm_with_the_same_statistics(data, arch):
    from auscult.training.binary import recalibrate_batchnorm

    if arch == "vgg16":  # BN only at the input: the 13 convs behind it need not run
        model_cfg = {"arch": "imagenet", "name": "vgg16", "input": "linear", "input_norm": "batchnorm",
                     "dropout": 0.5}
        rng = np.random.default_rng(1)
        batch = {"linear": rng.standard_normal((20, 33, 32)).astype(np.float32) * 3 + 1}
    else:  # BN in the wave branch, behind the ViT branch
        model_cfg, batch = MODEL, data[0]
    seed_everything(0)
    model = build_model(model_cfg)
    want = _full_forward_recalibration(copy.deepcopy(model), batch, batch_size=4, max_batches=4, seed=7)
    last_conv = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv1d)][-1]
    runs = []
    last_conv.register_forward_hook(lambda *_: runs.append(1))
    recalibrate_batchnorm(model, batch, batch_size=4, max_batches=4, seed=7, device=torch.device("cpu"))
    got = model.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    assert not model.training and all(m.momentum is not None for m in model.modules()
                                       if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d))
    assert len(runs) == (1 if arch == "vgg16" else 4)  # the layers behind the last BN ran once
