"""The `auscult` command on a small run built through the library: model cards, predict on
unseen files, the round trip with the evaluation job's predictions, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from auscult import cards, cli
from auscult.datasets import physionet2016, synthetic
from auscult.features.build import build_feature_cache
from auscult.params import load_params
from auscult.training.audiofuse import run_training

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny AudioFuse run (demo model sizes) on 40 synthetic records, evaluated too."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("cli")
    raw = tmp / "raw"
    synthetic.write_physionet2016(raw, n_records=40, seed=3, n_test=12, duration_s=(5.0, 6.0))
    manifest = physionet2016.build_manifest(raw, hash_audio=False)
    cfg = load_params(REPO / "params.yaml", [REPO / "config" / "demo.yaml"])
    feats = tmp / "features" / "audiofuse-0123abcd"
    build_feature_cache(manifest, raw, feats, recipe="audiofuse", cfg=cfg["features"]["audiofuse"],
                        meta={"dataset": "physionet2016", "manifest_sha256": "x" * 64}, progress=False)
    from auscult import layout

    params = layout.train_slice(cfg, "audiofuse", "cnn_only")
    params["training"] = {**params["training"], "max_epochs": 2}
    out = tmp / "runs" / "cnn_only" / "seed42"
    run_training(feats, params, out, seed=42, progress=False, variant="cnn_only")
    from auscult.evaluation.audiofuse import run_evaluation

    ev = {"split": params["split"], "evaluation": cfg["audiofuse"]["evaluation"],
          "head_retrain": cfg["audiofuse"]["head_retrain"]}
    run_evaluation(model_file=out / "model.pt", train_summary=out / "train_summary.json",
                   model_cfg=params["model"], eval_params=ev, train_features=feats, transfer_features=feats,
                   seed=42, out_metrics=tmp / "metrics.json", out_predictions=tmp / "predictions.csv",
                   workdir=tmp / "work")
    return {"run": out, "raw": raw, "manifest": manifest, "features": feats, "tmp": tmp}


def test_every_run_writes_a_card(run):
    card = cards.verify(run["run"])
    assert card["paper"] == "audiofuse" and card["variant"] == "cnn_only" and card["seed"] == 42
    assert card["features"]["recipe"] == "audiofuse" and card["features"]["digest"] == "0123abcd"
    assert card["features"]["inputs"] == ["wave"]
    assert card["decision"]["chosen_on"] == "validation split" and 0 <= card["decision"]["threshold"] <= 1
    assert card["training_data"]["dataset"] == "physionet2016"
    assert {"auc", "sensitivity", "specificity"} <= set(card["validation"])
    # the card's threshold is the one the evaluation job chose on the same validation split
    metrics = json.loads((run["tmp"] / "metrics.json").read_text())
    assert card["decision"]["threshold"] == pytest.approx(metrics["threshold"]["value"])


def test_predict_round_trip_matches_the_evaluation_job(run, tmp_path):
    preds = pd.read_csv(run["tmp"] / "predictions.csv", dtype={"record_id": str})
    test = preds[preds["protocol"] == "physionet_test"].sort_values("record_id")
    paths = {r: run["raw"] / p for r, p in zip(run["manifest"]["record_id"], run["manifest"]["audio_path"],
                                                strict=True)}
    out = tmp_path / "p.csv"
    assert cli.main(["predict", str(run["run"]), *[str(paths[r]) for r in test["record_id"]], "-o", str(out)]) == 0
    got = pd.read_csv(out, dtype={"record": str}).sort_values("record")
    assert list(got.columns) == ["record", "score", "threshold", "predicted"]
    assert got["record"].tolist() == test["record_id"].tolist()
    np.testing.assert_allclose(got["score"].to_numpy(), test["score"].to_numpy(), rtol=1e-5, atol=1e-6)
    assert (got["predicted"] == (got["score"] >= got["threshold"]).astype(int)).all()


def test_predict_on_a_file_the_run_never_saw(run, tmp_path):
    """A 44.1 kHz stereo 24-bit WAV shorter than the recipe's clip, through the console script."""
    rng = np.random.default_rng(0)
    t = np.arange(int(2.5 * 44100)) / 44100
    x = 0.3 * np.sin(2 * np.pi * 60 * t) * (np.sin(2 * np.pi * 1.2 * t) > 0.6) + 0.01 * rng.standard_normal(len(t))
    wav = tmp_path / "new_patient.wav"
    sf.write(wav, np.stack([x, x], 1), 44100, subtype="PCM_24")
    out = tmp_path / "out.csv"
    proc = subprocess.run([str(BIN / "auscult"), "predict", str(run["run"]), str(wav), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(out)
    assert got["record"].tolist() == ["new_patient"] and 0 <= got["score"].iloc[0] <= 1


def test_evaluate_from_audio_and_from_cache_agree(run, tmp_path):
    test = run["manifest"][run["manifest"]["official_split"] == "test"]
    audio = tmp_path / "audio"
    audio.mkdir()
    for p in test["audio_path"]:
        shutil.copy(run["raw"] / p, audio / Path(p).name)
    labels = tmp_path / "labels.csv"
    test.rename(columns={"record_id": "record"})[["record", "label"]].to_csv(labels, index=False)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli.main(["evaluate", str(run["run"]), "--labels", str(labels), "--audio", str(audio), "-o", str(a),
                     "--n-boot", "50"]) == 0
    assert cli.main(["evaluate", str(run["run"]), "--labels", str(labels), "--features", str(run["features"]),
                     "-o", str(b), "--n-boot", "50"]) == 0
    ma, mb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ma["n"] == len(test) and ma["metrics"]["auc"] == pytest.approx(mb["metrics"]["auc"], abs=1e-6)
    lo, hi = ma["ci95"]["auc"]
    assert lo <= ma["metrics"]["auc"] <= hi


def test_one_line_errors(run, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert cli.main(["predict", str(run["run"]), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("auscult: error:") and "bad.wav" in err[0]
    # a run whose weights were swapped after training is refused
    tampered = tmp_path / "run"
    shutil.copytree(run["run"], tampered)
    with open(tampered / "model.pt", "ab") as f:
        f.write(b"\0")
    assert cli.main(["info", str(tampered)]) == 2
    assert "does not match its card" in capsys.readouterr().err
    labels = tmp_path / "l.csv"
    labels.write_text("record,label\na0001,2\n")
    assert cli.main(["evaluate", str(run["run"]), "--labels", str(labels), "--audio", str(tmp_path)]) == 2
    assert "label must be 0 or 1" in capsys.readouterr().err


def test_info_prints_the_card(run, capsys):
    assert cli.main(["info", str(run["run"])]) == 0
    text = capsys.readouterr().out
    assert "audiofuse / cnn_only" in text and "chosen on validation split" in text


def test_every_rule_has_its_validation_threshold(run, tmp_path):
    card = cards.read_card(run["run"])
    assert set(card["decision"]["thresholds"]) == {"youden", "max_mcc", "max_f1", "fixed_0.5"}
    assert card["decision"]["thresholds"]["fixed_0.5"] == 0.5
    wav = next(iter(sorted(run["raw"].rglob("*.flac"))))
    out = tmp_path / "o.csv"
    assert cli.main(["predict", str(run["run"]), str(wav), "--threshold-rule", "fixed_0.5", "-o", str(out)]) == 0
    assert pd.read_csv(out)["threshold"].tolist() == [0.5]
