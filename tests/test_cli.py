"""The `auscult` command on a small run built through the library: model cards, predict on
unseen files, the round trip with the evaluation job's predictions, one-line errors."""

from __future__ import annotations

import argparse
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

from auscult import cards, cli
from auscult.papers.audiofuse.train import run_training

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny AudioFuse run (demo model sizes) on 40 synthetic records, evaluated too."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("cli")
    cfg, raw, manifest, feats = demo_feature_cache(tmp, n_records=40, seed=3, n_test=12, duration_s=(5.0, 6.0))
    from auscult import layout

    params = layout.train_slice(cfg, "audiofuse", "cnn_only")
    params["training"] = {**params["training"], "max_epochs": 2}
    out = tmp / "runs" / "cnn_only" / "seed42"
    run_training(feats, params, out, seed=42, progress=False, variant="cnn_only")
    from auscult.papers.audiofuse.evaluate import run_evaluation

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


# --------------------------------------------------------------------------- every input: one line, exit 2


def _run_copy(run, tmp_path) -> Path:
    return Path(shutil.copytree(run["run"], tmp_path / "run"))


def _edit_card(run_dir: Path, edit) -> Path:
    card = json.loads((run_dir / cards.CARD).read_text())
    edit(card)
    (run_dir / cards.CARD).write_text(json.dumps(card))
    return run_dir / cards.CARD


def _new_weights(run_dir: Path, write) -> Path:
    """Replace model.pt and re-pin its card (as if the training run had written it)."""
    pt = run_dir / "model.pt"
    write(pt)
    _edit_card(run_dir, lambda c: c["model"].__setitem__("sha256", cards.file_sha256(pt)))
    return pt


def _feature_copy(run, tmp_path) -> Path:
    return Path(shutil.copytree(run["features"], tmp_path / "features"))


def _labels(run, tmp_path) -> Path:
    test = run["manifest"][run["manifest"]["official_split"] == "test"]
    path = tmp_path / "labels.csv"
    test.rename(columns={"record_id": "record"})[["record", "label"]].to_csv(path, index=False)
    return path


def _evaluate_cache(run, tmp_path, cache, *extra):
    return ["evaluate", str(run["run"]), "--labels", str(_labels(run, tmp_path)), "--features", str(cache),
            "--n-boot", "20", *extra]


def case_pickled_model(run, tmp_path):
    d = _run_copy(run, tmp_path)
    pt = _new_weights(d, lambda p: torch.save(torch.nn.Linear(2, 1), p))  # a whole pickled module
    return None, ["predict", str(d), str(next(run["raw"].rglob("*.flac")))], pt, "pickled Python objects"


def case_truncated_model(run, tmp_path):
    d = _run_copy(run, tmp_path)
    pt = _new_weights(d, lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]))
    return None, ["predict", str(d), str(next(run["raw"].rglob("*.flac")))], pt, "truncated or corrupt"


def case_card_missing_key(run, tmp_path):
    d = _run_copy(run, tmp_path)
    _edit_card(d, lambda c: c["model"].pop("sha256"))
    return ["info", str(d)], None, d / cards.CARD, "lacks model.sha256"


def case_card_wrong_type(run, tmp_path):
    d = _run_copy(run, tmp_path)
    _edit_card(d, lambda c: c["features"].__setitem__("inputs", "wave"))
    return ["info", str(d)], None, d / cards.CARD, "features.inputs must be a list"


def case_card_of_another_version(run, tmp_path):
    d = _run_copy(run, tmp_path)
    _edit_card(d, lambda c: c.update(card_format=3, auscult_version="9.0.0"))
    return ["info", str(d)], None, d / cards.CARD, "written by another auscult version (auscult 9.0.0"


def case_architecture_changed(run, tmp_path):
    d = _run_copy(run, tmp_path)

    def renamed(p):
        state = torch.load(p, weights_only=True)
        first = next(iter(state))
        state[f"old_{first}"] = state.pop(first)  # a layer renamed since the run was trained
        torch.save(state, p)

    pt = _new_weights(d, renamed)
    return None, ["predict", str(d), str(next(run["raw"].rglob("*.flac")))], pt, "weights do not fit"


def case_unknown_architecture(run, tmp_path):
    d = _run_copy(run, tmp_path)
    _edit_card(d, lambda c: c["model"]["config"].__setitem__("arch", "resnet9000"))
    return None, ["predict", str(d), str(next(run["raw"].rglob("*.flac")))], d / cards.CARD, \
        "cannot build the card's model 'resnet9000'"


