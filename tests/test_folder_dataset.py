"""The folder-dataset adapter (auscult.datasets.folder): any rate, depth, channels and format,
CRLF/BOM label files, missing or extra rows, duplicates, one-line errors naming file and line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from auscult.datasets import Checks, ManifestError, adapter, folder
from auscult.datasets.checks import checks_for


def tone(sr: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * 60 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def make(root: Path, files: dict[str, tuple], labels: str, *, bom: bool = False, crlf: bool = False) -> Path:
    (root / "audio").mkdir(parents=True, exist_ok=True)
    for rel, (sr, seconds, subtype, fmt, channels) in files.items():
        path = root / "audio" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), tone(sr, seconds, channels), sr, subtype=subtype, format=fmt)
    text = labels.replace("\n", "\r\n") if crlf else labels
    (root / "labels.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return root


ODD = {
    "a.wav": (4000, 2.0, "PCM_16", "WAV", 1),
    "b.FLAC": (44100, 1.5, "PCM_24", "FLAC", 2),
    "sub/c.Wav": (11025, 3.0, "FLOAT", "WAV", 1),
    "d.flac": (22050, 1.2, "PCM_16", "FLAC", 3),
    "e.wav": (7999, 1.1, "PCM_U8", "WAV", 1),
}


def test_odd_rates_depths_channels_formats_and_case_insensitive_suffixes(tmp_path):
    root = make(tmp_path, ODD, "record,label,class,patient_id,site\na,0,normal,p1,AV\nb,1,murmur,p1,MV\n"
                "c.wav,abnormal,,p2,\nd,Normal,,,\ne,-1,,,\n", bom=True, crlf=True)
    m = folder.build_manifest(root, dataset="mine")
    assert m["record_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert m["label"].tolist() == [0, 1, 1, 0, 0]
    assert m["sample_rate"].tolist() == [4000, 44100, 11025, 22050, 7999]
    assert m["original_class"].tolist() == ["normal", "murmur", "abnormal", "normal", "normal"]
    assert m["patient_id"].tolist()[:3] == ["p1", "p1", "p2"] and m["site"].tolist()[:2] == ["AV", "MV"]
    assert set(m["dataset"]) == {"mine"} and (m["sha256"].str.len() == 64).all()


def test_features_of_odd_files(tmp_path):
    """Every recipe reads them (resampled, down-mixed, padded to its clip)."""
    from auscult.features.build import RECIPES
    from auscult.params import load_params

    cfg = load_params(Path(__file__).resolve().parents[1] / "params.yaml")["features"]
    root = make(tmp_path, ODD, "record,label\na,0\nb,1\nc,1\nd,0\ne,0\n")
    for rel in ODD:
        for recipe in ("audiofuse", "koike", "floor_stats"):
            out = RECIPES[recipe](str(root / "audio" / rel), cfg[recipe])
            assert all(np.isfinite(v).all() for v in out.values()), (rel, recipe)


def test_missing_and_extra_rows_follow_bad_audio(tmp_path):
    files = {"a.wav": ODD["a.wav"], "b.wav": ODD["a.wav"]}
    root = make(tmp_path, files, "record,label\na,0\nzz,1\n")
    with pytest.raises(ManifestError, match=r"^2 problems in dataset folder:") as e:
        folder.build_manifest(root)
    lines = str(e.value).splitlines()[1:]  # both problems at once, one line each
    assert re.search(r"labels\.csv:3: label row without audio.*zz", lines[0])
    assert re.search(r"b\.wav: audio without a label row", lines[1]) and len(lines) == 2
    checks = Checks(bad_audio="skip")
    m = folder.build_manifest(root, checks=checks)
    assert m["record_id"].tolist() == ["a"]
    assert {(r["record_id"], r["kind"]) for r in checks.skipped} == {("zz", "no_audio"), ("b", "unlabelled")}


def test_duplicates_and_bad_labels_name_file_and_line(tmp_path):
    root = make(tmp_path / "dup", {"a.wav": ODD["a.wav"]}, "record,label\na,0\na,1\n")
    with pytest.raises(ManifestError, match=r"labels\.csv:3: record a is listed twice \(first on line 2\)"):
        folder.build_manifest(root)
    root = make(tmp_path / "two", {"a.wav": ODD["a.wav"], "x/a.flac": ODD["d.flac"]}, "record,label\na,0\n")
    with pytest.raises(ManifestError, match=r"two audio files for record 'a'"):
        folder.build_manifest(root)
    root = make(tmp_path / "lab", {"a.wav": ODD["a.wav"]}, "record,label\na,maybe\n")
    with pytest.raises(ManifestError, match=r"labels\.csv:2: label 'maybe' of a is not one of"):
        folder.build_manifest(root)
    root = make(tmp_path / "col", {"a.wav": ODD["a.wav"]}, "name,label\na,0\n")
    with pytest.raises(ManifestError, match=r"labels\.csv:1: missing column\(s\) \['record'\]"):
        folder.build_manifest(root)
    root = make(tmp_path / "extra", {"a.wav": ODD["a.wav"]}, "Record,LABEL,age,\na,1,40,\n")
    assert folder.build_manifest(root)["label"].tolist() == [1]  # unknown columns ignored, trailing comma
    root = make(tmp_path / "width", {"a.wav": ODD["a.wav"]}, "record,label\na,0,extra\n")
    with pytest.raises(ManifestError, match=r"labels\.csv:2: 3 field\(s\)"):
        folder.build_manifest(root)


def test_bad_audio_policy_and_min_seconds(tmp_path):
    files = {"a.wav": ODD["a.wav"], "short.wav": (4000, 0.2, "PCM_16", "WAV", 1)}
    root = make(tmp_path, files, "record,label\na,0\nshort,1\n")
    (root / "audio" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    (root / "labels.csv").write_text("record,label\na,0\nshort,1\nbroken,1\n")
    params = {"kind": "folder", "source": "canonical", "bad_audio": "skip", "min_seconds": 0.5}
    checks = checks_for("mine", params)
    assert checks.pins is None  # user folders have no pinned checksums
    m = adapter("mine", params).build_manifest(root, checks=checks, dataset="mine")
    assert m["record_id"].tolist() == ["a"]
    assert {r["record_id"] for r in checks.skipped} == {"short", "broken"}
    with pytest.raises(ManifestError, match=r"short\.wav: too short") as e:
        folder.build_manifest(root, checks=Checks(bad_audio="error", min_seconds=0.5))
    assert "2 problems" in str(e.value) and "broken.wav" in str(e.value)


def test_acquire_verifies_own_sha256sums_or_hashes_the_folder(tmp_path):
    from auscult.datasets import acquire as acq
    from auscult.datasets.source import acquire_or_synthesise

    src = make(tmp_path / "src", {"a.wav": ODD["a.wav"]}, "record,label\na,0\n")
    params = {"kind": "folder", "source": "canonical", "path_env": "MY_FOLDER", "bad_audio": "error",
              "min_seconds": 0.5}
    mp = pytest.MonkeyPatch()
    mp.setenv("MY_FOLDER", str(src))
    try:
        out = acquire_or_synthesise("mine", tmp_path / "copy1", params)
        assert (out / "SHA256SUMS").is_file() and not (src / "SHA256SUMS").exists()  # never written into src
        acq.write_sha256sums(src)
        (src / "audio" / "a.wav").write_bytes((src / "audio" / "a.wav").read_bytes()[:-2] + b"\x01\x02")
        with pytest.raises(acq.ChecksumError, match=str(src / "audio" / "a.wav")):
            acquire_or_synthesise("mine", tmp_path / "copy2", params)
    finally:
        mp.undo()


def test_folder_digest_follows_content(tmp_path, monkeypatch):
    from auscult import layout

    src = make(tmp_path / "src", {"a.wav": ODD["a.wav"]}, "record,label\na,0\n")
    monkeypatch.setenv("MY_FOLDER", str(src))
    params = {"kind": "folder", "source": "canonical", "path_env": "MY_FOLDER", "bad_audio": "error",
              "min_seconds": 0.5}
    cfg = {"datasets": {"mine": params}}
    d1 = layout.dataset_digest(cfg, "mine")
    (src / "labels.csv").write_text("record,label\na,1\n")
    assert layout.dataset_digest(cfg, "mine") != d1


def test_synthetic_folder_is_unlike_physionet(tmp_path):
    from auscult.datasets import synthetic

    synthetic.write_folder(tmp_path / "f", n_records=12, seed=3, abnormal_fraction=0.25)
    m = folder.build_manifest(tmp_path / "f")
    assert {4000, 44100} <= set(m["sample_rate"]) and m["label"].sum() == 3
    assert m["duration_s"].between(1.0, 10.0).all()
    assert (tmp_path / "f" / "labels.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_schema_accepts_folder_datasets_and_stays_closed():
    from auscult.params import ParamsError, load_params, validate

    repo = Path(__file__).resolve().parents[1]
    cfg = load_params(repo / "params.yaml", [repo / "config" / "demo.yaml"])
    validate(cfg)
    cfg["datasets"]["other"] = {"kind": "folder", "source": "canonical", "bad_audio": "skip", "min_seconds": 1.0,
                                "path_env": "OTHER_DIR"}
    validate(cfg)
    cfg["datasets"]["other"]["typo"] = 1
    with pytest.raises(ParamsError, match="other"):
        validate(cfg)
    del cfg["datasets"]["other"]
    cfg["cross_dataset"]["targets"] = ["nowhere"]
    with pytest.raises(ParamsError, match="nowhere"):
        validate(cfg)


def _acquire(name: str, src: Path, dest: Path, monkeypatch) -> Path:
    from auscult.datasets.source import acquire_or_synthesise

    monkeypatch.setenv("MY_FOLDER", str(src))
    params = {"kind": "folder", "source": "canonical", "path_env": "MY_FOLDER", "bad_audio": "error",
              "min_seconds": 0.5}
    return acquire_or_synthesise(name, dest, params)


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_only_labels_and_audio_are_copied(tmp_path, monkeypatch):
    from auscult.datasets import acquire as acq

    src = make(tmp_path / "src", {"a.wav": ODD["a.wav"], "sub/b.FLAC": ODD["b.FLAC"]},
               "record,label\na,0\nb,1\n")
    (src / "README.txt").write_text("notes")
    (src / "private").mkdir()
    (src / "private" / "key.pem").write_text("secret")
    (src / "audio" / ".DS_Store").write_bytes(b"\0")
    (src / "audio" / "sub" / "b.txt").write_text("not audio")
    out = _acquire("mine", src, tmp_path / "copy1", monkeypatch)
    assert _tree(out) == ["ACQUIRED.json", "SHA256SUMS", "audio/a.wav", "audio/sub/b.FLAC", "labels.csv"]
    # the folder's own SHA256SUMS may list more than the dataset; the copy's lists what was copied
    acq.write_sha256sums(src)
    out = _acquire("mine", src, tmp_path / "copy2", monkeypatch)
    assert _tree(out) == ["ACQUIRED.json", "SHA256SUMS", "audio/a.wav", "audio/sub/b.FLAC", "labels.csv"]
    assert acq.verify_sha256sums(out) == 3
    # ... but must list every file that is copied
    sums = src / "SHA256SUMS"
    sums.write_text("".join(line for line in sums.read_text().splitlines(True) if "b.FLAC" not in line))
    with pytest.raises(acq.SumsFileError, match=r"SHA256SUMS: does not list 1 file\(s\).*audio/sub/b.FLAC"):
        _acquire("mine", src, tmp_path / "copy3", monkeypatch)


def test_links_out_of_the_folder_are_refused_by_name(tmp_path, monkeypatch):
    import hashlib

    from auscult.datasets import acquire as acq

    monkeypatch.delenv(acq.FOLLOW_SYMLINKS_ENV, raising=False)
    src = make(tmp_path / "src", {"a.wav": ODD["a.wav"]}, "record,label\na,0\nb,1\n")
    secret = make(tmp_path / "elsewhere", {"b.wav": ODD["a.wav"]}, "record,label\n") / "audio" / "b.wav"
    (src / "audio" / "b.wav").symlink_to(secret)
    with pytest.raises(acq.LinkError) as e:
        _acquire("mine", src, tmp_path / "copy", monkeypatch)
    msg = str(e.value)
    assert msg.startswith(f"{src / 'audio' / 'b.wav'}: symbolic link out of {src}; refused")
    assert "elsewhere" not in msg and hashlib.sha256(secret.read_bytes()).hexdigest() not in msg
    assert not (tmp_path / "copy").exists()
    monkeypatch.setenv(acq.FOLLOW_SYMLINKS_ENV, "1")  # asked for: the target is copied
    out = _acquire("mine", src, tmp_path / "copy", monkeypatch)
    assert (out / "audio" / "b.wav").read_bytes() == secret.read_bytes()
    assert not (out / "audio" / "b.wav").is_symlink()
