"""The training engine gives the numbers the two former loops gave (float equality on CPU).

``fixtures/engine_baseline/<cpu>/engine_baseline.json`` was written by the loops before they
were merged into :mod:`auscult.training.engine` (``train_binary`` of ``training/loop.py``, now
``training/binary.py``, and ``train_cycles`` of ``training/ast_sam.py``: the test file of
commit 1df4173 on the code of d678fb1): per scenario the history rows (without timings), the selection in the summary and
sha256 digests of the saved state_dicts. ``<cpu>/*-epoch2.pt`` are checkpoints that code
wrote after epoch 2 of two scenarios; resuming from them must end where the uninterrupted
run ends (the checkpoint format is unchanged).

Float results are exact only on one kind of CPU: the same code gives other last bits on a
CPU with other vector kernels (measured: 1e-8 to 1e-7 on the losses between an AMD EPYC
and an AVX-512/bf16 Xeon, and a different validation score in two SAM scenarios). So there
is one baseline per CPU kind, each with a ``cpu.json`` naming the machine it was written on.
On a CPU of a recorded kind the comparison is exact. On any other CPU the results must still
equal one of the baselines exactly, or else (a CPU kind without a baseline) agree with them
on the epochs run and selected and on the first epoch's losses (:func:`_close`); the test
says which.

Write a baseline for this CPU (only with the former loops, whose numbers are the reference)::

    git worktree add /tmp/former 1df4173 && cd /tmp/former
    PYTHONPATH=src python tests/test_engine_equivalence.py --write
    # then copy tests/fixtures/{engine_baseline.json,*-epoch2.pt} to a new
    # tests/fixtures/engine_baseline/<cpu>/ here, with the output of
    # `python tests/test_engine_equivalence.py --cpu` (run here) as <cpu>/cpu.json
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

# every epoch leaves a resumable checkpoint (tests of resume and its files)
pytestmark = pytest.mark.usefixtures("checkpoint_every_epoch")

BASELINES = Path(__file__).resolve().parent / "fixtures" / "engine_baseline"


def cpu_identity() -> dict:
    """What decides the float kernels torch runs: the CPU's vendor and model, torch's vector
    capability, and whether the CPU has bf16 instructions (the scenarios use CPU autocast)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    field = lambda key: next((line.split(":", 1)[1].strip() for line in info.splitlines()  # noqa: E731
                              if line.startswith(key)), "")
    flags = set(field("flags").split())
    return {"vendor_id": field("vendor_id"), "model_name": field("model name"),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "bf16": bool(flags & {"avx512_bf16", "amx_bf16"})}


def baselines() -> dict[str, dict]:
    """{folder: {"cpu": its cpu.json, "values": its engine_baseline.json, "dir": path}}."""
    return {d.name: {"cpu": json.loads((d / "cpu.json").read_text()),
                     "values": json.loads((d / "engine_baseline.json").read_text()), "dir": d}
            for d in sorted(BASELINES.iterdir()) if d.is_dir()}


def own_baseline(found: dict) -> str | None:
    """The baseline written on this kind of CPU, if any."""
    me = cpu_identity()
    return next((k for k, b in found.items() if b["cpu"].get("identity") == me), None)

