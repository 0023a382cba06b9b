"""A release a reviewer can pick up: model cards of format 2 (data, budget, software, intended
use, limitations, licence, test metrics), the Hugging Face-style README.md, `auscult export`
(safetensors) and predict on the export, the Python API `auscult.load_run(path).predict`,
`--version`, `--device`, `--skip-bad`, the shared label parser, and predict on an ICBHI AST
model (four class scores)."""

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
from scratch import demo_feature_cache

import auscult
from auscult import cards, cli

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A tiny AudioFuse run trained as the demo's training job would (release context of
    config/demo.yaml), laid out as the workflow does, and its evaluation's result folder."""
    from auscult.papers.audiofuse.evaluate import run_evaluation
    from auscult.papers.audiofuse.train import run_training

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("release")
    cfg, raw, manifest, feats = demo_feature_cache(tmp, n_records=28, seed=5, n_test=8, duration_s=(5.0, 5.5))
    from auscult import layout

    params = layout.train_slice(cfg, "audiofuse", "cnn_only")
    params["training"] = {**params["training"], "max_epochs": 1}
    out = tmp / "runs" / "audiofuse" / "cnn_only" / "aaaa1111" / "seed42"
    context = cards.release_context(cfg, "audiofuse", "cnn_only")
    run_training(feats, params, out, seed=42, progress=False, variant="cnn_only", card_context=context)
    result = tmp / "results" / "audiofuse" / "cnn_only" / "bbbb2222" / "seed42"
    ev = {"split": params["split"], "evaluation": cfg["audiofuse"]["evaluation"],
          "head_retrain": {**cfg["audiofuse"]["head_retrain"],
                           "training": {**cfg["audiofuse"]["head_retrain"]["training"], "max_epochs": 1}}}
    result.mkdir(parents=True)
    run_evaluation(model_file=out / "model.pt", train_summary=out / "train_summary.json",
                   model_cfg=params["model"], eval_params=ev, train_features=feats, transfer_features=feats,
                   seed=42, out_metrics=result / "metrics.json", out_predictions=result / "predictions.csv",
                   workdir=tmp / "work")
    flacs = sorted(raw.rglob("*.flac"))
    return {"run": out, "result": result, "raw": raw, "manifest": manifest, "features": feats, "tmp": tmp,
            "cfg": cfg, "flacs": flacs}


# --------------------------------------------------------------------------- the card
def test_a_demo_card_says_synthetic_demo_and_what_the_model_is_not(demo_run):
    card = cards.verify(demo_run["run"])
    assert card["card_format"] == 2 and cards.missing_release_fields(card) == []
    data = card["data"]
    assert data["kind"] == "synthetic" and data["source"] == "synthetic" and data["dataset"] == "physionet2016"
    assert data["n_recordings"] == data["n_synthetic"] == len(demo_run["manifest"])
    assert data["generator"] == demo_run["cfg"]["datasets"]["physionet2016"]["synthetic"]
    assert data["n_train"] + data["n_val"] + data["n_test"] == len(demo_run["manifest"])
    assert card["budget"]["name"] == "demo" and card["budget"]["max_epochs"] == 16
    assert card["budget"]["epochs_run"] == 1 and card["budget"]["seeds"] == [42, 43]
    assert card["software"]["torch"] == torch.__version__ and card["software"]["auscult"] == auscult.__version__
    assert card["software"]["distribution"] == "auscult-repro"
    assert "Not a medical device" in card["intended_use"] and "Research only" in card["intended_use"]
    text = " ".join(card["limitations"])
    assert "Pipeline check at budget demo, not a reproduction" in text and "Synthetic data" in text
    assert card["licence"]["model"] == "MIT" and card["licence"]["initial_weights"] is None
    assert {"auc", "sensitivity", "n"} <= set(card["validation"])


def test_info_prints_every_release_field(demo_run, capsys):
    assert cli.main(["info", str(demo_run["run"])]) == 0
    out = capsys.readouterr().out
    assert "data            : synthetic (physionet2016" in out and "budget          : demo" in out
    assert "not a medical device" in out.lower() and f"torch {torch.__version__}" in out
    assert "licence         : MIT" in out and "limitation      : Pipeline check at budget demo" in out
    # the one result folder of the workflow layout that evaluated this run: its test metrics
    assert "test            : physionet_test: auc" in out and "threshold" in out


