"""ICBHI metrics (hand-computed), 4-class training: WRS, SAM, selection protocols, resume."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from auscult.papers.ast_sam import train as tr
from auscult.papers.ast_sam.evaluate import confusion_matrix, icbhi_metrics, metrics_from_cm

# every epoch leaves a resumable checkpoint (tests of resume and its files)
pytestmark = pytest.mark.usefixtures("checkpoint_every_epoch")

torch.set_num_threads(1)


# --------------------------------------------------------------------------- metrics
def test_metrics_hand_computed():
    y = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]
    p = [0, 0, 0, 1, 1, 2, 2, 0, 3, 1]
    cm = confusion_matrix(y, p)
    assert cm.tolist() == [[3, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0], [0, 1, 0, 1]]
    m = icbhi_metrics(y, p)
    assert m["sp"] == pytest.approx(3 / 4)
    assert m["se_exact"] == pytest.approx(3 / 6)  # crackle->crackle, wheeze->wheeze, both->both
    assert m["se_any"] == pytest.approx(5 / 6)  # only the wheeze predicted normal misses
    assert m["score_exact"] == pytest.approx((3 / 4 + 3 / 6) / 2)
    assert m["score_any"] == pytest.approx((3 / 4 + 5 / 6) / 2)
    assert m["accuracy"] == pytest.approx(6 / 10) and m["n"] == 10


def test_metrics_edge_cases():
    m = metrics_from_cm(np.diag([5, 0, 0, 0]))
    assert m["sp"] == 1.0 and np.isnan(m["se_exact"]) and np.isnan(m["score_any"])
    perfect = icbhi_metrics([0, 1, 2, 3], [0, 1, 2, 3])
    assert perfect["score_exact"] == perfect["score_any"] == 1.0
    with pytest.raises(ValueError, match="class indices"):
        confusion_matrix([0, 4], [0, 1])
    with pytest.raises(ValueError, match="differ in length"):
        confusion_matrix([0, 1], [0])


# --------------------------------------------------------------------------- training
class Tiny(nn.Module):
    inputs = ("fbank",)

    def __init__(self, bn: bool = False):
        super().__init__()
        # (registered once: model.apply visits a module registered twice twice, which
        # would make disable_running_stats back up momentum 0)
        norm = nn.BatchNorm1d(8) if bn else nn.Identity()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(24, 8), norm, nn.ReLU(), nn.Linear(8, 4))

    def forward(self, batch):
        return self.net(batch["fbank"])


CFG = {"lr": 1e-2, "weight_decay": 1e-4, "batch_size": 8, "epochs": 4, "label_smoothing": 0.1,
       "sampler": "weighted", "sam": {"enabled": True, "rho": 0.05, "adaptive": False}, "amp": True,
       "monitor": "score_exact", "paper_protocol": True}


def _data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.choice(4, n, p=[0.55, 0.25, 0.13, 0.07])
    x = rng.standard_normal((n, 4, 6)).astype(np.float32)
    x[np.arange(n), y, 0] += 2.0
    return {"fbank": x}, y


def _train(tmp_path, cfg=CFG, bn=False, name="run", **kw):
    torch.manual_seed(0)
    model = Tiny(bn)
    (xt, yt), (xv, yv), (xs, ys) = _data(64, 1), _data(24, 2), _data(24, 3)
    summary = tr.train_cycles(model, xt, yt, xv, yv, cfg, tmp_path / name, checkpoint_dir=tmp_path / f"{name}-ckpt",
                              seed=7, test=xs, y_test=ys, progress=False, **kw)
    return model, summary


def test_config_is_closed():
    with pytest.raises(KeyError, match="paper_protocol"):
        tr.validate_train_cfg({k: v for k, v in CFG.items() if k != "paper_protocol"})
    with pytest.raises(ValueError, match="sampler"):
        tr.validate_train_cfg({**CFG, "sampler": "balanced"})
    with pytest.raises(ValueError, match="unknown"):
        tr.validate_train_cfg({**CFG, "sam": {**CFG["sam"], "extra": 1}})


def test_weighted_sampler_balances_classes():
    y = np.array([0] * 80 + [1] * 15 + [2] * 5)
    gen = torch.Generator().manual_seed(0)
    draws = np.concatenate([tr.epoch_order(y, "weighted", gen) for _ in range(50)])
    shares = np.bincount(y[draws], minlength=3) / len(draws)
    np.testing.assert_allclose(shares, [1 / 3] * 3, atol=0.03)
    again = tr.epoch_order(y, "weighted", torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(again, tr.epoch_order(y, "weighted", torch.Generator().manual_seed(0)))
    assert sorted(tr.epoch_order(y, "uniform", gen)) == list(range(100))


def test_sam_step_matches_manual_two_pass():
    torch.manual_seed(0)
    model = Tiny()
    ref = copy.deepcopy(model)
    x, y = _data(8, 0)
    xb, yb = torch.from_numpy(x["fbank"]), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()
    opt = tr.make_optimizer(model.parameters(), {**CFG, "lr": 0.1, "weight_decay": 0.0})
    loss_fn(model({"fbank": xb}), yb).backward()
    opt.first_step(zero_grad=True)
    loss_fn(model({"fbank": xb}), yb).backward()
    opt.second_step(zero_grad=True)
    # By hand: gradient at w + rho g/|g|, AdamW step from w.
    params = list(ref.parameters())
    loss_fn(ref({"fbank": xb}), yb).backward()
    g = [p.grad.clone() for p in params]
    norm = torch.sqrt(sum((gi**2).sum() for gi in g))
    with torch.no_grad():
        for p, gi in zip(params, g, strict=True):
            p.add_(0.05 * gi / (norm + 1e-12))
    ref.zero_grad()
    loss_fn(ref({"fbank": xb}), yb).backward()
    with torch.no_grad():
        for p, gi in zip(params, g, strict=True):
            p.sub_(0.05 * gi / (norm + 1e-12))
    torch.optim.AdamW(params, lr=0.1, weight_decay=0.0).step()
    for a, b in zip(model.parameters(), params, strict=True):
        torch.testing.assert_close(a, b)


def test_training_writes_both_selections(tmp_path):
    model, s = _train(tmp_path)
    hist = pd.read_csv(tmp_path / "run" / "history.csv")
    assert len(hist) == 4 and {"val_score_exact", "test_score_any", "test_se_exact"} <= set(hist)
    clean, paper = s["selection"]["clean"], s["selection"]["paper"]
    assert clean["epoch"] == int(hist["val_score_exact"].idxmax()) + 1
    assert paper["epoch"] == int(hist["test_score_any"].idxmax()) + 1
    assert "test set" in paper["note"]
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])
    assert (tmp_path / "run" / "model_paper.pt").is_file()
    assert s["amp"] is None and s["deterministic"]  # CPU: no autocast


def test_clean_selection_ignores_the_test_set(tmp_path):
    _, with_test = _train(tmp_path, name="a")
    _, without = _train(tmp_path, cfg={**CFG, "paper_protocol": False}, name="b")
    assert with_test["selection"]["clean"] == without["selection"]["clean"]
    assert without["selection"]["paper"] is None
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


class Stop(Exception):
    pass


@pytest.mark.parametrize("bn", [False, True])
def test_resume_is_bit_identical(tmp_path, bn):
    _, full = _train(tmp_path, bn=bn, name="full")

    def interrupt(epoch, row):
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        _train(tmp_path, bn=bn, name="cut", on_epoch_end=interrupt)
    _, resumed = _train(tmp_path, bn=bn, name="cut")
    assert resumed["resumed_from_epoch"] == 2
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "full" / "history.csv").drop(columns="seconds"),
                                  pd.read_csv(tmp_path / "cut" / "history.csv").drop(columns="seconds"))
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_protocol_splits_group_patients():
    rows = []
    for p in range(20):
        for r in range(2):
            for c in range(3):
                rows.append({"record_id": f"{p}_{r}_c{c}", "recording": f"{p}_{r}", "patient_id": str(p),
                             "label": (p + c) % 4, "official_split": "test" if p % 3 == 0 else "train"})
    index = pd.DataFrame(rows)
    split = {"val_fraction": 0.2, "seed": 0, "max_train_cycles": None, "max_val_cycles": None,
             "max_test_cycles": None}
    parts = tr.protocol_splits(index, split)
    assert not set(parts["train"]["patient_id"]) & set(parts["val"]["patient_id"])
    assert set(parts["test"]["record_id"]) == set(index.loc[index["official_split"] == "test", "record_id"])
    assert sum(len(d) for d in parts.values()) == len(index)
    small = tr.protocol_splits(index, {**split, "max_train_cycles": 10})
    assert len(small["train"]) == 10
