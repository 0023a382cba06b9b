"""`auscult compare` on predictions.csv files written from simulated scores: the JSON answer,
the paragraph, run folders, protocol choice, the Koike format and one-line errors
(auscult.stats.predictions loads the files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auscult import cli
from auscult.evaluation.metrics import binary_metrics, roc_auc
from auscult.stats.predictions import load_runs
from auscult.stats.simulate import simulate_pair

KEYS = ["metric", "value_a", "value_b", "difference", "ci_low", "ci_high", "p_value", "prob_b_better",
        "n_records", "n_seeds_a", "n_seeds_b", "method"]
N_BOOT = "200"


def _audiofuse(path: Path, runs, k: int, threshold: float, protocols=("physionet_test", "physionet_val")) -> Path:
    """An AudioFuse evaluation predictions.csv: seed k of ``runs`` as the first protocol, other
    recordings (shuffled order) under the others."""
    rng = np.random.default_rng(k)
    frames = []
    for j, name in enumerate(protocols):
        ids = runs.record_ids if j == 0 else np.array([f"v{j}_{i:03d}" for i in range(30)])
        y = runs.labels if j == 0 else rng.integers(0, 2, 30)
        s = runs.scores[k] if j == 0 else rng.random(30)
        order = rng.permutation(len(ids))
        frames.append(pd.DataFrame({"protocol": name, "dataset": "physionet2016", "record_id": ids[order],
                                    "label": y[order], "score": s[order], "threshold": threshold + 0.01 * j}))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_csv(path, index=False)
    return path


def _koike(path: Path, runs, k: int) -> Path:
    dev = pd.DataFrame({"record_id": [f"d{i}" for i in range(20)], "part": "dev", "label": [0, 1] * 10,
                        "score": np.linspace(0, 1, 20)})
    test = pd.DataFrame({"record_id": runs.record_ids, "part": "test", "label": runs.labels,
                         "score": 1 / (1 + np.exp(-runs.scores[k]))})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([dev, test]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def sims():
    rng = np.random.default_rng(42)
    return simulate_pair(rng, n_records=120, delta=0.08, n_seeds=2, seed_sd=0.1)


@pytest.fixture
def files(tmp_path, sims):
    a, b = sims
    return {
        "a": [str(_audiofuse(tmp_path / "a" / f"seed{k}" / "predictions.csv", a, k, 0.1)) for k in range(2)],
        "b": [str(_audiofuse(tmp_path / "b" / f"seed{k}" / "predictions.csv", b, k, 0.2)) for k in range(2)],
    }


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main(["compare", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _error(capsys, *argv) -> str:
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("auscult: error: ") and err.count("\n") == 1, err
    return err


def test_json_two_seeds(capsys, files, sims):
    rc, out, _ = _run(capsys, "--a", *files["a"], "--b", *files["b"], "--json", "--n-boot", N_BOOT)
    assert rc == 0
    res = json.loads(out)
    assert list(res) == KEYS
    assert res["metric"] == "auc" and res["n_records"] == 120 and res["n_seeds_a"] == res["n_seeds_b"] == 2
    assert res["difference"] == pytest.approx(res["value_b"] - res["value_a"], abs=1e-12)
    a, b = sims
    for key, runs in (("value_a", a), ("value_b", b)):
        assert res[key] == pytest.approx(np.mean([roc_auc(runs.labels, s) for s in runs.scores]), abs=1e-12)
    assert res["ci_low"] < res["difference"] < res["ci_high"] and 0 <= res["p_value"] <= 1
    assert "seed spread" in res["method"]


def test_threshold_metric_uses_the_files_threshold(capsys, files, sims):
    rc, out, _ = _run(capsys, "--a", *files["a"], "--b", *files["b"], "--json", "--metric", "uar",
                      "--n-boot", N_BOOT)
    assert rc == 0
    res = json.loads(out)
    a, b = sims
    assert res["metric"] == "uar"
    assert res["value_a"] == pytest.approx(np.mean([binary_metrics(a.labels, s, 0.1)["uar"] for s in a.scores]))
    assert res["value_b"] == pytest.approx(np.mean([binary_metrics(b.labels, s, 0.2)["uar"] for s in b.scores]))
    runs = load_runs(files["a"])
    assert runs.thresholds.tolist() == [0.1, 0.1] and list(runs.record_ids) == sorted(runs.record_ids)


def test_paragraph_one_seed_and_run_folders(capsys, files):
    folder_a, folder_b = Path(files["a"][0]).parent, Path(files["b"][0]).parent
    rc, out, _ = _run(capsys, "--a", str(folder_a), "--b", str(folder_b), "--n-boot", N_BOOT)
    assert rc == 0 and out.count("\n") == 1
    assert "test sampling only" in out and "Minimum detectable effect" in out and "P(B > A)" in out
    assert "physionet_test" in out and "120 recordings" in out
    rc, out2, _ = _run(capsys, "--a", files["a"][0], "--b", files["b"][0], "--n-boot", N_BOOT)
    assert rc == 0 and out2 == out  # folder and file give the same answer
    rc, out, _ = _run(capsys, "--a", files["a"][0], "--b", *files["b"], "--n-boot", N_BOOT)
    assert rc == 0 and "B's seed spread (2 seeds), not A's" in out


def test_protocol_choice(capsys, tmp_path, sims, files):
    a, b = sims
    several = ("pascal_zero_shot", "pascal_head_retrain")
    fa = str(_audiofuse(tmp_path / "pa.csv", a, 0, 0.1, several))
    fb = str(_audiofuse(tmp_path / "pb.csv", b, 0, 0.2, several))
    err = _error(capsys, "--a", fa, "--b", fb)
    assert "pascal_head_retrain, pascal_zero_shot" in err and "--protocol" in err
    rc, out, _ = _run(capsys, "--a", fa, "--b", fb, "--protocol", "pascal_zero_shot", "--json", "--n-boot", N_BOOT)
    assert rc == 0 and json.loads(out)["n_records"] == 120
    rc, out, _ = _run(capsys, "--a", fa, "--b", fb, "--protocol", "pascal_head_retrain", "--json",
                      "--n-boot", N_BOOT)
    assert rc == 0 and json.loads(out)["n_records"] == 30
    err = _error(capsys, "--a", *files["a"], "--b", *files["b"], "--protocol", "pascal_zero_shot")
    assert "no rows with protocol 'pascal_zero_shot'" in err and "physionet_test" in err


def test_koike_files(capsys, tmp_path, sims):
    a, b = sims
    fa = [str(_koike(tmp_path / "ka" / f"seed{k}" / "predictions.csv", a, k)) for k in range(2)]
    fb = [str(_koike(tmp_path / "kb" / f"seed{k}" / "predictions.csv", b, k)) for k in range(2)]
    rc, out, _ = _run(capsys, "--a", *fa, "--b", *fb, "--metric", "uar", "--n-boot", N_BOOT)
    assert rc == 0 and "protocol test" in out and "no threshold column" in out and "0.5" in out
    rc, out, _ = _run(capsys, "--a", *fa, "--b", *fb, "--metric", "uar", "--json", "--n-boot", N_BOOT)
    res = json.loads(out)
    expected = np.mean([binary_metrics(a.labels, 1 / (1 + np.exp(-s)), 0.5)["uar"] for s in a.scores])
    assert res["n_records"] == 120 and res["value_a"] == pytest.approx(expected)
    rc, out, _ = _run(capsys, "--a", *fa, "--b", *fb, "--protocol", "dev", "--json", "--n-boot", N_BOOT)
    assert rc == 0 and json.loads(out)["n_records"] == 20 and json.loads(out)["difference"] == 0


def test_mismatched_records_are_one_line_errors(capsys, tmp_path, sims, files):
    a, b = sims
    df = pd.read_csv(files["b"][1])
    df.loc[df["record_id"] == "r00005", "record_id"] = "zz_other"
    odd = tmp_path / "odd.csv"
    df.to_csv(odd, index=False)
    err = _error(capsys, "--a", *files["a"], "--b", files["b"][0], str(odd))  # between B's seeds
    assert str(odd) in err and "zz_other" in err and "r00005" in err
    err = _error(capsys, "--a", *files["a"], "--b", str(odd))  # between A and B
    assert "different recordings" in err and "zz_other" in err and "r00005" in err
    df = pd.read_csv(files["b"][0])
    df.loc[(df["record_id"] == "r00007") & (df["protocol"] == "physionet_test"), "label"] ^= 1
    df.to_csv(odd, index=False)
    err = _error(capsys, "--a", files["a"][0], "--b", str(odd))
    assert "labels differ" in err and "r00007" in err


def test_bad_inputs_are_one_line_errors(capsys, tmp_path, files):
    empty = tmp_path / "empty_run"
    empty.mkdir()
    assert str(empty) in _error(capsys, "--a", str(empty), "--b", *files["b"])
    assert "no such file" in _error(capsys, "--a", str(tmp_path / "nope.csv"), "--b", *files["b"])
    df = pd.read_csv(files["a"][0])
    pd.concat([df, df.iloc[[0]]]).to_csv(tmp_path / "dup.csv", index=False)
    assert "more than once" in _error(capsys, "--a", str(tmp_path / "dup.csv"), "--b", files["b"][0])
    df.drop(columns="score").to_csv(tmp_path / "noscore.csv", index=False)
    assert "score" in _error(capsys, "--a", str(tmp_path / "noscore.csv"), "--b", files["b"][0])
    assert "given twice" in _error(capsys, "--a", files["a"][0], str(Path(files["a"][0]).parent), "--b",
                                   *files["b"])
    df.assign(label=0.5).to_csv(tmp_path / "half.csv", index=False)
    assert "0 or 1" in _error(capsys, "--a", str(tmp_path / "half.csv"), "--b", files["b"][0])
    assert "--n-boot" in _error(capsys, "--a", *files["a"], "--b", *files["b"], "--n-boot", "1")


def test_identical_models(capsys, files):
    rc, out, _ = _run(capsys, "--a", *files["a"], "--b", *files["a"], "--json", "--n-boot", N_BOOT)
    res = json.loads(out)
    assert rc == 0 and res["difference"] == 0 and res["p_value"] == 1
    rc, out, _ = _run(capsys, "--a", *files["a"], "--b", *files["a"], "--n-boot", N_BOOT)
    assert "identical scores" in out


def test_compare_does_not_import_torch(files):
    code = ("import sys; from auscult import cli; "
            f"rc = cli.main(['compare', '--a', {files['a'][0]!r}, '--b', {files['b'][0]!r}, '--json', "
            "'--n-boot', '50']); "
            "assert rc == 0; assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)) == KEYS
