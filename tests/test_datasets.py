"""Dataset adapters: manifests from synthetic folders, bad folders, and the real mirror."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from auscult.audio import sha256_file
from auscult.datasets import (
    DATASETS,
    MANIFEST_COLUMNS,
    ManifestError,
    get_dataset,
    pascal,
    physionet2016,
    synthetic,
)
from auscult.datasets.acquire import read_sha256sums


def test_registry():
    assert set(DATASETS) == {"physionet2016", "pascal", "icbhi2017"}
    assert get_dataset("pascal") is pascal
    for name, module in DATASETS.items():
        assert module.NAME == name and callable(module.build_manifest) and module.SOURCES
    with pytest.raises(ValueError, match="unknown dataset 'icbhi'.*icbhi2017, pascal, physionet2016"):
        get_dataset("icbhi")


# --------------------------------------------------------------------------- PhysioNet 2016


@pytest.fixture(scope="module")
def physio_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("physio") / "physionet2016"
    synthetic.write_physionet2016(root, n_records=24, seed=7, n_test=6, duration_s=(1.0, 2.0))
    return root


@pytest.fixture
def physio_copy(physio_root, tmp_path) -> Path:
    """A private copy that a test may break."""
    return Path(shutil.copytree(physio_root, tmp_path / "physionet2016"))


def test_physionet_manifest_from_synthetic(physio_root):
    df = physionet2016.build_manifest(physio_root)
    assert list(df.columns) == MANIFEST_COLUMNS
    assert len(df) == 24 and df.record_id.is_unique
    assert df.record_id.tolist() == sorted(df.record_id)
    assert df.label.sum() == round(24 * 0.3)
    assert set(df.subset) == {"training-a", "training-b"}
    assert (df.dataset == "physionet2016").all() and (df.patient_id == "").all()
    assert set(df.original_class[df.label == 1]) == {"abnormal"}
    test, train = df[df.official_split == "test"], df[df.official_split == "train"]
    assert len(test) == 6 and test.label.sum() == 3 and len(train) == 18
    assert set(test.record_id).isdisjoint(train.record_id)
    assert (df.sample_rate == 2000).all() and (df.bit_depth == 16).all()
    row = df.iloc[0]
    assert row.duration_s == pytest.approx(row.n_frames / 2000)
    assert row.sha256 == sha256_file(physio_root / row.audio_path)
    assert (physionet2016.build_manifest(physio_root, hash_audio=False).sha256 == "").all()


def test_physionet_missing_recording_names_the_reference_row(physio_copy):
    ref = physio_copy / "training-b" / "REFERENCE.csv"
    ref.write_text(ref.read_text() + "b9999,1\n")
    n_lines = len(ref.read_text().splitlines())
    with pytest.raises(ManifestError) as e:
        physionet2016.build_manifest(physio_copy, hash_audio=False)
    assert f"{ref}:{n_lines}" in str(e.value) and "b9999" in str(e.value)


def test_physionet_broken_audio_is_reported_with_its_path(physio_copy):
    audio = physio_copy / "training-a" / "a0002.flac"
    audio.write_text("not audio")
    with pytest.raises(ManifestError, match="a0002") as e:
        physionet2016.build_manifest(physio_copy, hash_audio=False)
    assert str(audio) in str(e.value) and "REFERENCE.csv:2" in str(e.value)


def test_physionet_validation_label_must_agree(physio_copy):
    ref = physio_copy / "validation" / "REFERENCE.csv"
    first, *rest = ref.read_text().splitlines()
    record, label = first.split(",")
    ref.write_text("\n".join([f"{record},{'-1' if label == '1' else '1'}", *rest]) + "\n")
    with pytest.raises(ManifestError, match=f"{record} labelled"):
        physionet2016.build_manifest(physio_copy, hash_audio=False)


def test_physionet_validation_record_must_exist_in_training(physio_copy):
    ref = physio_copy / "validation" / "REFERENCE.csv"
    ref.write_text(ref.read_text() + "z0001,1\n")
    with pytest.raises(ManifestError, match="not in any training-\\* subset.*z0001"):
        physionet2016.build_manifest(physio_copy, hash_audio=False)


def test_physionet_bad_label_value(physio_copy):
    ref = physio_copy / "training-a" / "REFERENCE.csv"
    ref.write_text(ref.read_text().replace(",-1", ",0", 1))
    with pytest.raises(ManifestError, match="label 1 or -1"):
        physionet2016.build_manifest(physio_copy, hash_audio=False)


def test_physionet_prefers_wav_over_flac(physio_copy):
    sf.write(str(physio_copy / "training-a" / "a0001.wav"), 0.1 * np.sin(np.arange(1234) / 5), 2000)
    df = physionet2016.build_manifest(physio_copy, hash_audio=False).set_index("record_id")
    assert df.loc["a0001", "audio_path"] == "training-a/a0001.wav"
    assert df.loc["a0001", "n_frames"] == 1234
    assert df.loc["a0002", "audio_path"] == "training-a/a0002.flac"


def test_physionet_not_a_physionet_folder(tmp_path):
    with pytest.raises(ManifestError, match="no training-\\* folders"):
        physionet2016.build_manifest(tmp_path)


# --------------------------------------------------------------------------- PASCAL


@pytest.fixture(scope="module")
def pascal_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pascal") / "pascal"
    synthetic.write_pascal(root, n_records=30, seed=3, duration_s=(0.5, 1.0), audio_format="wav")
    return root


@pytest.mark.parametrize(
    "fname, on_disk",
    [
        (
            "set_b/Btraining_extrastole_127_1306764300147_C2.wav",
            "set_b/extrastole__127_1306764300147_C2.wav",
        ),
        (
            "set_b/Btraining_normal_Btraining_noisynormal_101_1305030823364_B.wav",
            "set_b/normal_noisynormal_101_1305030823364_B.wav",
        ),
        ("set_a/artifact__201012172012.wav", "set_a/artifact__201012172012.wav"),
        (
            "set_b/Bunlabelledtest_101_1305030823364_A.wav",
            "set_b/Bunlabelledtest_101_1305030823364_A.wav",
        ),
    ],
)
def test_normalise_fname(fname, on_disk):
    assert pascal.normalise_fname(fname) == on_disk


def test_set_b_patient_id():
    assert pascal.set_b_patient_id("extrastole__127_1306764300147_C2") == "127"
    assert pascal.set_b_patient_id("murmur_noisymurmur_135_1306428972976_A") == "135"
    assert pascal.set_b_patient_id("normal__201102081321") == ""


def test_pascal_manifest_from_synthetic(pascal_root):
    df = pascal.build_manifest(pascal_root)
    assert list(df.columns) == MANIFEST_COLUMNS
    assert len(df) == 30 and df.record_id.is_unique
    assert df.label.sum() == 12
    assert (df.label == (df.original_class != "normal")).all()
    assert set(df.original_class) <= set(pascal.CLASSES)
    assert df.subset.value_counts().to_dict() == {"set_b": 22, "set_a": 8}
    set_a, set_b = df[df.subset == "set_a"], df[df.subset == "set_b"]
    assert (set_a.sample_rate == 44100).all() and (set_b.sample_rate == 4000).all()
    assert (set_a.patient_id == "").all() and set_b.patient_id.str.fullmatch(r"\d+").all()
    assert (df.official_split == "labelled").all()
    assert all((pascal_root / p).is_file() for p in df.audio_path)
    assert (df.record_id == [Path(p).stem for p in df.audio_path]).all()
    # the unlabelled rows are in the CSVs but not in the manifest
    csv_text = (pascal_root / "set_b.csv").read_text()
    assert "Bunlabelledtest_" in csv_text and "Bunlabelledtest" not in "".join(df.record_id)


def test_pascal_case_insensitive_fallback(pascal_root, tmp_path):
    root = Path(shutil.copytree(pascal_root, tmp_path / "pascal"))
    path = sorted((root / "set_a").glob("normal__*.wav"))[0]
    renamed = path.with_name("Normal" + path.name[len("normal") :])
    path.rename(renamed)
    df = pascal.build_manifest(root, hash_audio=False)
    assert renamed.stem in set(df.record_id) and len(df) == 30


def test_pascal_missing_recording_names_the_csv_row(pascal_root, tmp_path):
    root = Path(shutil.copytree(pascal_root, tmp_path / "pascal"))
    victim = sorted((root / "set_b").glob("murmur_*.wav"))[0]
    victim.unlink()
    with pytest.raises(ManifestError) as e:
        pascal.build_manifest(root, hash_audio=False)
    message = str(e.value)
    assert str(root / "set_b.csv") in message and "no audio file" in message
    assert victim.stem.split("_")[-2] in message  # the time stamp of the missing recording


def test_pascal_unknown_label(pascal_root, tmp_path):
    root = Path(shutil.copytree(pascal_root, tmp_path / "pascal"))
    table = root / "set_a.csv"
    table.write_text(table.read_text().replace(",normal,", ",healthy,", 1))
    with pytest.raises(ManifestError, match="set_a.csv:\\d+ .*unknown label 'healthy'"):
        pascal.build_manifest(root, hash_audio=False)


# --------------------------------------------------------------------------- real mirror


@pytest.mark.mirror
def test_physionet_manifest_on_the_mirror(mirror_root):
    root = mirror_root / "physionet2016"
    df = physionet2016.build_manifest(root)  # hashes 3240 files: about 1 s
    assert len(df) == 3240 and df.record_id.is_unique
    assert df.label.value_counts().to_dict() == {0: 2575, 1: 665}
    test, train = df[df.official_split == "test"], df[df.official_split == "train"]
    assert len(test) == 301 and len(train) == 2939
    assert test.label.value_counts().to_dict() == {1: 151, 0: 150}
    assert set(test.record_id).isdisjoint(train.record_id)
    assert (df.sample_rate == 2000).all() and (df.bit_depth == 16).all()
    sums = read_sha256sums(root / "SHA256SUMS")
    assert all(sums[p] == h for p, h in zip(df.audio_path, df.sha256, strict=True))


@pytest.mark.mirror
def test_pascal_manifest_on_the_mirror(mirror_root):
    root = mirror_root / "pascal"
    df = pascal.build_manifest(root, hash_audio=False)
    assert len(df) == 585
    assert df.label.value_counts().to_dict() == {0: 351, 1: 234}
    assert df.subset.value_counts().to_dict() == {"set_b": 461, "set_a": 124}
    assert df.original_class.value_counts().to_dict() == {
        "normal": 351,
        "murmur": 129,
        "extrastole": 46,
        "artifact": 40,
        "extrahls": 19,
    }
    assert all((root / p).is_file() for p in df.audio_path)
    assert (df[df.subset == "set_b"].patient_id != "").all()