AUDIOFUSE = {
    "arch": "audiofuse",
    "branches": ["spec", "wave"],
    "vit": {"img_size": 32, "patch": 8, "width": 16, "depth": 1, "heads": 2, "mlp_dim": 32,
            "dropout": 0.2, "attn_dropout": 0.2, "pos_emb": "frozen_random", "ln_eps": 1.0e-6},
    "wave_cnn": {"channels": [4, 8, 8], "kernel": 8, "stride": 1, "pool": 4, "out_dim": 8,
                 "bn_momentum": 0.01, "bn_eps": 1.0e-3},
    "head": {"hidden": 16, "dropout": 0.5},
    "init": "glorot",
}
BINARY = {
    "optimizer": "adamw", "lr": 3.0e-3, "weight_decay": 1.0e-4, "batch_size": 8, "max_epochs": 3,
    "patience": 15, "monitor": "val_loss", "lr_plateau": {"factor": 0.5, "patience": 1, "min_lr": 1.0e-6},
    "class_balance": "pos_weight", "amp": True, "trainable": "all", "bn_recalibrate_batches": 0,
}
BINARY_SCENARIOS = {
    "bin_base": {},
    "bin_sampler_auc_recal": {"monitor": "val_auc", "class_balance": "sampler", "bn_recalibrate_batches": 3},
    "bin_head_uar_early": {"monitor": "val_uar", "class_balance": "none", "trainable": "head",
                           "optimizer": "adam", "patience": 1, "max_epochs": 5,
                           "lr_plateau": {"factor": 0.5, "patience": 0, "min_lr": 1.0e-4}},
    "bin_tinybn_recal_head": {"model": "tinybn", "trainable": "head", "bn_recalibrate_batches": 2,
                              "monitor": "val_auc", "class_balance": "sampler"},
}
CYCLES = {"lr": 1e-2, "weight_decay": 1e-4, "batch_size": 8, "epochs": 3, "label_smoothing": 0.1,
          "sampler": "weighted", "sam": {"enabled": True, "rho": 0.05, "adaptive": False}, "amp": True,
          "monitor": "score_exact", "paper_protocol": True}
TINY_AST = {"arch": "ast", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32,
            "patch_size": 16, "fstride": 10, "tstride": 10, "max_length": 64, "num_mel_bins": 32,
            "dropout": 0.1, "head_dropout": 0.3, "pooling": "mean", "n_classes": 4, "pretrained": False}
CYCLE_SCENARIOS = {
    "cyc_sam_wrs_paper": {},
    "cyc_sam_wrs_bn": {"model": "bn"},
    "cyc_plain_uniform": {"sam": {"enabled": False, "rho": 0.05, "adaptive": False}, "sampler": "uniform",
                          "paper_protocol": False, "monitor": "score_any"},
    "cyc_adaptive_sam_uniform_bn": {"model": "bn", "sampler": "uniform",
                                    "sam": {"enabled": True, "rho": 0.5, "adaptive": True}},
    "cyc_ast_sam": {"model": "ast", "epochs": 2, "batch_size": 4, "lr": 1e-3, "sampler": "uniform"},
    "cyc_ast_plain_wrs": {"model": "ast", "epochs": 2, "batch_size": 4, "lr": 1e-3,
                          "sam": {"enabled": False, "rho": 0.05, "adaptive": False}},
}
RESUMED = {"bin_sampler_auc_recal": "bin-epoch2.pt", "cyc_sam_wrs_bn": "cyc-epoch2.pt"}
SUMMARY_KEYS = ("best_epoch", "best_val_auc", "best_val_loss", "best_val_uar", "best_monitor_value",
                "epochs_run", "stopped_early", "pos_weight", "n_trainable_params", "selection", "best_val",
                "train_class_counts")


class TinyBN(nn.Module):
    inputs = ("x",)

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8, momentum=0.01), nn.ReLU())
        self.head = nn.Sequential(nn.BatchNorm1d(8), nn.Dropout(0.3), nn.Linear(8, 1))

    def forward(self, batch):
        return self.head(self.backbone(batch["x"])).reshape(-1)


class TinyCycles(nn.Module):
    inputs = ("fbank",)

    def __init__(self, bn: bool = False):
        super().__init__()
        norm = nn.BatchNorm1d(8) if bn else nn.Identity()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(24, 8), norm, nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 4))

    def forward(self, batch):
        return self.net(batch["fbank"])