def test_test_metrics_come_from_the_evaluation_of_this_run(demo_run, tmp_path):
    card = cards.with_test(cards.verify(demo_run["run"]), demo_run["run"], demo_run["result"])
    metrics = json.loads((demo_run["result"] / "metrics.json").read_text())
    test = card["test"]["protocols"]["physionet_test"]
    assert test == metrics["physionet_test"] and test["n"] == 8
    assert test["threshold"] == pytest.approx(metrics["threshold"]["value"])
    assert card["test"]["metrics_sha256"] == cards.file_sha256(demo_run["result"] / "metrics.json")
    assert "pascal_zero_shot" in card["test"]["protocols"] and "physionet_val" not in card["test"]["protocols"]
    assert any("PASCAL test numbers" in x for x in card["limitations"])
    # auto-discovery in the workflow layout finds exactly that folder
    assert cards.find_results(demo_run["run"]) == [demo_run["result"].resolve()]
    # the metrics of an evaluation of another training run are refused
    other = Path(shutil.copytree(demo_run["result"], tmp_path / "other"))
    metrics["train"]["best_epoch"] = 99
    (other / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(cards.CardError, match="evaluated another training run"):
        cards.with_test(card, demo_run["run"], other)
    assert cli.main(["info", str(demo_run["run"]), "--results", str(other)]) == 2
    with pytest.raises(cards.CardError, match="no metrics.json"):
        cards.test_section(demo_run["run"], tmp_path)


def test_a_format_1_card_still_loads_and_says_what_it_lacks(demo_run, tmp_path, capsys):
    d = Path(shutil.copytree(demo_run["run"], tmp_path / "run"))
    card = json.loads((d / cards.CARD).read_text())
    old = {k: v for k, v in card.items() if k not in cards.RELEASE_FIELDS} | {"card_format": 1}
    (d / cards.CARD).write_text(json.dumps(old))
    assert cards.read_card(d)["card_format"] == 1
    assert cards.missing_release_fields(old) == list(cards.RELEASE_FIELDS)
    assert cli.main(["info", str(d)]) == 0
    out = capsys.readouterr().out
    assert "written before the release fields" in out and "lacks data, budget" in out
    assert "# " in cards.render_readme(old) and "written before the release fields" in cards.render_readme(old)
    old["card_format"] = 3  # a future format is refused, naming the ones this auscult reads
    (d / cards.CARD).write_text(json.dumps(old))
    with pytest.raises(cards.CardError, match="reads formats 1, 2"):
        cards.read_card(d)
    # a release field of the wrong type is a schema problem
    assert cards.schema_problems({**card, "limitations": "none"}) == ["limitations must be a list, got \"none\""]


def test_licence_follows_the_initial_weights_and_the_data():
    wsl = cards.licence_section({"weights": "pretrained", "weights_name": "resnext101_32x8d_wsl"},
                                {"kind": "real", "dataset": "physionet2016"})
    assert wsl["initial_weights"] == "CC-BY-NC-4.0"
    assert wsl["model"] == "CC-BY-NC-4.0 plus the terms of the training data (physionet2016)"
    scratch = cards.licence_section({"weights": "scratch"}, {"kind": "real", "dataset": "icbhi2017"})
    assert scratch["model"].startswith("MIT plus") and scratch["data"] == "see the dataset's terms (icbhi2017)"
    assert cards.licence_section({"weights": "scratch"}, {"kind": "synthetic"})["model"] == "MIT"


def test_data_kind_of_real_and_partly_synthetic_icbhi(tmp_path):
    feats = {"dataset": "icbhi2017", "manifest_sha256": "z" * 64}
    raw = tmp_path / "raw"
    raw.mkdir()
    ctx = {"source": "canonical", "missing_audio": "synthesise", "raw_dir": str(raw), "dataset": "icbhi2017"}
    unknown = cards.data_section(ctx, feats, {})
    assert unknown["kind"] == "unknown" and "ACQUIRED.json" in unknown["note"]
    (raw / "ACQUIRED.json").write_text(json.dumps({"source": "mirror", "synthesised_audio": {
        "synthesised": 7, "recordings": 920, "real": 913}}))
    partly = cards.data_section(ctx, feats, {})
    assert partly["kind"] == "synthetic audio on real annotations" and partly["n_synthetic"] == 7
    (raw / "ACQUIRED.json").write_text(json.dumps({"source": "mirror"}))
    assert cards.data_section(ctx, feats, {"n_train": 3})["kind"] == "real"
    assert cards.data_section(ctx, feats, {"n_train": 3})["n_train"] == 3
    text = " ".join(cards.limitations({"data": partly, "seed": 1, "budget": {"name": "paper"}}))
    assert "7 recording(s) have synthetic audio" in text


def test_limitations_of_a_real_paper_budget_scratch_koike_run():
    card = {"paper": "koike", "seed": 1, "budget": {"name": "paper"},
            "data": {"kind": "real", "dataset": "physionet2016"},
            "weights": {"weights": "scratch", "weights_reason": "checkpoint not found"},
            "validation": {"tp": 0, "fp": 0, "tn": 10, "fn": 5}, "decision": {"kind": "binary"}}
    text = " ".join(cards.limitations(card))
    assert "not a reproduction" not in text and "Synthetic" not in text
    assert "split by recording" in text and "reconstructed" in text
    assert "pretrained weights (checkpoint not found)" in text and "Degenerate" in text
    assert "One training seed (1)" in text


def test_a_koike_card_holds_its_test_part_beside_validation(tmp_path):
    from auscult.evaluation.metrics import binary_metrics
    from auscult.features.store import write_store
    from auscult.papers.koike.train import run_training

    rng = np.random.default_rng(0)
    n = 50
    y = (np.arange(n) % 4 == 0).astype(int)
    index = pd.DataFrame({"record_id": [f"r{i:03d}" for i in range(n)], "label": y, "patient_id": ""})
    logmel = rng.normal(size=(n, 32, 40)).astype(np.float32)
    logmel[y == 1, :8] += 1.5
    feats = tmp_path / "koike-12345678"
    write_store(feats, index, [{"logmel": logmel}], {"recipe": "koike"})
    params = {
        "model": {"arch": "imagenet", "name": "mobilenet_v2", "input": "logmel", "input_norm": "batchnorm",
                  "dropout": 0.2},
        "training": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 16, "max_epochs": 1,
                     "patience": 2, "monitor": "val_uar", "lr_plateau": {"factor": 0.5, "patience": 1, "min_lr": 0},
                     "class_balance": "sampler", "amp": False, "trainable": "all", "bn_recalibrate_batches": 0},
        "split": {"ratios": [3, 1, 1], "seed": 42}, "max_train_records": None, "max_eval_records": None,
        "weights": "scratch",
    }
    run_training(feats, params, tmp_path / "run", seed=1, progress=False, variant="mobilenet_v2_logmel")
    card = cards.verify(tmp_path / "run")
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv")
    test = preds[preds["part"] == "test"]
    got = card["test"]["protocols"]["test"]
    assert got["n"] == len(test) == 10 and got["threshold"] == 0.5
    assert got["auc"] == pytest.approx(binary_metrics(test["label"], test["score"], 0.5)["auc"])
    assert card["test"]["evaluated_by"].startswith("training job")
    # a library run without the workflow's context says so rather than guessing
    assert card["data"]["kind"] == "unknown" and card["budget"]["name"] is None
    assert any("pretrained weights" in x for x in card["limitations"])


