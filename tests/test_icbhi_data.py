"""ICBHI 2017: per-cycle manifest, official split, file-name aliases, synthetic audio."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from auscult.datasets import get_dataset, icbhi2017, synthetic, synthetic_icbhi
from auscult.datasets.acquire import verify_sha256sums
from auscult.datasets.manifest import MANIFEST_COLUMNS, ManifestError
from auscult.datasets.source import acquire_or_synthesise

EXTRA = ["recording", "device", "location", "diagnosis", "cycle_index", "cycle_start", "cycle_end"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("icbhi") / "demo"
    synthetic.write_dataset("icbhi2017", root, n_patients=6, seed=3)
    return root


def test_registered():
    assert get_dataset("icbhi2017") is icbhi2017
    urls = [s["url"] for s in icbhi2017.SOURCES]
    assert urls[0].endswith("ICBHI_final_database/ICBHI_final_database.zip")
    assert any(u.endswith("ICBHI_challenge_train_test.txt") for u in urls)
    assert any(u.endswith("ICBHI_Challenge_diagnosis.txt") for u in urls)


def test_mirror_official_split_and_counts(mirror_root):
    cycles = icbhi2017.cycle_table(mirror_root / "icbhi2017")
    assert len(cycles) == 6898
    assert cycles.groupby("official_split")["recording"].nunique().to_dict() == {"train": 539, "test": 381}
    assert icbhi2017.class_counts(cycles) == {"normal": 3642, "crackle": 1864, "wheeze": 886, "both": 506}
    train = cycles[cycles["official_split"] == "train"]
    test = cycles[cycles["official_split"] == "test"]
    assert np.bincount(train["label"]).tolist() == [2063, 1215, 501, 363]
    assert np.bincount(test["label"]).tolist() == [1579, 649, 385, 143]
    assert not set(train["recording"]) & set(test["recording"])
    # The official split is by recording, not patient: exactly these two patients straddle it.
    assert sorted(set(train["patient_id"]) & set(test["patient_id"])) == ["156", "218"]
    assert cycles["record_id"].is_unique
    # T6 states the split from the manifest it read, never a typed-in count
    from auscult.papers.ast_sam.tables import split_note

    note = split_note(cycles)
    assert "539 train / 381 test recordings (6898 cycles)" in note and note.endswith("156, 218.")


def test_mirror_aliases_map_old_names_to_meditron(mirror_root):
    aliases = icbhi2017.read_aliases(mirror_root / "icbhi2017")
    assert len(aliases) == 91
    assert aliases["101_1b1_Al_sc_Meditron"] == "101_1b1_Al_sc_AKGC417L"
    split = icbhi2017.read_split(mirror_root / "icbhi2017")
    assert set(aliases) <= set(split) and not set(aliases.values()) & set(split)


def test_mirror_without_audio_is_a_clear_error(mirror_root):
    with pytest.raises(ManifestError, match=r"no audio file 101_1b2_|no audio file 10[5-9]"):
        icbhi2017.build_manifest(mirror_root / "icbhi2017", hash_audio=False)


def test_demo_manifest_columns_and_split(demo):
    df = icbhi2017.build_manifest(demo)
    assert list(df.columns) == MANIFEST_COLUMNS + EXTRA
    assert df["record_id"].is_unique
    assert set(df["label"]) <= {0, 1, 2, 3}
    assert (df["original_class"] == df["label"].map(dict(enumerate(icbhi2017.CLASSES)))).all()
    assert set(df["official_split"]) == {"train", "test"}
    tr, te = (set(df.loc[df["official_split"] == s, "recording"]) for s in ("train", "test"))
    assert not tr & te
    assert len(set(df.loc[df["official_split"] == "train", "patient_id"])
               & set(df.loc[df["official_split"] == "test", "patient_id"])) == 1
    assert {16, 24, 32} <= set(df["bit_depth"]) or set(df["sample_rate"]) >= {4000, 44100}
    assert (df["cycle_end"] <= df["duration_s"] + 1e-6).all()
    assert verify_sha256sums(demo) > 0
    # Every cycle row of a recording repeats the recording's audio columns.
    assert (df.groupby("recording")["sha256"].nunique() == 1).all()


def test_demo_old_name_resolves_through_filename_differences(demo):
    old = [line.strip().strip("'") for line in (demo / "filename_differences.txt").read_text().splitlines()]
    if not old:
        pytest.skip("this demo seed has no Meditron recording")
    assert (demo / "ICBHI_final_database" / f"{old[0]}.wav").is_file()
    new = old[0][: -len("AKGC417L")] + "Meditron"
    df = icbhi2017.build_manifest(demo, hash_audio=False)
    assert new in set(df["recording"])
    assert df.loc[df["recording"] == new, "audio_path"].iloc[0].endswith(f"{old[0]}.wav")


def test_demo_is_deterministic(tmp_path, demo):
    synthetic.write_dataset("icbhi2017", tmp_path / "again", n_patients=6, seed=3)
    assert (tmp_path / "again" / "SHA256SUMS").read_bytes() == (demo / "SHA256SUMS").read_bytes()


def test_reads_all_bit_depths(tmp_path):
    x = np.sin(np.linspace(0, 20, 400)) * 0.5
    for depth in (16, 24, 32):
        path = tmp_path / f"r{depth}.wav"
        synthetic_icbhi.write_audio(path, x, 4000, depth)
        y, sr = sf.read(str(path))
        assert sr == 4000 and sf.info(str(path)).subtype == f"PCM_{depth}"
        assert np.abs(y - x).max() < 2.0 / 2**15


def _annotation_only_copy(src, dst, keep_audio: int):
    """A mirror-like folder: all annotation files, only ``keep_audio`` recordings' audio."""
    (dst / "annotations").mkdir(parents=True)
    (dst / "audio").mkdir()
    for name in (icbhi2017.SPLIT_FILE, icbhi2017.DIAGNOSIS_FILE, icbhi2017.DIFFERENCES_FILE):
        shutil.copy(src / name, dst / name)
    for i, txt in enumerate(sorted((src / "ICBHI_final_database").glob("*.txt"))):
        shutil.copy(txt, dst / "annotations" / txt.name)
        if i < keep_audio:
            shutil.copy(txt.with_suffix(".wav"), dst / "audio" / txt.with_suffix(".wav").name)