def _binary_data():
    rng = np.random.default_rng(0)
    y = np.array([1] * 10 + [0] * 22 + [1] * 4 + [0] * 8)
    y[:32], y[32:] = rng.permutation(y[:32]), rng.permutation(y[32:])
    spec = rng.random((44, 32, 32)).astype(np.float16)
    spec[y == 1, :8] += np.float16(0.3)
    wave = rng.standard_normal((44, 256)).astype(np.float32)
    wave[y == 1] *= 1.3
    x = rng.standard_normal((44, 6)).astype(np.float32)
    x[y == 1, 0] += 1.0
    return {"spec": spec[:32], "wave": wave[:32], "x": x[:32]}, y[:32], \
        {"spec": spec[32:], "wave": wave[32:], "x": x[32:]}, y[32:]


def _cycle_data(n, seed, ast=False):
    rng = np.random.default_rng(seed)
    y = rng.choice(4, n, p=[0.55, 0.25, 0.13, 0.07])
    if ast:
        x = rng.standard_normal((n, 64, 32)).astype(np.float32)
        x[np.arange(n), :, y * 4] += 2.0
    else:
        x = rng.standard_normal((n, 4, 6)).astype(np.float32)
        x[np.arange(n), y, 0] += 2.0
    return {"fbank": x}, y


def state_digest(state: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.numpy().tobytes() if v.dtype != torch.bfloat16 else v.float().numpy().tobytes())
    return h.hexdigest()


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def run_scenario(name: str, out: Path, *, interrupt_after: int | None = None) -> dict:
    from auscult.models import build_model
    from auscult.papers.ast_sam.train import train_cycles
    from auscult.training import seed_everything, train_binary

    class Stop(Exception):
        pass

    def stop(epoch, row):
        if interrupt_after is not None and epoch == interrupt_after:
            raise Stop

    torch.set_num_threads(1)
    run, ckpt = out / name, out / f"{name}-ckpt"
    if name in BINARY_SCENARIOS:
        over = dict(BINARY_SCENARIOS[name])
        kind = over.pop("model", "audiofuse")
        cfg = {**BINARY, **over}
        seed_everything(0)
        model = build_model(AUDIOFUSE) if kind == "audiofuse" else TinyBN()
        tr, ytr, va, yva = _binary_data()
        call = lambda: train_binary(model, tr, ytr, va, yva, cfg, run, seed=3, progress=False,  # noqa: E731
                                    checkpoint_dir=ckpt, on_epoch_end=stop)
    else:
        over = dict(CYCLE_SCENARIOS[name])
        kind = over.pop("model", "plain")
        cfg = {**CYCLES, **over}
        torch.manual_seed(0)
        ast = kind == "ast"
        model = build_model(TINY_AST) if ast else TinyCycles(bn=kind == "bn")
        (xt, yt), (xv, yv), (xs, ys) = (_cycle_data(40 if ast else 64, 1, ast), _cycle_data(16 if ast else 24, 2, ast),
                                        _cycle_data(16 if ast else 24, 3, ast))
        call = lambda: train_cycles(model, xt, yt, xv, yv, cfg, run, checkpoint_dir=ckpt, seed=7,  # noqa: E731
                                    test=xs, y_test=ys, progress=False, on_epoch_end=stop)
    try:
        summary = call()
    except Stop:
        return {"checkpoint": ckpt / "last.pt"}
    history = [{k: v for k, v in row.items() if k != "seconds"}
               for row in torch.load(ckpt / "last.pt", weights_only=True)["history"]]
    files = {p.name: state_digest(torch.load(p, weights_only=True)) for p in sorted(run.glob("model*.pt"))}
    return _clean({"history": history, "summary": {k: summary[k] for k in SUMMARY_KEYS if k in summary},
                   "states": files, "final_model": state_digest(model.state_dict()),
                   "resumed_from_epoch": summary["resumed_from_epoch"]})


ALL = [*BINARY_SCENARIOS, *CYCLE_SCENARIOS]


@pytest.fixture(scope="module")
def found():
    return baselines()


def _equal(got: dict, want: dict) -> bool:
    return (got["history"] == want["history"] and got["summary"] == want["summary"]
            and got["states"] == want["states"] and got["final_model"] == want["final_model"])