def case_features_without_index(run, tmp_path):
    cache = _feature_copy(run, tmp_path)
    (cache / "index.csv").unlink()
    return None, _evaluate_cache(run, tmp_path, cache), cache, "no index.csv"


def case_truncated_shard(run, tmp_path):
    cache = _feature_copy(run, tmp_path)
    shard = cache / "wave-000.npy"
    shard.write_bytes(shard.read_bytes()[:5000])
    return None, _evaluate_cache(run, tmp_path, cache), shard, "truncated shard"


def case_row_out_of_range(run, tmp_path):
    cache = _feature_copy(run, tmp_path)
    index = pd.read_csv(cache / "index.csv", dtype=str, keep_default_na=False)
    test = set(run["manifest"].query("official_split == 'test'")["record_id"])
    index.loc[index["record_id"].isin(test).idxmax(), "row"] = "9999"
    index.to_csv(cache / "index.csv", index=False)
    return None, _evaluate_cache(run, tmp_path, cache), cache / "index.csv", "row 9999 of wave-000.npy"


def case_object_shard(run, tmp_path):
    cache = _feature_copy(run, tmp_path)
    shard = cache / "wave-000.npy"
    n = len(np.load(shard, mmap_mode="r"))
    np.save(shard, np.array([{"x": 1}] * n, dtype=object), allow_pickle=True)
    return None, _evaluate_cache(run, tmp_path, cache), shard, "holds object values"


def case_n_boot_zero(run, tmp_path):
    return None, _evaluate_cache(run, tmp_path, run["features"], "--n-boot", "0"), "--n-boot", "at least 2"


def case_output_is_a_folder(run, tmp_path):
    wav = str(next(run["raw"].rglob("*.flac")))
    return (["predict", str(run["run"]), wav, "-o", str(tmp_path)],
            _evaluate_cache(run, tmp_path, run["features"], "-o", str(tmp_path)), tmp_path, "is a folder")


def case_output_folder_missing(run, tmp_path):
    out = tmp_path / "nowhere" / "p.csv"
    return ["predict", str(run["run"]), str(next(run["raw"].rglob("*.flac"))), "-o", str(out)], None, \
        tmp_path / "nowhere", "no such folder"


def case_no_such_run_folder(run, tmp_path):
    d = tmp_path / "runs" / "seed7"
    return ["info", str(d)], ["predict", str(d), str(next(run["raw"].rglob("*.flac")))], d, "no such folder"


def case_card_not_json(run, tmp_path):
    d = _run_copy(run, tmp_path)
    (d / cards.CARD).write_text("{\"paper\": ")
    return ["info", str(d)], None, d / cards.CARD, "not valid JSON"


def case_labels_not_csv(run, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_bytes(b"\xff\xfe\x00\x81 binary")
    args = ["evaluate", str(run["run"]), "--labels", str(labels), "--features", str(run["features"])]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    return args, [*args[:3], str(empty), *args[4:]], tmp_path, "not a readable CSV file"


INPUT_CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(INPUT_CASES))
def test_every_bad_input_is_one_line_and_exit_2(run, tmp_path, capsys, name):
    first, second, named, words = INPUT_CASES[name](run, tmp_path)
    for argv in filter(None, (first, second)):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("auscult: error: "), err
        assert str(named) in err[0] and words in err[0], err[0]
        assert "weights_only=False" not in err[0]


def test_a_bad_input_through_the_console_script_has_no_traceback(run, tmp_path):
    first, _, named, _ = case_card_missing_key(run, tmp_path)
    proc = subprocess.run([str(BIN / "auscult"), *first], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and str(named) in proc.stderr


def test_cards_record_the_auscult_version_and_follow_the_schema(run):
    import auscult

    card = cards.read_card(run["run"])
    assert card["auscult_version"] == auscult.__version__ and cards.schema_problems(card) == []
    assert cards.origin(card) == f"written by auscult {auscult.__version__} at git {card['git_commit'][:12]}"
    old = {k: v for k, v in card.items() if k != "auscult_version"}  # a card from before the field
    assert "did not record its number" in cards.origin(old) and cards.schema_problems(old) == []


def test_a_bug_still_shows_its_traceback(monkeypatch):
    """Only input errors become one line: a bug (here a KeyError in a command) keeps its traceback."""

    def parser():
        p = argparse.ArgumentParser()
        p.set_defaults(fn=lambda args: {}["bug"])
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    with pytest.raises(KeyError):
        cli.main([])
