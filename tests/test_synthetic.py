"""Synthetic demo datasets: real layouts, determinism, atomic writes, a learnable signal."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from auscult.datasets import pascal, physionet2016, synthetic
from auscult.datasets.acquire import verify_sha256sums


def test_physionet_layout(tmp_path):
    root = tmp_path / "physionet2016"
    synthetic.write_physionet2016(root, n_records=21, seed=0, n_test=5, duration_s=(1.0, 1.5))
    assert sorted(p.name for p in root.iterdir()) == [
        "SHA256SUMS",
        "training-a",
        "training-b",
        "validation",
    ]
    for subset, n in (("training-a", 11), ("training-b", 10)):
        folder = root / subset
        rows = list(csv.reader((folder / "REFERENCE.csv").open()))
        assert len(rows) == n and {r[1] for r in rows} <= {"1", "-1"}
        assert (folder / "RECORDS").read_text().split() == [r[0] for r in rows]
        assert rows[0][0] == f"{subset[-1]}0001"
        for record, _ in rows:
            info = sf.info(str(folder / f"{record}.flac"))
            assert (info.samplerate, info.subtype, info.channels) == (2000, "PCM_16", 1)
    validation = list(csv.reader((root / "validation" / "REFERENCE.csv").open()))
    assert len(validation) == 5 and sum(r[1] == "1" for r in validation) == 3
    assert not list((root / "validation").glob("*.flac"))  # as in the mirror: list only
    assert verify_sha256sums(root) == 21 + 2 * 2 + 2


def test_pascal_layout_has_the_kaggle_quirks(tmp_path):
    root = tmp_path / "pascal"
    synthetic.write_pascal(root, n_records=40, seed=0, duration_s=(0.5, 1.0), audio_format="wav")
    rows = {s: list(csv.DictReader((root / f"{s}.csv").open())) for s in ("set_a", "set_b")}
    for subset, table in rows.items():
        assert set(table[0]) == {"dataset", "fname", "label", "sublabel"}
        unlabelled = [r for r in table if not r["label"]]
        assert unlabelled and not any((root / r["fname"]).exists() for r in unlabelled)
        for r in table:
            assert r["fname"].startswith(f"{subset}/") and r["fname"].endswith(".wav")
    labelled_b = [r for r in rows["set_b"] if r["label"]]
    assert all(r["fname"].startswith("set_b/Btraining_") for r in labelled_b)
    assert any("_Btraining_noisy" in r["fname"] for r in labelled_b)
    # the CSV name never is the file name in set B, the normalised one always is
    assert not any((root / r["fname"]).exists() for r in labelled_b)
    assert all((root / pascal.normalise_fname(r["fname"])).exists() for r in labelled_b)
    classes = {s: {r["label"] for r in t if r["label"]} for s, t in rows.items()}
    assert classes["set_a"] <= {"normal", "murmur", "extrahls", "artifact"}
    assert classes["set_b"] <= {"normal", "murmur", "extrastole"}
    assert sf.info(str(next((root / "set_a").iterdir()))).samplerate == 44100
    assert sf.info(str(next((root / "set_b").iterdir()))).samplerate == 4000
    assert verify_sha256sums(root) == 40 + 2


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("physionet2016", {"n_records": 12, "n_test": 4, "duration_s": (1.0, 2.0)}),
        ("pascal", {"n_records": 12, "duration_s": (0.5, 1.0)}),
    ],
)
def test_same_seed_same_bytes(tmp_path, name, kwargs):
    for folder, seed in (("a", 11), ("b", 11), ("c", 12)):
        synthetic.write_dataset(name, tmp_path / folder, seed=seed, **kwargs)
    # SHA256SUMS holds the hash of every other file, so equal sums mean equal bytes.
    sums = {f: (tmp_path / f / "SHA256SUMS").read_text() for f in "abc"}
    assert sums["a"] == sums["b"]
    assert sums["a"] != sums["c"]
    assert verify_sha256sums(tmp_path / "b") == len(sums["a"].splitlines())


def test_manifests_on_synthetic_data(tmp_path):
    synthetic.write_dataset("physionet2016", tmp_path / "p", n_records=50, seed=1, n_test=10)
    synthetic.write_dataset("pascal", tmp_path / "q", n_records=20, seed=1)
    df = physionet2016.build_manifest(tmp_path / "p", hash_audio=False)
    assert len(df) == 50 and df.label.sum() == 15
    test = df[df.official_split == "test"]
    assert len(test) == 10 and test.label.sum() == 5
    assert set(test.record_id).isdisjoint(df[df.official_split == "train"].record_id)
    assert df.duration_s.between(6.0, 12.0).all()
    dq = pascal.build_manifest(tmp_path / "q", hash_audio=False)
    assert len(dq) == 20 and dq.label.sum() == 8
    assert dq.duration_s.between(3.0, 8.0).all()


def test_failed_write_leaves_no_folder(tmp_path, monkeypatch):
    calls = []

    def failing_write(*args):
        calls.append(args)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(*args)

    original = synthetic._write_audio
    monkeypatch.setattr(synthetic, "_write_audio", failing_write)
    with pytest.raises(OSError, match="disk full"):
        synthetic.write_physionet2016(tmp_path / "p", n_records=10, seed=0, n_test=2)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_test=9 cannot be balanced"):
        synthetic.write_physionet2016(tmp_path / "p", n_records=10, seed=0, n_test=9)
    with pytest.raises(ValueError, match="audio_format"):
        synthetic.write_pascal(tmp_path / "q", n_records=10, seed=0, audio_format="mp3")
    with pytest.raises(ValueError, match="no synthetic writer for dataset 'nope'"):
        synthetic.write_dataset("nope", tmp_path / "r")
    with pytest.raises(ValueError, match="n_patients"):
        synthetic.write_dataset("icbhi2017", tmp_path / "r", n_patients=2, seed=0)
    assert list(tmp_path.iterdir()) == []


def _band_energy(x: np.ndarray, sr: int, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / sr)
    return float(spectrum[(freqs >= lo) & (freqs <= hi)].sum() / spectrum.sum())


def test_murmur_adds_systolic_band_energy():
    # Same random stream with and without a murmur: the murmur band gains energy.
    kwargs = {"sr": 2000, "duration_s": 8.0, "noise": 0.01}
    clean = synthetic.heart_sound(np.random.default_rng(4), **kwargs)
    murmur = synthetic.heart_sound(np.random.default_rng(4), murmur=0.3, **kwargs)
    assert clean.shape == murmur.shape == (16000,)
    assert np.abs(clean).max() <= 1 and np.abs(murmur).max() <= 1
    assert _band_energy(murmur, 2000, 150, 500) > 2 * _band_energy(clean, 2000, 150, 500)


def test_heart_rate_shows_in_the_envelope():
    x = synthetic.heart_sound(np.random.default_rng(0), 2000, 20.0, noise=0.0)
    # Count S1/S2 bursts: envelope peaks over 30 % of the maximum, at least 0.15 s apart.
    env = np.convolve(np.abs(x), np.ones(40) / 40, mode="same")
    peaks, last = 0, -1.0
    for i in np.flatnonzero(env > 0.3 * env.max()):
        if i / 2000 - last > 0.15:
            peaks, last = peaks + 1, i / 2000
    beats_per_minute = peaks / 2 * 3  # two sounds per beat, 20 s -> per minute
    assert 45 <= beats_per_minute <= 120
