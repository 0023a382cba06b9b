"""The classical reference floor: its feature vector, its classifier, its protocol outputs
(same keys, columns and records as the deep models'), its digests and its table rows."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from auscult import layout
from auscult.evaluation.metrics import choose_threshold, roc_auc
from auscult.features import floor as ffeat
from auscult.features.store import write_store
from auscult.papers.audiofuse import floor as af_floor
from auscult.papers.audiofuse import tables as af_report
from auscult.papers.audiofuse import train as af_protocol
from auscult.papers.koike import floor as kk_floor
from auscult.papers.koike import tables as koike_report
from auscult.papers.koike import train as koike_protocol
from auscult.params import ParamsError, load_params, validate
from auscult.reporting import floor as floor_report
from auscult.reporting.tables import long_frame, paper_values
from auscult.training import floor

CTX = {"data": "synthetic", "weights": "scratch", "budget": "demo"}


@pytest.fixture(scope="module")
def params(repo_root):
    return load_params(repo_root / "params.yaml")


@pytest.fixture(scope="module")
def feat_cfg(params):
    return params["features"]["floor_stats"]


def _hgb(seed_sensitive: bool = True) -> dict:
    return {"kind": "hgb", "class_weight": "balanced",
            "hgb": {"learning_rate": 0.1, "max_iter": 30, "max_leaf_nodes": 7, "min_samples_leaf": 5,
                    "l2_regularization": 0.0, "max_features": 0.5 if seed_sensitive else 1.0}}


LOGREG = {"kind": "logreg", "class_weight": "balanced", "logreg": {"C": 1.0, "max_iter": 500}}


# ---------------------------------------------------------------- features
def _tone(seconds: float, f0: float, sr: int = 2000, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_feature_vector_shape_names_and_determinism(feat_cfg):
    ffeat.validate_config(feat_cfg)
    v1 = ffeat.summary_vector(_tone(5.0, 60.0), feat_cfg)
    v2 = ffeat.summary_vector(_tone(5.0, 60.0), feat_cfg)
    assert v1.shape == (ffeat.n_features(feat_cfg),) == (len(ffeat.feature_names(feat_cfg)),)
    assert ffeat.n_features(feat_cfg) == (2 * 20 + 40) * 2  # MFCC, delta MFCC, log-mel x mean, std
    assert np.isfinite(v1).all() and np.array_equal(v1, v2)
    v3 = ffeat.summary_vector(_tone(5.0, 300.0), feat_cfg)
    assert not np.allclose(v1, v3)
    # a clip shorter than a delta window still gives a finite vector of the same length
    short = ffeat.summary_vector(_tone(0.05, 60.0), feat_cfg)
    assert short.shape == v1.shape and np.isfinite(short).all()
    names = ffeat.feature_names(feat_cfg)
    assert names[0] == "mfcc_mean_0" and names[-1] == "logmel_std_39"


def test_extract_keeps_the_first_seconds_without_padding(tmp_path, feat_cfg):
    import soundfile as sf

    long, short = _tone(8.0, 80.0, sr=4000, seed=1), _tone(2.0, 80.0, sr=4000, seed=2)
    sf.write(tmp_path / "long.wav", long, 4000, subtype="PCM_16")
    sf.write(tmp_path / "short.wav", short, 4000, subtype="PCM_16")
    first = ffeat.load_start(str(tmp_path / "long.wav"), feat_cfg)
    assert first.shape == (int(feat_cfg["sample_rate"] * feat_cfg["clip_seconds"]),)
    assert ffeat.load_start(str(tmp_path / "short.wav"), feat_cfg).shape == (2 * feat_cfg["sample_rate"],)
    out = ffeat.extract(str(tmp_path / "long.wav"), feat_cfg)
    assert set(out) == {"stats"} and out["stats"].dtype == np.float32
    np.testing.assert_allclose(out["stats"], ffeat.summary_vector(first, feat_cfg), rtol=1e-5, atol=1e-4)


def test_feature_config_is_closed(feat_cfg):
    with pytest.raises(ValueError, match="unknown key"):
        ffeat.validate_config({**feat_cfg, "n_chroma": 12})
    with pytest.raises(KeyError, match="missing"):
        ffeat.validate_config({k: v for k, v in feat_cfg.items() if k != "deltas"})
    with pytest.raises(ValueError, match="n_mfcc"):
        ffeat.validate_config({**feat_cfg, "n_mfcc": feat_cfg["n_mels"] + 1})
    with pytest.raises(ValueError, match="stats"):
        ffeat.validate_config({**feat_cfg, "stats": ["mean", "kurtosis"]})


# ---------------------------------------------------------------- classifier
def _toy(n: int = 240, d: int = 12, seed: int = 0, shift: float = 1.5):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    x = rng.standard_normal((n, d))
    x[:, 0] += shift * y
    x[:, 1] -= shift * y
    return x, y


@pytest.mark.parametrize("model_cfg", [_hgb(), LOGREG], ids=["hgb", "logreg"])
def test_floor_learns_a_separable_problem(model_cfg):
    x, y = _toy(seed=0)
    xt, yt = _toy(seed=1)
    model = floor.fit(x, y, model_cfg, seed=42)
    assert roc_auc(yt, floor.scores(model, xt)) > 0.9
    # nothing to learn: chance level on held-out data
    rng = np.random.default_rng(3)
    noise = floor.fit(rng.standard_normal(x.shape), y, model_cfg, seed=42)
    assert abs(roc_auc(yt, floor.scores(noise, xt)) - 0.5) < 0.15


def test_floor_is_deterministic_per_seed():
    x, y = _toy(seed=0)
    xt, _ = _toy(seed=1)
    a = floor.scores(floor.fit(x, y, _hgb(), seed=42), xt)
    b = floor.scores(floor.fit(x, y, _hgb(), seed=42), xt)
    c = floor.scores(floor.fit(x, y, _hgb(), seed=43), xt)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)  # the seed acts through feature subsampling


def test_class_weight_balances_the_classes():
    x, y = _toy(n=400, seed=0, shift=0.4)
    cfg = _hgb(seed_sensitive=False)
    balanced = floor.scores(floor.fit(x, y, cfg, seed=0), x).mean()
    plain = floor.scores(floor.fit(x, y, {**cfg, "class_weight": "none"}, seed=0), x).mean()
    assert plain < balanced  # 30 % positives: without weights scores lean to the majority class
    with pytest.raises(ValueError, match="both classes"):
        floor.fit(x, np.zeros(len(x), int), cfg, seed=0)


def test_training_module_imports_no_audio_stack_and_no_torch(repo_root):
    code = ("import sys; import auscult.training.floor, auscult.reporting.floor; "
            "bad = [m for m in ('librosa', 'torch', 'snakemake', 'soundfile') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(repo_root / "src"), "PATH": ""})
    assert out.returncode == 0, out.stdout + out.stderr


# ---------------------------------------------------------------- protocols
def _stores(tmp_path, n_pool: int = 120, n_test: int = 40, n_pascal: int = 80):
    """PhysioNet-like and PASCAL-like feature stores holding both the floor's ``stats`` and a
    tiny ``wave``. Feature 0 of ``stats`` is the row's position, so a fit can be traced back
    to the records it saw."""
    rng = np.random.default_rng(0)

    def store(name, index):
        y = index["label"].to_numpy()
        stats = rng.standard_normal((len(index), 8)).astype(np.float32)
        stats[:, 0] = np.arange(len(index))
        stats[:, 1] += 1.5 * y
        wave = (rng.standard_normal((len(index), 64)) * (0.5 + y[:, None])).astype(np.float32)
        write_store(tmp_path / name, index, iter([{"stats": stats, "wave": wave}]), {"recipe": "test"})
        return tmp_path / name

    n = n_pool + n_test
    phys = pd.DataFrame({"record_id": [f"p{i:03d}" for i in range(n)],
                         "label": (np.arange(n) % 3 == 0).astype(int),
                         "official_split": ["train"] * n_pool + ["test"] * n_test, "patient_id": ""})
    pas = pd.DataFrame({"record_id": [f"q{i:03d}" for i in range(n_pascal)],
                        "label": (np.arange(n_pascal) % 2).astype(int),
                        "patient_id": [f"pt{i // 3}" for i in range(n_pascal)]})
    return store("phys", phys), store("pascal", pas), phys, pas


AF_FLOOR = {"model": _hgb(), "split": {"val_fraction": 0.2, "seed": 42}, "max_train_records": None,
            "threshold_rule": "youden", "head_retrain": {"test_fraction": 0.2, "val_fraction": 0.2, "seed": 42}}
TRAIN = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 16, "max_epochs": 1, "patience": 1,
         "monitor": "val_auc", "lr_plateau": {"factor": 0.5, "patience": 1, "min_lr": 1e-5},
         "class_balance": "pos_weight", "amp": False, "trainable": "head", "bn_recalibrate_batches": 0}


@pytest.fixture()
def fits(monkeypatch):
    """Record the stats rows (feature 0 = position in the store) every floor fit sees."""
    seen: list[np.ndarray] = []
    real = floor.fit

    def spy(x, y, model_cfg, seed):
        seen.append(np.asarray(x)[:, 0].astype(int))
        return real(x, y, model_cfg, seed)

    monkeypatch.setattr(floor, "fit", spy)
    return seen


@pytest.mark.parametrize("cap", [None, 30])  # 30: a rehearsal's cap on the evaluation records
def test_audiofuse_protocol_matches_the_deep_models_evaluation(tmp_path, fits, cap):
    phys_dir, pascal_dir, phys, pas = _stores(tmp_path)
    capped = {} if cap is None else {"max_eval_records": cap}
    m = af_floor.run_floor(features=[phys_dir, pascal_dir], floor_params={**AF_FLOOR, **capped}, seed=42,
                           out_dir=tmp_path / "floor")

    # the deep models' evaluation on the same stores and the same protocol parameters
    import torch

    from auscult.models import build_model
    from auscult.papers.audiofuse.evaluate import run_evaluation

    cfg = {"arch": "audiofuse", "branches": ["wave"], "init": "torch", "head": {"hidden": 4, "dropout": 0.0},
           "wave_cnn": {"channels": [4, 4, 4], "kernel": 4, "stride": 1, "pool": 2, "out_dim": 4,
                        "bn_momentum": 0.01, "bn_eps": 1e-3}}
    torch.manual_seed(0)
    torch.save(build_model(cfg).state_dict(), tmp_path / "model.pt")
    (tmp_path / "train_summary.json").write_text("{}")
    hr = {**AF_FLOOR["head_retrain"], "training": TRAIN}
    deep = run_evaluation(model_file=tmp_path / "model.pt", train_summary=tmp_path / "train_summary.json",
                          model_cfg=cfg, eval_params={"evaluation": {"threshold_rule": "youden"}, "head_retrain": hr,
                                                      "split": AF_FLOOR["split"], **capped},
                          train_features=phys_dir, transfer_features=pascal_dir, seed=42,
                          out_metrics=tmp_path / "deep" / "metrics.json",
                          out_predictions=tmp_path / "deep" / "predictions.csv", workdir=tmp_path / "deep")
    assert set(m) == set(deep)
    for key, value in deep.items():
        if isinstance(value, dict) and "auc" in value:
            assert set(m[key]) == set(value), key
    fp, dp = pd.read_csv(tmp_path / "floor" / "predictions.csv"), pd.read_csv(tmp_path / "deep" / "predictions.csv")
    assert list(fp.columns) == list(dp.columns)
    for proto, g in dp.groupby("protocol"):  # the very same records under every protocol
        assert sorted(fp.loc[fp["protocol"] == proto, "record_id"]) == sorted(g["record_id"]), proto

    # leakage: the PhysioNet fit saw only the train part, the PASCAL re-fits only their train parts
    parts = af_protocol.protocol_splits(phys, AF_FLOOR["split"], None, cap)
    scored = af_protocol.transfer_records(pas, cap, AF_FLOOR["split"]["seed"])
    ids = phys["record_id"].to_numpy()
    assert len(fits) == 3
    assert set(ids[fits[0]]) == set(parts["train"]["record_id"])
    for fitted, (name, group) in zip(fits[1:], af_protocol.HEAD_RETRAIN_PROTOCOLS.items(), strict=True):
        hp = af_protocol.head_retrain_splits(scored, AF_FLOOR["head_retrain"], group)
        seen = set(pas["record_id"].to_numpy()[fitted])
        assert seen == set(hp["train"]["record_id"]), name
        assert not seen & set(fp.loc[fp["protocol"] == name, "record_id"])
    assert not set(ids[fits[0]]) & set(fp.loc[fp["protocol"] == "physionet_test", "record_id"])
    # the threshold is chosen on the validation split, never on test
    val = fp[fp["protocol"] == "physionet_val"]
    assert m["threshold"]["value"] == pytest.approx(choose_threshold(val["label"], val["score"], "youden"))
    assert m["physionet_test"]["n"] == min(40, cap or 40) and m["pascal_zero_shot"]["n"] == min(80, cap or 80)
    assert m["physionet_val"]["n"] == len(parts["val"])


def test_koike_protocol_writes_what_koike_train_writes(tmp_path, fits):
    phys_dir, _, phys, _ = _stores(tmp_path, n_pool=150, n_test=50)
    kp = {"model": _hgb(), "split": {"ratios": [3, 1, 1], "seed": 42}, "max_train_records": 60,
          "max_eval_records": 30}
    s = kk_floor.run_floor(features=[phys_dir], floor_params=kp, seed=42, out_dir=tmp_path / "k")
    split = pd.read_csv(tmp_path / "k" / "split.csv", dtype={"record_id": str})
    preds = pd.read_csv(tmp_path / "k" / "predictions.csv", dtype={"record_id": str})
    parts = koike_protocol.protocol_splits(phys, kp["split"], 60, 30)
    assert list(split.columns) == list(koike_protocol.split_table(parts).columns)
    assert list(preds.columns) == ["record_id", "part", "label", "score"]
    assert preds.groupby("part").size().to_dict() == {"dev": 30, "test": 30}
    by_part = split.groupby("part")["record_id"].apply(set)
    assert not by_part["train"] & by_part["test"] and not by_part["train"] & by_part["dev"]
    assert set(phys["record_id"].to_numpy()[fits[0]]) == by_part["train"]  # fitted on train only
    assert {"weights", "n_params", "n_train", "n_dev", "n_test", "test_abnormal_fraction", "wall_s"} <= set(s)
    summary = json.loads((tmp_path / "k" / "train_summary.json").read_text())
    assert summary["n_train"] == 60 and summary["weights"] == "scratch"

    # ... so the Koike tables read it as one more model, labelled and without a paper value
    runs = {"floor_floor_stats": koike_report.KoikeRuns([tmp_path / "k" / "train_summary.json"],
                                                        [tmp_path / "k" / "predictions.csv"])}
    tables = koike_report.build_tables(runs, {"floor": ["floor_stats"]},
                                       {"t4_uar": ["floor"], "t5_spec_sens_f1": ["floor"]}, paper_values(),
                                       {"n_boot": 20, "seed": 0, "alpha": 0.05})
    t4, t5 = long_frame(tables[koike_report.T4], CTX), long_frame(tables[koike_report.T5], CTX)
    assert set(t4["row"]) == set(t5["row"]) == {floor_report.LABEL}
    assert list(t4["metric"]) == ["uar_%", "n_train"] and set(t5["metric"]) == {"spec_%", "sens_%", "f1_%"}
    assert t4.loc[t4["metric"] == "n_train", "mean"].tolist() == [60.0]  # each row says what it trained on
    assert t4["paper"].isna().all() and t5["paper"].isna().all()
    test = preds[preds["part"] == "test"]
    from auscult.evaluation.metrics import binary_metrics

    assert t4["mean"].iloc[0] == pytest.approx(100 * binary_metrics(test["label"], test["score"], 0.5)["uar"])


def test_audiofuse_tables_show_the_floor_in_t1_and_t2_only(tmp_path):
    phys_dir, pascal_dir, _, _ = _stores(tmp_path)
    files = {}
    for seed in (42, 43):
        d = tmp_path / f"seed{seed}"
        af_floor.run_floor(features=[phys_dir, pascal_dir], floor_params=AF_FLOOR, seed=seed, out_dir=d)
        files.setdefault("m", []).append(d / "metrics.json")
        files.setdefault("p", []).append(d / "predictions.csv")
    results = {"floor": af_report.SeedResults(files["m"], files["p"])}
    cfg = floor_report.with_floor({"t1_physionet": [], "t2_pascal": [], "t3_vit_ablation": []},
                                  ["t1_physionet", "t2_pascal"])
    assert cfg == {"t1_physionet": ["floor"], "t2_pascal": ["floor"], "t3_vit_ablation": []}
    tables = af_report.build_tables(results, cfg, {}, paper_values(), {"n_boot": 20, "seed": 0, "alpha": 0.05})
    t1, t2 = long_frame(tables[af_report.T1], CTX), long_frame(tables[af_report.T2], CTX)
    assert set(t1["row"]) == set(t2["row"]) == {floor_report.LABEL} and tables[af_report.T3] == []
    assert set(t1["metric"]) == {"auc", "mcc", "f1", "accuracy"}
    assert set(t2["protocol"]) == {af_report.PROTOCOLS[p] for p in ("pascal_zero_shot", "pascal_head_retrained",
                                                                     "pascal_head_retrained_grouped",
                                                                     "pascal_zero_shot_split")}
    assert t1["paper"].isna().all() and t2["paper"].isna().all()
    assert (t1["n_seeds"] == 2).all()


# ---------------------------------------------------------------- parameters and layout
def test_floor_digest_covers_exactly_its_slice(params):
    base = {p: layout.floor_dir(params, p, 42) for p in ("audiofuse", "koike")}
    assert base["audiofuse"].startswith("results/audiofuse/floor/")
    assert base["koike"].startswith("runs/koike/floor/floor_stats/")

    def changed(edit) -> dict:
        cfg = copy.deepcopy(params)
        edit(cfg)
        validate(cfg)
        return {p: layout.floor_dir(cfg, p, 42) != base[p] for p in base}

    assert changed(lambda c: c["floor"]["model"]["hgb"].update(max_iter=50)) == {"audiofuse": True, "koike": True}
    assert changed(lambda c: c["floor"]["model"]["logreg"].update(C=3.0)) == {"audiofuse": False, "koike": False}
    assert changed(lambda c: c["floor"]["model"].update(kind="logreg")) == {"audiofuse": True, "koike": True}
    assert changed(lambda c: c["features"]["floor_stats"].update(n_mfcc=13)) == {"audiofuse": True, "koike": True}
    assert changed(lambda c: c["datasets"]["pascal"].update(source="synthetic",
                                                             synthetic={"n_records": 10, "seed": 0,
                                                                        "abnormal_fraction": 0.5})) \
        == {"audiofuse": True, "koike": False}
    assert changed(lambda c: c["audiofuse"]["split"].update(seed=7)) == {"audiofuse": True, "koike": False}
    assert changed(lambda c: c["audiofuse"]["head_retrain"]["training"].update(lr=0.1)) \
        == {"audiofuse": False, "koike": False}
    assert changed(lambda c: c["koike"].update(max_eval_records=10)) == {"audiofuse": False, "koike": True}
    assert changed(lambda c: c["koike"]["training"].update(lr=0.1)) == {"audiofuse": False, "koike": False}


def test_floor_recipe_is_built_only_where_a_floor_runs(params):
    assert layout.dataset_recipes(params, "physionet2016") == ["audiofuse", "koike", "floor_stats"]
    # koike: PASCAL sets are cross-dataset targets of the Koike models
    assert layout.dataset_recipes(params, "pascal") == ["audiofuse", "floor_stats", "koike"]
    assert layout.dataset_recipes(params, "icbhi2017") == ["ast_sam"]
    off = copy.deepcopy(params)
    off["floor"]["papers"] = ["koike"]
    assert layout.dataset_recipes(off, "pascal") == ["audiofuse", "koike"]
    off["cross_dataset"]["models"] = []
    assert layout.dataset_recipes(off, "pascal") == ["audiofuse"]
    off["papers"] = ["audiofuse", "ast_sam"]  # koike's floor needs koike enabled
    assert layout.floor_papers(off) == [] and "floor_stats" not in layout.dataset_recipes(off, "physionet2016")


def test_floor_params_are_closed_and_the_name_is_reserved(params):
    bad = copy.deepcopy(params)
    bad["floor"]["model"]["hgb"]["n_estimators"] = 100
    with pytest.raises(ParamsError, match="floor.model.hgb: unknown key"):
        validate(bad)
    bad = copy.deepcopy(params)
    bad["audiofuse"]["variants"]["floor"] = {}
    with pytest.raises(ParamsError, match="reserved"):
        validate(bad)


# ---------------------------------------------------------------- real data
def test_floor_on_real_physionet_features(mirror_root, tmp_path, params, feat_cfg):
    """The floor as params.yaml configures it, fitted on real features of 800 PhysioNet training
    records, scored on the 301 official test records and on real PASCAL: clearly above chance
    in domain (the full-data figure is in the report)."""
    from auscult import splits
    from auscult.datasets import pascal, physionet2016
    from auscult.features.build import build_feature_cache

    root = mirror_root / "physionet2016"
    manifest = physionet2016.build_manifest(root, hash_audio=False)
    pool = manifest[manifest["official_split"] == "train"]
    subset = pd.concat([splits.subsample(pool, 1000, 0), manifest[manifest["official_split"] == "test"]])
    build_feature_cache(subset, root, tmp_path / "phys", recipe="floor_stats", cfg=feat_cfg, progress=False)
    build_feature_cache(pascal.build_manifest(mirror_root / "pascal", hash_audio=False), mirror_root / "pascal",
                        tmp_path / "pascal", recipe="floor_stats", cfg=feat_cfg, progress=False)
    fp = {**layout.floor_slice(params, "audiofuse"), "max_train_records": 800}
    m = af_floor.run_floor(features=[tmp_path / "phys", tmp_path / "pascal"], floor_params=fp, seed=42,
                           out_dir=tmp_path)
    assert m["physionet_test"]["n"] == 301 and m["pascal_zero_shot"]["n"] == 585
    assert m["train"]["n_train"] == 800 and m["train"]["n_features"] == ffeat.n_features(feat_cfg)
    assert m["physionet_test"]["auc"] > 0.75