def test_fill_missing_audio_places_cycles_and_records_it(tmp_path, demo):
    root = tmp_path / "partial"
    _annotation_only_copy(demo, root, keep_audio=2)
    with pytest.raises(ManifestError, match="no audio file"):
        icbhi2017.build_manifest(root, hash_audio=False)
    fill = {"seed": 0, "sample_rate": 4000, "bit_depth": 16, "audio_format": "wav"}
    summary = synthetic_icbhi.fill_missing_audio(root, **fill)
    n = len(icbhi2017.read_split(root))
    assert summary == {"synthesised": n - 2, "recordings": n, "real": 2, "generator_version": 1}
    df = icbhi2017.build_manifest(root, hash_audio=False)
    assert df["recording"].nunique() == n
    synthesised = set(synthetic_icbhi.read_synthesised(root))
    fake = df[df["recording"].isin(synthesised)]
    assert (fake["sample_rate"] == 4000).all() and (fake["cycle_end"] < fake["duration_s"]).all()
    # Idempotent and deterministic: a second call changes nothing.
    before = (root / "SHA256SUMS").read_bytes()
    assert synthetic_icbhi.fill_missing_audio(root, **fill) == summary
    assert (root / "SHA256SUMS").read_bytes() == before


def test_acquire_or_synthesise_fills_a_mirror(tmp_path, demo, monkeypatch):
    mirror = tmp_path / "mirror"
    _annotation_only_copy(demo, mirror / "icbhi2017", keep_audio=3)
    from auscult.datasets.acquire import write_sha256sums

    write_sha256sums(mirror / "icbhi2017")
    monkeypatch.setenv("AUSCULT_DATA_MIRROR", str(mirror))
    params = {"source": "canonical", "missing_audio": "synthesise",
              "fill": {"seed": 1, "sample_rate": 4000, "bit_depth": 16, "audio_format": "wav"}}
    dest = acquire_or_synthesise("icbhi2017", tmp_path / "raw", params, progress=False)
    record = json.loads((dest / "ACQUIRED.json").read_text())
    assert record["synthesised_audio"]["real"] == 3
    assert record["synthesised_audio"]["synthesised"] == len(icbhi2017.read_split(dest)) - 3
    assert verify_sha256sums(dest) > 0
    # The mirror itself is untouched (hard links are replaced, never written through).
    assert not (mirror / "icbhi2017" / "SYNTHESISED.txt").exists()
    assert len(list((mirror / "icbhi2017" / "audio").iterdir())) == 3
    with pytest.raises(ValueError, match="missing_audio"):
        acquire_or_synthesise("icbhi2017", tmp_path / "raw2", {**params, "missing_audio": "maybe"})


def test_synthetic_classes_are_audible(demo):
    """Crackle cycles carry more short transients, wheeze cycles more tonal energy."""
    df = icbhi2017.build_manifest(demo, hash_audio=False)
    feats = []
    for _, group in df.groupby("recording"):
        x, sr = sf.read(str(demo / group["audio_path"].iloc[0]))
        for row in group.itertuples():
            seg = x[int(row.cycle_start * sr): int(row.cycle_end * sr)]
            d = np.abs(np.diff(seg))
            feats.append((row.label, np.percentile(d, 99.9) / (np.median(d) + 1e-9)))
    feats = np.array(feats)
    normal = feats[feats[:, 0] == 0, 1].mean()
    crackle = feats[np.isin(feats[:, 0], (1, 3)), 1].mean()
    assert crackle > normal