def _close(got: dict, want: dict) -> bool:
    """Another CPU's rounding: the same epochs run and selected, and the first epoch's
    learning rate, training loss (to 1e-4) and validation/test losses (to 1e-2; SAM with
    BatchNorm amplifies last-bit differences within an epoch). Scores on the small validation
    sets can flip a sample, so they are not compared."""
    if len(got["history"]) != len(want["history"]) or got["summary"].get("best_epoch") != want["summary"].get(
            "best_epoch"):
        return False
    first, ref = got["history"][0], want["history"][0]
    tol = {"lr": 1e-9, "train_loss": 1e-4, **{k: 1e-2 for k in ref if k.endswith("_loss") and k != "train_loss"}}
    return first.get("epoch") == ref.get("epoch") and all(
        k in first and math.isclose(first[k], ref[k], rel_tol=t) for k, t in tol.items() if k in ref)


def _check(name: str, found: dict, run) -> None:
    """Exact against this CPU kind's baseline; elsewhere exact against one, or close to all."""
    own = own_baseline(found)
    if own is not None:
        assert _equal(run(found[own]), found[own]["values"][name]), f"differs from the baseline of {own}"
        return
    results = {k: run(b) for k, b in found.items()}
    exact = [k for k in found if _equal(results[k], found[k]["values"][name])]
    if exact:
        print(f"\n[engine] {name}: equal to the baseline of {exact[0]}")
        return
    close = [k for k in found if _close(results[k], found[k]["values"][name])]
    assert close == list(found), f"{name}: neither equal to nor close to the baselines {sorted(set(found) - set(close))}"
    print(f"\n[engine] {name}: no baseline for this CPU {cpu_identity()}; same epochs and selection as "
          f"{list(found)}, first epoch's losses close")


@pytest.mark.parametrize("name", ALL)
def test_same_numbers_as_the_former_loops(name, found, tmp_path):
    got = run_scenario(name, tmp_path)  # one run: it does not depend on the baseline
    _check(name, found, lambda b: got)


@pytest.mark.parametrize("name", sorted(RESUMED))
def test_resumes_from_a_checkpoint_of_the_former_loops(name, found, tmp_path):
    def resumed(b: dict) -> dict:
        work = tmp_path / b["dir"].name
        ckpt = work / f"{name}-ckpt"
        ckpt.mkdir(parents=True)
        shutil.copy(b["dir"] / RESUMED[name], ckpt / "last.pt")
        got = run_scenario(name, work)
        assert got["resumed_from_epoch"] == 2
        # the first two epochs come from the checkpoint: equal on any CPU
        assert got["history"][:2] == b["values"][name]["history"][:2]
        return got

    _check(name, found, resumed)


@pytest.mark.parametrize("name", ALL)
def test_on_a_cpu_without_a_baseline_the_others_still_check_it(name, found, tmp_path, monkeypatch):
    """This CPU taken for an unknown kind: equal to one baseline; and with this CPU's own
    baseline removed too, close to the remaining one (:func:`_close`)."""
    monkeypatch.setattr(sys.modules[__name__], "cpu_identity", lambda: {"vendor_id": "unknown"})
    got = run_scenario(name, tmp_path)
    _check(name, found, lambda b: got)
    own = next((k for k, b in found.items() if b["cpu"].get("identity")), None)
    if own is not None:
        _check(name, {k: b for k, b in found.items() if k != own}, lambda b: got)


def test_a_changed_loss_fails_even_without_a_baseline_for_this_cpu(found, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "cpu_identity", lambda: {"vendor_id": "unknown"})
    got = run_scenario("bin_base", tmp_path)
    got["history"][0]["train_loss"] *= 1.001
    with pytest.raises(AssertionError, match="neither equal"):
        _check("bin_base", found, lambda b: got)


if __name__ == "__main__":
    # the cpu.json of a new baseline folder (the baseline itself comes from the former loops)
    if sys.argv[1:] != ["--cpu"]:
        sys.exit(__doc__)
    print(json.dumps({"identity": cpu_identity()}, indent=1))
