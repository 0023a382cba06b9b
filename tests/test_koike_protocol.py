"""Koike et al. protocol: the 3:1:1 split, balanced sampling, weights marking, T4/T5 cells."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auscult.features.store import write_store
from auscult.papers.koike import tables as rk
from auscult.papers.koike import variant_model as koike_model_config
from auscult.papers.koike import variant_table as koike_variants
from auscult.papers.koike.train import protocol_splits, run_training
from auscult.params import ParamsError, load_params, validate

# every epoch leaves a resumable checkpoint (tests of resume and its files)
pytestmark = pytest.mark.usefixtures("checkpoint_every_epoch")

SPLIT = {"ratios": [3, 1, 1], "seed": 42}


def _index(n: int, abnormal: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < abnormal).astype(int)
    return pd.DataFrame({"record_id": [f"r{i:05d}" for i in range(n)], "label": labels, "patient_id": ""})


def test_split_is_3_1_1_stratified_and_disjoint():
    index = _index(3240, 665 / 3240)
    parts = protocol_splits(index, SPLIT)
    sizes = {k: len(v) for k, v in parts.items()}
    assert sizes == {"train": 1944, "dev": 648, "test": 648}
    overall = index["label"].mean()
    for name, df in parts.items():
        assert abs(df["label"].mean() - overall) < 0.005, name  # the normal:abnormal ratio is kept
    ids = [set(df["record_id"]) for df in parts.values()]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set().union(*ids) == set(index["record_id"])


def test_split_is_seeded_and_subsampling_leaves_parts_alone():
    index = _index(500, 0.2)
    a, b = protocol_splits(index, SPLIT), protocol_splits(index, SPLIT)
    assert all(a[k]["record_id"].tolist() == b[k]["record_id"].tolist() for k in a)
    other = protocol_splits(index, {"ratios": [3, 1, 1], "seed": 7})
    assert a["test"]["record_id"].tolist() != other["test"]["record_id"].tolist()
    small = protocol_splits(index, SPLIT, max_train_records=60, max_eval_records=30)
    assert len(small["train"]) == 60 and len(small["test"]) == 30
    assert set(small["test"]["record_id"]) <= set(a["test"]["record_id"])  # a subset, never a re-split


def test_split_never_puts_a_patient_on_two_sides():
    index = _index(300, 0.3)
    index["patient_id"] = [f"p{i // 3}" for i in range(300)]  # three recordings per patient
    parts = protocol_splits(index, SPLIT)
    pats = [set(df["patient_id"]) for df in parts.values()]
    assert not (pats[0] & pats[1]) and not (pats[0] & pats[2]) and not (pats[1] & pats[2])


def test_real_physionet_split_sizes(mirror_root):
    labels = []
    for sub in "abcdef":
        ref = pd.read_csv(mirror_root / "physionet2016" / f"training-{sub}" / "REFERENCE.csv", header=None)
        labels += [(r, int(lab == 1)) for r, lab in zip(ref[0], ref[1], strict=True)]
    index = pd.DataFrame(labels, columns=["record_id", "label"]).assign(patient_id="")
    parts = protocol_splits(index, SPLIT)
    print({k: (len(v), int(v["label"].sum())) for k, v in parts.items()})
    assert [len(parts[k]) for k in ("train", "dev", "test")] == [1944, 648, 648]
    assert [int(parts[k]["label"].sum()) for k in ("train", "dev", "test")] == [399, 133, 133]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 100
    index = _index(n, 0.25, seed=1)
    y = index["label"].to_numpy()
    logmel = rng.normal(size=(n, 32, 40)).astype(np.float32)
    logmel[y == 1, :8] += 1.5  # learnable
    out = tmp_path_factory.mktemp("koike") / "features"
    write_store(out, index, [{"logmel": logmel}], {"recipe": "koike"})
    return out


def _params(weights: str) -> dict:
    return {
        "model": {"arch": "imagenet", "name": "mobilenet_v2", "input": "logmel", "input_norm": "batchnorm",
                  "dropout": 0.2},
        "training": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 16, "max_epochs": 2,
                     "patience": 2, "monitor": "val_uar", "lr_plateau": {"factor": 0.5, "patience": 1, "min_lr": 0},
                     "class_balance": "sampler", "amp": False, "trainable": "all",
                     "bn_recalibrate_batches": 0},
        "split": SPLIT, "max_train_records": None, "max_eval_records": None, "weights": weights,
    }


def test_run_marks_scratch_when_pretrained_weights_are_unreachable(store, tmp_path, monkeypatch):
    monkeypatch.setenv("AUSCULT_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("AUSCULT_WEIGHTS_OFFLINE", "1")
    out, ckpt = tmp_path / "run", tmp_path / "ckpt"
    s = run_training(store, _params("pretrained"), out, seed=1, progress=False, checkpoint_dir=ckpt)
    assert s["weights"] == "scratch" and s["weights_requested"] == "pretrained"
    assert "not found" in s["weights_reason"]
    assert s["class_balance"] == "sampler" and s["pos_weight"] == 1.0
    preds = pd.read_csv(out / "predictions.csv")
    assert set(preds["part"]) == {"dev", "test"} and len(preds) == 40
    split = pd.read_csv(out / "split.csv")
    assert split.groupby("part").size().to_dict() == {"dev": 20, "test": 20, "train": 60}
    assert not set(preds[preds.part == "test"].record_id) & set(split[split.part == "train"].record_id)
    assert not ckpt.exists(), "the resumable checkpoint is removed once the run is complete"
    hist = pd.read_csv(out / "history.csv")
    assert hist["val_uar"].between(0, 1).all()


def test_run_is_deterministic(store, tmp_path):
    a = run_training(store, _params("scratch"), tmp_path / "a", seed=3, progress=False)
    run_training(store, _params("scratch"), tmp_path / "b", seed=3, progress=False)
    assert a["weights"] == "scratch" and a["weights_reason"].startswith("params")
    pa, pb = (pd.read_csv(tmp_path / d / "predictions.csv") for d in "ab")
    pd.testing.assert_frame_equal(pa, pb)


def test_sampler_draws_classes_equally(store, tmp_path, monkeypatch):
    import torch

    drawn = []
    real = torch.multinomial

    def spy(weights, n, replacement=False, generator=None):
        idx = real(weights, n, replacement=replacement, generator=generator)
        drawn.append(idx.numpy().copy())
        return idx

    monkeypatch.setattr(torch, "multinomial", spy)
    params = _params("scratch")
    params["training"].update(max_epochs=6, patience=6)
    run_training(store, params, tmp_path / "s", seed=5, progress=False)
    y = pd.read_csv(tmp_path / "s" / "split.csv").query("part == 'train'")["label"].to_numpy()
    frac = float(np.mean(np.concatenate([y[d] for d in drawn])))  # 360 draws: sd ~0.026 around 0.5
    assert len(drawn) == 6 and y.mean() < 0.3 and 0.4 < frac < 0.6, (y.mean(), frac)


def _write_run(d: Path, labels, scores, weights="scratch", n_params=2_224_579):
    d.mkdir(parents=True)
    pd.DataFrame({"record_id": [f"t{i}" for i in range(len(labels))], "part": "test", "label": labels,
                  "score": scores}).to_csv(d / "predictions.csv", index=False)
    (d / "train_summary.json").write_text(json.dumps({
        "weights": weights, "n_params": n_params, "n_train": 6, "n_dev": 2, "n_test": len(labels),
        "test_abnormal_fraction": float(np.mean(labels)), "wall_s": 1.0, "device_name": "cpu"}))


def test_t4_t5_cells_from_predictions(tmp_path):
    labels = [0, 0, 0, 0, 1, 1]
    # seed 1: spec 3/4, sens 1/2 -> UAR 62.5 ; seed 2: spec 1, sens 1 -> UAR 100
    _write_run(tmp_path / "s1", labels, [0.1, 0.2, 0.3, 0.6, 0.9, 0.4])
    _write_run(tmp_path / "s2", labels, [0.1, 0.2, 0.3, 0.4, 0.9, 0.8], weights="pretrained")
    files = [tmp_path / "s1", tmp_path / "s2"]
    runs = {"mobilenet_v2_logmel": rk.KoikeRuns([f / "train_summary.json" for f in files],
                                                [f / "predictions.csv" for f in files])}
    paper = {rk.T4: {"rows": {"mobilenet_v2": {"label": "MobileNetV2", "uar_logmel": 86.1, "params_M": 2.2}}}}
    boot = {"n_boot": 50, "seed": 0, "alpha": 0.05}
    tables = rk.build_tables(runs, {"mobilenet_v2": ["logmel"]},
                             {"t4_uar": ["mobilenet_v2"], "t5_spec_sens_f1": ["mobilenet_v2"]}, paper, boot)
    uar = next(c for c in tables[rk.T4] if c.metric == "uar_%")
    assert uar.values == pytest.approx([62.5, 100.0]) and uar.paper == 86.1
    assert uar.extra["weights"] == "mixed: pretrained/scratch"
    t5 = {c.metric: c.values for c in tables[rk.T5]}
    assert t5["spec_%"] == pytest.approx([75.0, 100.0]) and t5["sens_%"] == pytest.approx([50.0, 100.0])
    from auscult.reporting.figures import model_comparison_plot
    from auscult.reporting.tables import long_frame

    model_comparison_plot(long_frame(tables[rk.T4], {"data": "synthetic", "weights": "scratch", "budget": "demo"}),
                          tmp_path / "t4.png", title="T4")
    assert (tmp_path / "t4.png").stat().st_size > 1000


def test_params_koike_cross_checks(repo_root):
    cfg = load_params(repo_root / "params.yaml")
    assert len(koike_variants(cfg["koike"])) == 15  # 7 ImageNet models x 2 inputs + CNN14 log-mel
    assert koike_model_config(cfg["koike"], "vgg16_linear")["input"] == "linear"
    assert "input" not in koike_model_config(cfg["koike"], "cnn14_logmel")
    bad = json.loads(json.dumps(cfg))
    bad["koike"]["models"]["cnn14"]["inputs"] = ["logmel", "linear"]
    with pytest.raises(ParamsError, match="CNN14"):
        validate(bad)
    bad = json.loads(json.dumps(cfg))
    bad["koike"]["tables"]["t4_uar"].append("vgg17")
    with pytest.raises(ParamsError, match="vgg17"):
        validate(bad)
    bad = json.loads(json.dumps(cfg))
    bad["koike"]["models"]["vgg16"]["config"]["dropuot"] = 0.1
    with pytest.raises(ParamsError, match="koike"):
        validate(bad)


def test_priorities_put_koike_jobs_last_cross_dataset_models_first_costliest_first(repo_root):
    from auscult.papers import koike

    cfg = load_params(repo_root / "params.yaml", [repo_root / "config" / "demo.yaml"])
    models = list(cfg["koike"]["models"])
    pr = {m: koike.priority(cfg, m) for m in models}  # one training job per model: all its inputs
    assert all(-2 < p < -1 for p in pr.values())  # below every other rule's 0
    cross = {m for m in models if set(koike.model_variants(cfg, m)) & set(koike.cross_variants(cfg))}
    assert cross and min(pr[m] for m in cross) > max(p for m, p in pr.items() if m not in cross)
    rest = sorted((m for m in pr if m not in cross), key=pr.get, reverse=True)
    assert rest[0] == "vgg19" and rest[-1] == "mobilenet_v2", rest
    costs = [sum(koike.schedule_cost(cfg, v) for v in koike.model_variants(cfg, m)) for m in rest]
    assert costs == sorted(costs, reverse=True)
    # the paper budget caps no run: every job costs the same, so all tie
    paper = load_params(repo_root / "params.yaml")
    assert len({koike.priority(paper, m) for m in paper["koike"]["models"]}) == 1


def test_a_training_job_covers_every_input_of_its_model_and_names_their_digests(repo_root):
    from auscult import layout
    from auscult.papers import koike

    cfg = load_params(repo_root / "params.yaml", [repo_root / "config" / "demo.yaml"])
    assert koike.model_variants(cfg, "vgg16") == ["vgg16_logmel", "vgg16_linear"]
    assert koike.model_variants(cfg, "cnn14") == ["cnn14_logmel"]
    art = koike.job_artifact(cfg, "vgg16", 42)
    d = {v: layout.train_digest(cfg, "koike", v) for v in koike.model_variants(cfg, "vgg16")}
    assert art == f"runs/koike/vgg16/logmel-{d['vgg16_logmel']}-linear-{d['vgg16_linear']}/seed42"
    assert layout.benchmark_path(art) == (f"runs/koike/vgg16/benchmarks/logmel-{d['vgg16_logmel']}-linear-"
                                          f"{d['vgg16_linear']}-seed42.tsv")
    # the shared lookups: a Koike run's job is its model's; other papers' jobs are their variants
    assert layout.train_job(cfg, "koike", "vgg16_linear") == "vgg16"
    assert layout.train_benchmark(cfg, "koike", "vgg16_linear", 42) == layout.benchmark_path(art)
    assert layout.train_job(cfg, "audiofuse", "cnn_only") == "cnn_only"
    assert layout.train_benchmark(cfg, "audiofuse", "cnn_only", 42) == layout.benchmark_path(
        layout.run_dir(cfg, "audiofuse", "cnn_only", 42))


def test_schedule_gflops_are_torchvisions():
    import torchvision.models as tvm

    from auscult.models.imagenet import NAMES
    from auscult.papers.koike import GFLOPS_224

    assert set(GFLOPS_224) == set(NAMES)
    for name, (family, ident, _, _) in NAMES.items():  # a VGG's ident is its layer table
        weights = tvm.get_model_weights(name if family == "vgg" else ident).DEFAULT
        assert GFLOPS_224[name] == pytest.approx(weights.meta["_ops"]), name


def test_every_koike_training_rule_gets_the_demo_thread_and_the_slurm_gpu(repo_root):
    """One rule per model (koike_run_<model>): the Makefile's demo threads and the SLURM
    profile's GPU request name each rule, so a model added to params.yaml needs both."""
    import subprocess

    import yaml

    models = load_params(repo_root / "params.yaml")["koike"]["models"]
    threads = subprocess.run(["make", "-s", "--no-print-directory", "demo-threads"], cwd=repo_root,
                             capture_output=True, text=True, check=True).stdout.split()
    profile = yaml.safe_load((repo_root / "profiles/slurm/profile.yaml").read_text())
    for m in models:
        assert f"koike_run_{m}=1" in threads, (m, threads)
        assert f"koike_run_{m}:gpu=1" in profile["set-resources"], m