# --------------------------------------------------------------------------- README.md, export
def test_readme_is_a_hugging_face_model_card(demo_run):
    from huggingface_hub import ModelCard

    card = cards.with_test(cards.verify(demo_run["run"]), demo_run["run"], demo_run["result"])
    text = cards.render_readme(card)
    hf = ModelCard(text)
    assert hf.data.license == "mit" and hf.data.library_name == "auscult"
    assert {"synthetic-data", "budget-demo", "not-a-medical-device"} <= set(hf.data.tags)
    body = hf.text
    assert body.index("## Intended use") < body.index("## Model") < body.index("## Limitations")
    assert "Not a medical device" in body and "| test | physionet_test | 8 |" in body


def test_export_then_predict_reads_the_exported_folder(demo_run, tmp_path, capsys):
    from safetensors.torch import load_file

    dest = tmp_path / "release"
    assert cli.main(["export", str(demo_run["run"]), str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "model.safetensors", "model_card.json"]
    card = cards.verify(dest)
    assert card["model"]["file"] == "model.safetensors" and card["exported_from"]["file"] == "model.pt"
    assert "physionet_test" in card["test"]["protocols"]  # merged from the result folder
    original = torch.load(demo_run["run"] / "model.pt", weights_only=True)
    exported = load_file(dest / "model.safetensors")
    assert original.keys() == exported.keys() and all(torch.equal(original[k], exported[k]) for k in original)
    wavs = [str(p) for p in demo_run["flacs"][:3]]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cli.main(["predict", str(demo_run["run"]), *wavs, "-o", str(a)]) == 0
    assert cli.main(["predict", str(dest), *wavs, "-o", str(b)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))
    assert cli.main(["info", str(dest)]) == 0 and "model.safetensors" in capsys.readouterr().out
    # a non-empty destination is refused unless --force; a tampered export is refused
    assert cli.main(["export", str(demo_run["run"]), str(dest)]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main(["export", str(demo_run["run"]), str(dest), "--force"]) == 0
    with open(dest / "model.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\0\0\0")
    assert cli.main(["predict", str(dest), wavs[0]]) == 2
    assert "does not match its card" in capsys.readouterr().err


def test_a_corrupt_safetensors_file_is_one_line(demo_run, tmp_path, capsys):
    dest = cli.export_run(demo_run["run"], tmp_path / "x")
    (dest / "model.safetensors").write_bytes(b"not safetensors at all")
    card = json.loads((dest / cards.CARD).read_text())
    card["model"]["sha256"] = cards.file_sha256(dest / "model.safetensors")
    (dest / cards.CARD).write_text(json.dumps(card))
    assert cli.main(["predict", str(dest), str(demo_run["flacs"][0])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.safetensors: not a readable safetensors file" in err[0]


# --------------------------------------------------------------------------- Python API, options
def test_import_auscult_does_not_import_torch_and_load_run_is_lazy():
    code = ("import sys, auscult; assert 'torch' not in sys.modules; f = auscult.load_run; "
            "assert 'torch' not in sys.modules; print(f.__module__, auscult.__version__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["auscult.api", auscult.__version__]
    assert "load_run" in dir(auscult)
    with pytest.raises(AttributeError):
        auscult.no_such_thing  # noqa: B018


def test_python_api_predicts_as_the_command_does(demo_run, tmp_path):
    run = auscult.load_run(demo_run["run"], device="cpu")
    assert run.kind == "binary" and run.classes == ["normal", "abnormal"] and run.device == "cpu"
    files = demo_run["flacs"][:4]
    got = run.predict(files)
    out = tmp_path / "p.csv"
    assert cli.main(["predict", str(demo_run["run"]), *map(str, files), "-o", str(out), "--device", "cpu"]) == 0
    want = pd.read_csv(out)
    assert list(got.columns) == ["record", "score", "threshold", "predicted"]
    np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=1e-6)
    assert got["predicted"].tolist() == want["predicted"].tolist()
    assert len(run.predict(files[0])) == 1  # one path as such
    with pytest.raises(cli.UsageError, match="no such file"):
        run.predict([tmp_path / "missing.wav"])


def test_version_option(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"auscult {auscult.__version__} (distribution auscult-repro)"


def test_device_option(demo_run, tmp_path, capsys):
    flac = str(demo_run["flacs"][0])
    assert cli.main(["predict", str(demo_run["run"]), flac, "--device", "cpu"]) == 0
    capsys.readouterr()
    if not torch.cuda.is_available():
        assert cli.main(["predict", str(demo_run["run"]), flac, "--device", "cuda"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--device cuda: torch sees no CUDA device" in err[0]
        assert auscult.load_run(demo_run["run"]).device == "cpu"  # auto
    with pytest.raises(SystemExit):
        cli.main(["predict", str(demo_run["run"]), flac, "--device", "tpu"])


def test_skip_bad_gives_an_error_column_instead_of_stopping(demo_run, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    missing = tmp_path / "gone.flac"
    good = demo_run["flacs"][:2]
    args = ["predict", str(demo_run["run"]), str(good[0]), str(bad), str(missing), str(good[1])]
    assert cli.main(args) == 2  # without --skip-bad a missing file stops the command before any work
    assert "gone.flac: no such file" in capsys.readouterr().err
    assert cli.main([a for a in args if a != str(missing)]) == 2  # and a bad one stops the batch
    assert "broken.wav" in capsys.readouterr().err
    out = tmp_path / "p.csv"
    assert cli.main([*args, "--skip-bad", "-o", str(out)]) == 0
    assert "2 of 4 recording(s) could not be scored" in capsys.readouterr().err
    df = pd.read_csv(out, keep_default_na=False)
    assert df["record"].tolist() == [good[0].stem, "broken", "gone", good[1].stem]
    assert list(df.columns) == ["record", "score", "threshold", "predicted", "error"]
    assert df["error"][0] == "" and df["error"][3] == "" and df["score"][0] != ""
    assert "broken.wav" in df["error"][1] and "gone.flac" in df["error"][2]
    assert df["score"][1] == "" and df["predicted"][2] == ""
    # the good recordings score as they do alone
    alone = auscult.load_run(demo_run["run"]).predict(good)
    np.testing.assert_allclose(df["score"][[0, 3]].astype(float).to_numpy(), alone["score"].to_numpy())


def test_evaluate_takes_the_folder_datasets_label_words(demo_run, tmp_path):
    from auscult.datasets.folder import parse_label

    test = demo_run["manifest"][demo_run["manifest"]["official_split"] == "test"]
    numeric, words = tmp_path / "numeric.csv", tmp_path / "words.csv"
    pd.DataFrame({"record": test["record_id"], "label": test["label"]}).to_csv(numeric, index=False)
    word = ["Abnormal" if y else ("-1" if i % 2 else "normal") for i, y in enumerate(test["label"])]
    pd.DataFrame({"record": test["record_id"], "label": word}).to_csv(words, index=False)
    assert [parse_label(w) for w in word] == test["label"].tolist()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for labels, out in ((numeric, a), (words, b)):
        assert cli.main(["evaluate", str(demo_run["run"]), "--labels", str(labels), "--features",
                         str(demo_run["features"]), "--n-boot", "20", "-o", str(out), "--device", "cpu"]) == 0
    ma, mb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ma["metrics"] == mb["metrics"] and ma["n_abnormal"] == int(test["label"].sum())


# --------------------------------------------------------------------------- ICBHI AST model
AST_FEATURES = {"sample_rate": 16000, "clip_seconds": 8.0, "pad_mode": "repeat", "num_mel_bins": 128,
                "frame_shift_ms": 10.0, "norm_mean": -4.2677393, "norm_std": 4.5689974,
                "store_dtype": "float32", "shard_size": 4}
AST_TINY = {"arch": "ast", "hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
            "patch_size": 16, "fstride": 10, "tstride": 10, "max_length": 798, "num_mel_bins": 128,
            "dropout": 0.0, "head_dropout": 0.3, "pooling": "mean", "n_classes": 4, "pretrained": True}


@pytest.fixture(scope="module")
def ast_run(tmp_path_factory):
    """An AST run folder as the ast_sam training job writes it (random weights: the card asks
    for pretrained ones, which predict must never fetch)."""
    from auscult.datasets.icbhi2017 import CLASSES
    from auscult.models import build_model

    tmp = tmp_path_factory.mktemp("ast")
    feats = tmp / "features" / "ast_sam-89abcdef"
    feats.mkdir(parents=True)
    (feats / "meta.json").write_text(json.dumps({"recipe": "ast_sam", "params": AST_FEATURES,
                                                 "dataset": "icbhi2017", "manifest_sha256": "y" * 64}))
    run = tmp / "run"
    run.mkdir()
    torch.manual_seed(0)
    model = build_model({**AST_TINY, "pretrained": False})
    torch.save(model.state_dict(), run / "model.pt")
    cards.write_card(run, cards.build_card(
        paper="ast_sam", variant="ast_sam", seed=1, model_cfg=AST_TINY, run_dir=run, features_dir=feats,
        inputs=list(model.inputs), training={"n_train": 10, "n_val": 4, "epochs_run": 1},
        decision={"kind": "multiclass", "classes": list(CLASSES), "rule": "argmax of the logits",
                  "threshold": None, "chosen_on": "validation split (checkpoint: clean protocol)"},
        validation={"score_exact": 0.5}))
    rng = np.random.default_rng(0)
    wavs = []
    for i, seconds in enumerate((2.5, 9.0)):
        path = tmp / f"cycle{i}.wav"
        sf.write(path, 0.1 * rng.standard_normal(int(seconds * 4000)), 4000)
        wavs.append(path)
    return {"run": run, "model": model, "wavs": wavs}


def test_predict_on_an_ast_model_gives_four_class_scores(ast_run, tmp_path, capsys, monkeypatch):
    from auscult.models import weights
    from auscult.papers.ast_sam.features import extract_cycles

    # never fetch the pretrained checkpoint the card's config names (the weights are the run's)
    monkeypatch.setattr(weights, "resolve_weights", lambda *a, **k: pytest.fail("tried to resolve weights"))
    out = tmp_path / "p.csv"
    assert cli.main(["predict", str(ast_run["run"]), *map(str, ast_run["wavs"]), "-o", str(out),
                     "--device", "cpu"]) == 0
    df = pd.read_csv(out)
    classes = ["normal", "crackle", "wheeze", "both"]
    assert list(df.columns) == ["record", *[f"score_{c}" for c in classes], "predicted"]
    scores = df[[f"score_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(scores.sum(1), 1.0, rtol=1e-9)
    # the scores are the softmax of the model's logits on the file taken as one cycle
    import soundfile

    x = np.stack([extract_cycles(str(w), [(0.0, soundfile.info(str(w)).duration)], AST_FEATURES)[0]["fbank"]
                  for w in ast_run["wavs"]])
    with torch.no_grad():
        logits = ast_run["model"].eval()({"fbank": torch.from_numpy(x)}).double()
    np.testing.assert_allclose(scores, torch.softmax(logits, 1).numpy(), rtol=1e-4, atol=1e-6)
    assert df["predicted"].tolist() == [classes[i] for i in scores.argmax(1)]
    assert cli.main(["info", str(ast_run["run"])]) == 0
    info = capsys.readouterr().out
    assert "threshold None" not in info and "no threshold, 4-class argmax over normal, crackle" in info
    assert cli.main(["predict", str(ast_run["run"]), str(ast_run["wavs"][0]), "--threshold-rule", "youden"]) == 2
    assert "has no threshold" in capsys.readouterr().err
    # evaluate stays binary: a one-line refusal naming why
    labels = tmp_path / "l.csv"
    labels.write_text("record,label\ncycle0,1\n")
    assert cli.main(["evaluate", str(ast_run["run"]), "--labels", str(labels), "--audio",
                     str(ast_run["wavs"][0].parent)]) == 2
    assert "a multiclass model; this command takes binary heart-sound models" in capsys.readouterr().err


def test_an_ast_model_exports_and_predicts_the_same(ast_run, tmp_path):
    dest = cli.export_run(ast_run["run"], tmp_path / "ast-release")
    a = auscult.load_run(ast_run["run"]).predict(ast_run["wavs"])
    b = auscult.load_run(dest).predict(ast_run["wavs"])
    pd.testing.assert_frame_equal(a, b)
    readme = (dest / "README.md").read_text()
    assert "no threshold, 4-class argmax" in readme and "lung-sound" in readme
