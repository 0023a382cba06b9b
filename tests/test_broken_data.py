"""A corpus of broken inputs in the real on-disk layouts, and what the pipeline does with each.

Every case is a copy of a small dataset folder (PhysioNet folders with REFERENCE.csv, the
Kaggle PASCAL layout with its file-name quirk, the ICBHI mirror layout) with one thing
broken. With ``bad_audio: error`` each case fails with one message naming the file and the
problem; with ``bad_audio: skip`` the record is dropped and listed in the skipped records,
never silently accepted. Cases that need the canonical pins use pins computed from the
unbroken synthetic copy (``AUSCULT_PINS_DIR`` / ``pinned.PIN_DIR``), as the shipped pins
were computed from the real mirror.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scratch import run_python, src_env

from auscult.audio import AudioError, scan_audio
from auscult.datasets import (
    ManifestError,
    icbhi2017,
    pascal,
    physionet2016,
    pinned,
    pinning,
    synthetic,
)
from auscult.datasets.acquire import (
    ChecksumError,
    DownloadError,
    MissingFileError,
    SumsFileError,
    acquire,
    write_sha256sums,
)
from auscult.datasets.checks import BadRecordError, Checks, skipped_records

# --------------------------------------------------------------------------- the corpus


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("clean")
    synthetic.write_physionet2016(base / "physionet2016", n_records=16, n_test=4, seed=3,
                                  duration_s=(2.0, 3.0))
    synthetic.write_pascal(base / "pascal", n_records=12, seed=4, duration_s=(1.0, 2.0))
    synthetic.write_icbhi2017(base / "icbhi2017", n_patients=3, seed=5)
    pins = base / "pins"
    for name in ("physionet2016", "pascal"):
        pinned.write_pins(name, pinning.compute_pins(name, base / name), pins)
    return {"base": base, "pins": pins}


def nan_wav(path: Path, bad=np.nan, n=4000, sr=2000) -> None:
    x = np.full(n, 0.1, dtype=np.float32)
    x[n // 2] = bad
    sf.write(str(path), x, sr, subtype="FLOAT")


def replace_audio(folder: Path, stem: str, writer) -> Path:
    for old in folder.glob(f"{stem}.*"):
        if old.suffix in (".wav", ".flac"):
            old.unlink()
    new = folder / f"{stem}.wav"
    writer(new)
    return new


def _write_zeros(p: Path, sr=2000, n=4000):
    sf.write(str(p), np.zeros(n), sr, subtype="PCM_16")


def _truncated(p: Path):
    sf.write(str(p), np.full(4000, 0.1), 2000, subtype="PCM_16")
    p.write_bytes(p.read_bytes()[:3000])


# Each case: (dataset, breaker(root) -> the path a message must name, words the message says)
def case_nan(root):
    return replace_audio(root / "training-a", "a0002", nan_wav)


def case_inf(root):
    return replace_audio(root / "training-a", "a0002", lambda p: nan_wav(p, np.inf))


def case_zero(root):
    return replace_audio(root / "training-a", "a0002", _write_zeros)


def case_short(root):
    return replace_audio(root / "training-a", "a0002",
                         lambda p: sf.write(str(p), 0.3 * np.sin(np.arange(200) / 3), 2000, subtype="PCM_16"))


def case_truncated(root):
    return replace_audio(root / "training-a", "a0002", _truncated)


def case_not_audio(root):
    p = root / "training-a" / "a0002.flac"
    p.write_bytes(b"this is not a FLAC file\n" * 10)
    return p


def case_empty_file(root):
    p = root / "training-a" / "a0002.flac"
    p.write_bytes(b"")
    return p


def case_unlabelled_audio(root):
    p = root / "training-b" / "b0999.flac"
    shutil.copy(root / "training-b" / "b0001.flac", p)
    return p


def case_row_without_audio(root):
    (root / "training-a" / "a0003.flac").unlink()
    return root / "training-a" / "REFERENCE.csv"


def case_pcm_mismatch(root):
    p = root / "training-a" / "a0004.flac"
    x, sr = sf.read(str(p), dtype="int16")
    x[10] ^= 1  # one LSB: the same file size, the same header
    sf.write(str(p), x, sr, subtype="PCM_16")
    return p


def case_label_mismatch(root):
    ref = root / "training-b" / "REFERENCE.csv"
    test = {ln.split(",")[0] for ln in (root / "validation" / "REFERENCE.csv").read_text().splitlines()}
    lines = ref.read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.split(",")[0] not in test)
    rec, lab = lines[i].split(",")
    lines[i] = f"{rec},{'-1' if lab == '1' else '1'}"
    ref.write_text("\n".join(lines) + "\n")
    return root / "training-b" / f"{rec}.flac"


def case_foreign_record(root):
    shutil.copy(root / "training-b" / "b0001.flac", root / "training-b" / "b0900.flac")
    with open(root / "training-b" / "REFERENCE.csv", "a") as f:
        f.write("b0900,1\n")
    return root / "training-b" / "b0900.flac"


def case_pascal_nan(root):
    victim = sorted((root / "set_a").glob("*.flac"))[0]
    victim.unlink()
    new = victim.with_suffix(".wav")
    nan_wav(new, sr=44100, n=44100)
    return new


def case_pascal_unlisted(root):
    p = root / "set_b" / "normal__999_1306999999999_A.flac"
    shutil.copy(sorted((root / "set_b").glob("*.flac"))[0], p)
    return p


def case_pascal_missing_audio(root):
    sorted((root / "set_b").glob("murmur_*"))[0].unlink()
    return root / "set_b.csv"


def case_pascal_silent(root):
    victim = sorted((root / "set_b").glob("*.flac"))[1]
    victim.unlink()
    new = victim.with_suffix(".wav")
    _write_zeros(new, sr=4000, n=8000)
    return new


def _icbhi_audio(root):
    return sorted((root / "ICBHI_final_database").glob("*.wav"))


def case_icbhi_zero_24bit(root):
    p = _icbhi_audio(root)[0]
    info = sf.info(str(p))
    sf.write(str(p), np.zeros(info.frames), info.samplerate, subtype="PCM_24")
    return p


def case_icbhi_unlisted(root):
    p = root / "ICBHI_final_database" / "999_1b1_Al_sc_Meditron.wav"
    shutil.copy(_icbhi_audio(root)[0], p)
    return p


def case_icbhi_no_audio(root):
    p = _icbhi_audio(root)[1]
    p.unlink()
    return root / icbhi2017.SPLIT_FILE


def case_dc(root):
    return replace_audio(root / "training-a", "a0002",
                         lambda p: sf.write(str(p), np.full(4000, 0.25), 2000, subtype="PCM_16"))


def case_icbhi_cycle_outside_audio(root):
    audio = _icbhi_audio(root)[0]
    ann = audio.with_suffix(".txt")
    duration = sf.info(str(audio)).duration
    with open(ann, "a") as f:
        f.write(f"{duration + 5:.3f}\t{duration + 7:.3f}\t0\t0\n")
    return ann


CASES = {
    # name: (dataset, breaker, words in the message, needs pins)
    "nan_float_wav": ("physionet2016", case_nan, "NaN/Inf", False),
    "inf_float_wav": ("physionet2016", case_inf, "NaN/Inf", False),
    "all_zero": ("physionet2016", case_zero, "all samples are zero", False),
    "too_short": ("physionet2016", case_short, "too short", False),
    "truncated_wav": ("physionet2016", case_truncated, "truncated WAV", False),
    "not_audio": ("physionet2016", case_not_audio, "not a readable audio file", False),
    "empty_file": ("physionet2016", case_empty_file, "empty file", False),
    "audio_without_label_row": ("physionet2016", case_unlabelled_audio, "audio without a label row", False),
    "label_row_without_audio": ("physionet2016", case_row_without_audio, "label row without audio", False),
    "pcm_differs_from_pin": ("physionet2016", case_pcm_mismatch, "pinned checksum mismatch", True),
    "label_differs_from_pin": ("physionet2016", case_label_mismatch, "pinned label", True),
    "record_not_pinned": ("physionet2016", case_foreign_record, "has no recording", True),
    "pascal_nan": ("pascal", case_pascal_nan, "NaN/Inf", False),
    "pascal_unlisted_audio": ("pascal", case_pascal_unlisted, "audio without a label row", False),
    "pascal_row_without_audio": ("pascal", case_pascal_missing_audio, "label row without audio", False),
    "pascal_silent": ("pascal", case_pascal_silent, "all samples are zero", False),
    "icbhi_zero_24bit": ("icbhi2017", case_icbhi_zero_24bit, "all samples are zero", False),
    "icbhi_audio_not_in_split": ("icbhi2017", case_icbhi_unlisted, "audio without an entry", False),
    "icbhi_split_row_without_audio": ("icbhi2017", case_icbhi_no_audio, "label row without audio", False),
    "constant_dc_signal": ("physionet2016", case_dc, "same value", False),
    "icbhi_cycle_after_the_audio": ("icbhi2017", case_icbhi_cycle_outside_audio, "after the end of the audio", False),
}


def _binary_reference(root):
    p = root / "training-b" / "REFERENCE.csv"
    p.write_bytes(b"\xff\xfe\x00\x81garbage\n")
    return p


def _csv_without_label_column(root):
    p = root / "set_a.csv"
    lines = p.read_text().splitlines()
    p.write_text("\n".join([lines[0].replace("label", "lable", 1), *lines[1:]]) + "\n")
    return p


def _inf_cycle(root):
    ann = sorted((root / "ICBHI_final_database").glob("*.txt"))[0]
    with open(ann, "a") as f:
        f.write("1.0\tinf\t0\t0\n")
    return ann


def _bad_label(root):
    p = root / "training-a" / "REFERENCE.csv"
    p.write_text("record,label\n" + p.read_text())
    return p


def _empty_validation(root):
    p = root / "validation" / "REFERENCE.csv"
    p.write_text("")
    return p


# Broken label/annotation files: refused whatever bad_audio says (no record to drop).
STRUCTURAL = {
    "reference_not_text": ("physionet2016", _binary_reference, "not a text file"),
    "reference_with_header": ("physionet2016", _bad_label, "expected 'record,label'"),
    "validation_list_empty": ("physionet2016", _empty_validation, "no records"),
    "pascal_csv_without_label_column": ("pascal", _csv_without_label_column, "missing column(s) ['label']"),
    "icbhi_infinite_cycle": ("icbhi2017", _inf_cycle, "invalid cycle"),
}


@pytest.mark.parametrize("policy", ["error", "skip"])
@pytest.mark.parametrize("name", sorted(STRUCTURAL))
def test_broken_label_files_are_refused_in_one_line(clean, tmp_path, name, policy):
    ds, breaker, words = STRUCTURAL[name]
    root = Path(shutil.copytree(clean["base"] / ds, tmp_path / ds))
    named = breaker(root)
    with pytest.raises(ManifestError) as e:
        ADAPTERS[ds].build_manifest(root, hash_audio=False, checks=Checks(bad_audio=policy))
    message = str(e.value)
    assert "\n" not in message and str(named) in message and words in message, message
ADAPTERS = {"physionet2016": physionet2016, "pascal": pascal, "icbhi2017": icbhi2017}


def broken_copy(clean, tmp_path, name):
    ds, breaker, words, needs_pins = CASES[name]
    root = Path(shutil.copytree(clean["base"] / ds, tmp_path / ds))
    named = breaker(root)
    pins = None
    if needs_pins:
        pins = pinned.Pins(ds, "test", **_pins_fields(clean["pins"], ds))
    return ds, root, named, words, pins


def _pins_fields(pin_dir, ds):
    old = os.environ.get(pinned.PINS_ENV)
    os.environ[pinned.PINS_ENV] = str(pin_dir)
    try:
        pinned.load_pins.cache_clear()
        p = pinned.load_pins(ds)
    finally:
        if old is None:
            del os.environ[pinned.PINS_ENV]
        else:
            os.environ[pinned.PINS_ENV] = old
        pinned.load_pins.cache_clear()
    return {"pcm": p.pcm, "wav": p.wav, "files": p.files, "split": p.split}


def test_the_corpus_is_large_enough():
    assert len(CASES) + len(STRUCTURAL) >= 15
    assert {ds for ds, *_ in CASES.values()} == {"physionet2016", "pascal", "icbhi2017"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_policy_names_the_file_and_the_problem(clean, tmp_path, name):
    ds, root, named, words, pins = broken_copy(clean, tmp_path, name)
    checks = Checks(bad_audio="error", min_seconds=1.0, pins=pins)
    with pytest.raises(ManifestError) as e:
        ADAPTERS[ds].build_manifest(root, hash_audio=False, checks=checks)
    message = str(e.value)
    assert "\n" not in message, "one line per problem"
    assert str(named) in message and words in message, message
    # every error survives a process boundary, message intact
    again = pickle.loads(pickle.dumps(e.value))
    assert type(again) is type(e.value) and str(again) == message


@pytest.mark.parametrize("name", sorted(CASES))
def test_skip_policy_drops_logs_and_lists_the_record(clean, tmp_path, name, caplog):
    ds, root, named, words, pins = broken_copy(clean, tmp_path, name)
    good = ADAPTERS[ds].build_manifest(clean["base"] / ds, hash_audio=False)
    checks = Checks(bad_audio="skip", min_seconds=1.0, pins=pins)
    with caplog.at_level("WARNING"):
        df = ADAPTERS[ds].build_manifest(root, hash_audio=False, checks=checks)
    assert checks.skipped, "never silent"
    assert any(words in r["problem"] for r in checks.skipped), checks.skipped
    assert words in caplog.text
    dropped = {r["record_id"] for r in checks.skipped}
    key = "recording" if ds == "icbhi2017" else "record_id"
    assert not dropped & set(df[key]), "a skipped record is not in the manifest"
    # nothing else is lost: every good record that was not broken is still there
    assert set(good[key]) - dropped <= set(df[key])


def test_skipped_records_file_next_to_the_manifest(tmp_path):
    manifest = tmp_path / "data" / "manifests" / "pascal" / "0123abcd.csv"
    manifest.parent.mkdir(parents=True)
    assert skipped_records(manifest).empty
    pd.DataFrame([{"record_id": "x", "path": "set_a/x.wav", "kind": "bad_audio", "problem": "NaN"}]).to_csv(
        manifest.with_name("0123abcd.skipped.csv"), index=False)
    got = skipped_records(manifest)
    assert got.to_dict("records") == [{"record_id": "x", "path": "set_a/x.wav", "kind": "bad_audio",
                                       "problem": "NaN"}]


def test_pinned_recording_removed_altogether_is_absent_not_an_error(clean, tmp_path):
    root = Path(shutil.copytree(clean["base"] / "physionet2016", tmp_path / "physionet2016"))
    validation = {ln.split(",")[0] for ln in (root / "validation" / "REFERENCE.csv").read_text().splitlines()}
    # remove a validation record (file, REFERENCE.csv row), as the README tells users to
    rec = sorted(validation)[0]
    subset = root / f"training-{rec[0]}"
    (subset / f"{rec}.flac").unlink()
    ref = subset / "REFERENCE.csv"
    ref.write_text("".join(f"{ln}\n" for ln in ref.read_text().splitlines() if not ln.startswith(rec)))
    pins = pinned.Pins("physionet2016", "test", **_pins_fields(clean["pins"], "physionet2016"))
    checks = Checks(bad_audio="error", pins=pins)
    df = physionet2016.build_manifest(root, hash_audio=False, checks=checks)
    assert rec not in set(df.record_id) and len(df) == 15
    assert [(r["record_id"], r["kind"]) for r in checks.skipped] == [(rec, "absent")]


def test_real_pins_cover_the_three_datasets():
    phys, pas, ic = (pinned.load_pins(n) for n in ("physionet2016", "pascal", "icbhi2017"))
    assert len(phys.pcm) == 3240 and len(phys.wav) == 3240
    assert len(pas.pcm) == 585
    assert len(ic.pcm) == 10 and len(ic.split) == 920
    assert sum(1 for k in ic.files if k.startswith("annotations/")) == 920
    size = sum(pinned.pin_path(n).stat().st_size for n in ("physionet2016", "pascal", "icbhi2017"))
    assert size < 400_000


def test_pcm_digest_is_the_same_for_wav_and_flac(tmp_path):
    # the same 16-bit samples (libsndfile's WAV and FLAC writers round floats differently)
    x = (np.sin(np.linspace(0, 50, 3000)) * 9000).astype(np.int16)
    sf.write(str(tmp_path / "a.wav"), x, 2000, subtype="PCM_16")
    sf.write(str(tmp_path / "a.flac"), x, 2000, subtype="PCM_16")
    assert scan_audio(tmp_path / "a.wav").pcm_sha256 == scan_audio(tmp_path / "a.flac").pcm_sha256
    sf.write(str(tmp_path / "b.wav"), x, 4000, subtype="PCM_16")  # same samples, other rate
    assert scan_audio(tmp_path / "b.wav").pcm_sha256 != scan_audio(tmp_path / "a.wav").pcm_sha256


@pytest.mark.mirror
def test_real_mirror_matches_the_pins(mirror_root):
    for name in ("pascal", "icbhi2017"):
        pins = pinned.load_pins(name)
        checks = Checks(pins=pins)
        if name == "icbhi2017":
            # only the audio that exists: the 10 real recordings are checked against their pins
            for audio in sorted((mirror_root / name / "audio").iterdir()):
                assert checks._pin_problem(audio, scan_audio(audio).pcm_sha256, audio.stem, None) is None
            icbhi2017.cycle_table(mirror_root / name, checks)
            assert not checks.skipped
        else:
            df = pascal.build_manifest(mirror_root / name, hash_audio=False, checks=checks)
            assert len(df) == 585 and not checks.skipped


@pytest.mark.mirror
def test_real_mirror_physionet_matches_the_pins(mirror_root):
    checks = Checks(pins=pinned.load_pins("physionet2016"), min_seconds=1.0)
    df = physionet2016.build_manifest(mirror_root / "physionet2016", hash_audio=False, checks=checks)
    assert len(df) == 3240 and not checks.skipped
    # and the mirror's ORIGINAL_WAV_SHA256.txt is the pinned one
    for line in (mirror_root / "physionet2016" / "ORIGINAL_WAV_SHA256.txt").read_text().splitlines():
        digest, rest = line.split(maxsplit=1)
        assert checks.pins.wav[rest.split("\t")[0].strip()] == digest


# --------------------------------------------------------------------------- SHA256SUMS


@pytest.fixture
def small_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    synthetic.write_pascal(mirror / "pascal", n_records=8, seed=5, duration_s=(0.5, 1.0))
    return mirror


def test_empty_sha256sums_is_refused(small_mirror, tmp_path):
    (small_mirror / "pascal" / "SHA256SUMS").write_text("")
    with pytest.raises(SumsFileError, match="lists no files"):
        acquire("pascal", tmp_path / "raw" / "pascal", mirror=small_mirror, progress=False)
    assert not (tmp_path / "raw" / "pascal").exists()


def test_partial_sha256sums_is_refused(small_mirror, tmp_path):
    sums = small_mirror / "pascal" / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    sums.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(SumsFileError, match="does not list 2 file"):
        acquire("pascal", tmp_path / "raw" / "pascal", mirror=small_mirror, progress=False)


def test_duplicate_line_in_sha256sums_is_refused(small_mirror, tmp_path):
    sums = small_mirror / "pascal" / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    sums.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(SumsFileError, match=f"SHA256SUMS:{len(lines) + 1}: .* listed twice"):
        acquire("pascal", tmp_path / "raw" / "pascal", mirror=small_mirror, progress=False)


def test_no_hard_links_into_the_mirror_and_later_damage_is_caught(small_mirror, tmp_path):
    dest = acquire("pascal", tmp_path / "raw" / "pascal", mirror=small_mirror, progress=False)
    for p in (small_mirror / "pascal").rglob("*"):
        if p.is_file():
            copy = dest / p.relative_to(small_mirror / "pascal")
            assert os.stat(copy).st_ino != os.stat(p).st_ino and os.stat(copy).st_nlink == 1
    # damage to the mirror after acquisition does not leak into the pipeline's copy
    victim = sorted((small_mirror / "pascal" / "set_b").glob("*.flac"))[0]
    before = (dest / victim.relative_to(small_mirror / "pascal")).read_bytes()
    victim.write_bytes(b"garbage")
    assert (dest / victim.relative_to(small_mirror / "pascal")).read_bytes() == before
    # and a new acquisition of the damaged mirror is refused, naming the file
    with pytest.raises(ChecksumError, match=victim.name):
        acquire("pascal", tmp_path / "raw" / "pascal2", mirror=small_mirror, progress=False)


# --------------------------------------------------------------------------- content identity


def test_dataset_digest_follows_the_mirror_content(small_mirror, monkeypatch, repo_root):
    from auscult import layout
    from auscult.params import load_params

    cfg = load_params(repo_root / "params.yaml")
    monkeypatch.setenv("AUSCULT_DATA_MIRROR", str(small_mirror))
    before = {ds: layout.dataset_digest(cfg, ds) for ds in cfg["datasets"]}
    feats = layout.features_dir(cfg, "pascal", "audiofuse")
    victim = sorted((small_mirror / "pascal" / "set_b").glob("*.flac"))[0]
    victim.unlink()
    write_sha256sums(small_mirror / "pascal")
    after = {ds: layout.dataset_digest(cfg, ds) for ds in cfg["datasets"]}
    assert after["pascal"] != before["pascal"]
    assert layout.features_dir(cfg, "pascal", "audiofuse") != feats
    assert {k: v for k, v in after.items() if k != "pascal"} == {k: v for k, v in before.items() if k != "pascal"}
    # the policy is part of the identity too
    cfg["datasets"]["pascal"]["bad_audio"] = "skip"
    assert layout.dataset_digest(cfg, "pascal") != after["pascal"]


# --------------------------------------------------------------------------- downloads


def _serve():
    import threading
    from http.server import ThreadingHTTPServer

    from test_acquire import _Handler  # the range-capable test server

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = {"files": {}, "cuts": [], "ignore_range": False, "log": []}
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    return httpd


def _pascal_zip(tmp_path) -> tuple[Path, bytes]:
    import zipfile

    original = tmp_path / "original"
    synthetic.write_pascal(original, n_records=8, seed=9, duration_s=(0.5, 1.0), audio_format="wav")
    out = tmp_path / "heartbeat-sounds.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(original.rglob("*")):
            if p.is_file() and p.name != "SHA256SUMS":
                zf.write(p, p.relative_to(original).as_posix())
    return original, out.read_bytes()


def test_changed_download_is_deleted_and_fetched_again(tmp_path, monkeypatch):
    monkeypatch.delenv("AUSCULT_DATA_MIRROR", raising=False)
    original, data = _pascal_zip(tmp_path)
    pin_dir = tmp_path / "pins"
    pinned.write_pins("pascal", pinning.compute_pins("pascal", original), pin_dir)
    monkeypatch.setenv(pinned.PINS_ENV, str(pin_dir))
    pinned.load_pins.cache_clear()
    server = _serve()
    try:
        monkeypatch.setattr(pascal, "SOURCES", [{**pascal.SOURCES[0], "url": f"{server.url}/p.zip"}])
        # a zip whose recordings are not the canonical ones (bytes changed on the server)
        import zipfile

        bad = tmp_path / "bad.zip"
        with zipfile.ZipFile(bad, "w") as zf:
            for p in sorted(original.rglob("*")):
                if p.is_file() and p.name != "SHA256SUMS":
                    body = p.read_bytes()
                    if p.suffix == ".wav" and "set_b" in str(p) and "murmur" in p.name:
                        body = body[:-4] + b"\x01\x02\x03\x04"
                    zf.writestr(p.relative_to(original).as_posix(), body)
        server.state["files"]["/p.zip"] = bad.read_bytes()
        dest = tmp_path / "data" / "pascal"
        with pytest.raises(DownloadError, match="pinned checksum mismatch.*deleted"):
            acquire("pascal", dest, progress=False)
        downloads = tmp_path / "data" / ".pascal-downloads"
        assert not (downloads / "heartbeat-sounds.zip").exists(), "a bad archive is not kept"
        # a truncated archive (BadZipFile) is deleted too
        server.state["files"]["/p.zip"] = data[: len(data) // 2]
        with pytest.raises(DownloadError, match="not a valid zip"):
            acquire("pascal", dest, progress=False)
        assert not (downloads / "heartbeat-sounds.zip").exists()
        # the next run fetches it again and succeeds on the good bytes
        server.state["files"]["/p.zip"] = data
        acquire("pascal", dest, progress=False)
        record = json.loads((dest / "ACQUIRED.json").read_text())
        assert record["archives"][0]["verified_by"] == "pinned recordings"
        assert len(pascal.build_manifest(dest, hash_audio=False)) == 8
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- features


def test_feature_errors_cross_processes_and_name_the_file(clean, tmp_path):
    from auscult.features.build import build_feature_cache
    from auscult.params import load_params

    root = Path(shutil.copytree(clean["base"] / "physionet2016", tmp_path / "physionet2016"))
    manifest = physionet2016.build_manifest(root, hash_audio=True)
    cfg = load_params(Path(__file__).parents[1] / "params.yaml", [Path(__file__).parents[1] / "config" / "demo.yaml"])
    recipe = dict(cfg["features"]["koike"], outputs=["wave"])  # NaN samples would go straight in
    # a NaN recording slipped in after the manifest was built: never written into the cache
    victim = root / manifest.audio_path.iloc[3]
    victim.unlink()
    nan_wav(victim.with_suffix(".wav"))
    manifest.loc[3, "audio_path"] = victim.with_suffix(".wav").relative_to(root).as_posix()
    for workers, sha in ((2, True), (1, False)):
        m = manifest.copy()
        if not sha:
            m["sha256"] = ""
        with pytest.raises(AudioError) as e:
            build_feature_cache(m, root, tmp_path / f"feat{workers}", recipe="koike", cfg=recipe,
                                workers=workers, progress=False)
        assert str(root / m.audio_path.iloc[3]) in str(e.value)
        assert ("changed since the manifest" if sha else "NaN/Inf") in str(e.value)
        assert not (tmp_path / f"feat{workers}").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_audio_errors_pickle():
    e = AudioError("x/a.wav", "3 NaN/Inf sample(s)")
    again = pickle.loads(pickle.dumps(e))
    assert str(again) == "x/a.wav: 3 NaN/Inf sample(s)" and again.path == "x/a.wav"
    c = pickle.loads(pickle.dumps(ChecksumError("f", "a" * 64, "b" * 64)))
    assert c.path == "f" and c.expected == "a" * 64
    b = pickle.loads(pickle.dumps(BadRecordError("f.wav", "all samples are zero", "r1", "bad_audio")))
    assert (b.path, b.record_id, b.kind) == ("f.wav", "r1", "bad_audio")


# --------------------------------------------------------------------------- kill safety


def test_stale_tmp_of_a_dead_writer_is_removed(tmp_path):
    from auscult.atomic import atomic_dir, remove_stale_tmp, tmp_prefix

    out = tmp_path / "koike-0123abcd"
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    stale = tmp_path / f"{tmp_prefix(out, dead)}abc123"
    (stale / "x").mkdir(parents=True)
    other = tmp_path / f"{tmp_prefix(tmp_path / 'ast_sam-89abcdef', dead)}zz"  # another output, same dead writer
    other.mkdir()
    legacy = tmp_path / ".tmp-koike-0123abcd-oldstyle"  # no host: removed only once a day old
    legacy.mkdir()
    alive = tmp_path / f"{tmp_prefix(tmp_path / 'audiofuse-11111111')}x"
    alive.mkdir()
    removed = remove_stale_tmp(out)
    assert set(removed) == {stale, other}
    assert alive.exists() and legacy.exists()
    with atomic_dir(out) as tmp:
        assert tmp.name.startswith(tmp_prefix(out))


def test_pool_workers_die_with_a_killed_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, sys, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from auscult.features.build import _worker_init\n"
        "def work(_):\n"
        "    time.sleep(60)\n"
        "with ProcessPoolExecutor(2, initializer=_worker_init, initargs=(os.getpid(),)) as pool:\n"
        "    futs = [pool.submit(work, i) for i in range(2)]\n"
        "    time.sleep(0.5)\n"
        "    print(' '.join(str(p) for p in pool._processes), flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=src_env())
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    from auscult.atomic import _alive

    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "orphaned pool workers"


def test_mirror_edited_without_refreshing_sha256sums(small_mirror, monkeypatch, repo_root, tmp_path):
    """Deleting a file and its label row but not its SHA256SUMS line: a new digest (new
    copy), and the copy is refused naming the mirror's files and what to do."""
    from auscult import layout
    from auscult.params import load_params

    cfg = load_params(repo_root / "params.yaml")
    monkeypatch.setenv("AUSCULT_DATA_MIRROR", str(small_mirror))
    before = layout.dataset_digest(cfg, "pascal")
    victim = sorted((small_mirror / "pascal" / "set_b").glob("*.flac"))[0]
    victim.unlink()
    assert layout.dataset_digest(cfg, "pascal") != before
    with pytest.raises(MissingFileError) as e:
        acquire("pascal", tmp_path / "raw" / "pascal", mirror=small_mirror, progress=False)
    assert str(victim) in str(e.value) and "regenerate its SHA256SUMS" in str(e.value)
    (small_mirror / "pascal" / "set_a.csv").write_text("dataset,fname,label,sublabel\n")
    write_sha256sums(small_mirror / "pascal")
    sums = small_mirror / "pascal" / "SHA256SUMS"
    sums.write_text(sums.read_text().replace(sums.read_text()[:64], "0" * 64, 1))
    with pytest.raises(ChecksumError, match="regenerate its SHA256SUMS") as e:
        acquire("pascal", tmp_path / "raw" / "pascal", mirror=small_mirror, progress=False)
    assert str(small_mirror) in str(e.value) and pickle.loads(pickle.dumps(e.value)).hint


def test_pascal_unlabelled_challenge_recordings_are_not_errors(clean, tmp_path):
    """The Kaggle copy ships the unlabelled test recordings next to the labelled ones, named
    by CSV rows with an empty label: dropped by design (counted), never 'audio without a
    label row'."""
    root = Path(shutil.copytree(clean["base"] / "pascal", tmp_path / "pascal"))
    n = len(pascal.build_manifest(root, hash_audio=False))
    src = sorted((root / "set_a").glob("*.flac"))[0]
    shutil.copy(src, root / "set_a" / "Aunlabelledtest__201108222223.flac")
    shutil.copy(src, root / "set_a" / "Aunlabelledtest__201108222224.wav")
    with open(root / "set_a.csv", "a") as f:
        f.write("a,set_a/Aunlabelledtest__201108222223.wav,,\n")
    checks = Checks(bad_audio="error")
    assert len(pascal.build_manifest(root, hash_audio=False, checks=checks)) == n
    assert not checks.skipped


# --------------------------------------------------------------------------- console


def test_a_data_error_is_one_console_line_and_a_logged_traceback(tmp_path):
    log = tmp_path / "job.log"
    script = (
        "from auscult import runlog\n"
        f"runlog.setup({str(log)!r})\n"
        "from auscult.audio import AudioError\n"
        "def inner():\n"
        "    try:\n"
        "        raise KeyError('x')\n"
        "    except KeyError as e:\n"
        "        raise AudioError('data/raw/x/a.wav', '2 NaN/Inf sample(s)') from e\n"
        "inner()\n"
    )
    out = run_python(script)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.splitlines()[0] == "ERROR data/raw/x/a.wav: 2 NaN/Inf sample(s)"
    assert len(out.stderr.splitlines()) == 2 and str(log) in out.stderr
    assert "Traceback" in log.read_text() and "KeyError" in log.read_text()
    # a bug is not a data error: its traceback stays on the console
    bug = run_python(f"from auscult import runlog\nrunlog.setup({str(log)!r})\n1/0\n")
    assert "Traceback" in bug.stderr and "ZeroDivisionError" in bug.stderr


def test_problem_lines():
    from auscult.params import ParamsError
    from auscult.runlog import is_data_error, problem_lines

    e = ParamsError("invalid parameters:\n  a.b: bad\n  c: worse")
    assert problem_lines(e) == ["invalid parameters: a.b: bad", "invalid parameters: c: worse"]
    assert is_data_error(e) and is_data_error(AudioError("f", "p")) and not is_data_error(KeyError("k"))


# --------------------------------------------------------------------------- every problem at once


def _remove_physionet(root: Path, audio: Path) -> None:
    ref = audio.parent / "REFERENCE.csv"
    ref.write_text("".join(f"{ln}\n" for ln in ref.read_text().splitlines() if ln.split(",")[0] != audio.stem))
    audio.unlink()


def _remove_pascal(root: Path, audio: Path) -> None:
    table = root / f"{audio.parent.name}.csv"
    lines = table.read_text().splitlines()
    keep = [ln for ln in lines if Path(pascal.normalise_fname(ln.split(",")[1])).stem != audio.stem]
    assert len(keep) == len(lines) - 1
    table.write_text("\n".join(keep) + "\n")
    audio.unlink()


def _remove_icbhi(root: Path, audio: Path) -> None:
    split, aliases = root / icbhi2017.SPLIT_FILE, icbhi2017.read_aliases(root)  # the file may carry an old name
    names = {audio.stem} | {new for new, old in aliases.items() if old == audio.stem}
    split.write_text("".join(f"{ln}\n" for ln in split.read_text().splitlines() if ln.split()[0] not in names))
    audio.with_suffix(".txt").unlink()
    audio.unlink()


def _three_physionet(root: Path) -> list[Path]:
    return [replace_audio(root / "training-a", "a0002", nan_wav),
            replace_audio(root / "training-a", "a0005", _truncated),
            replace_audio(root / "training-b", "b0003", _write_zeros)]


def _three_pascal(root: Path) -> list[Path]:
    a, b = sorted((root / "set_a").glob("*.flac")), sorted((root / "set_b").glob("*.flac"))
    out = []
    for victim, writer in ((a[0], lambda p: nan_wav(p, sr=44100, n=44100)),
                           (b[1], lambda p: _write_zeros(p, sr=4000, n=8000)), (b[2], _truncated)):
        victim.unlink()
        out.append(victim.with_suffix(".wav"))
        writer(out[-1])
    return out


def _three_icbhi(root: Path) -> list[Path]:
    audio = _icbhi_audio(root)
    for p, writer in ((audio[0], lambda p, info: sf.write(str(p), np.zeros(info.frames), info.samplerate,
                                                          subtype="PCM_24")),
                      (audio[1], lambda p, info: nan_wav(p, sr=info.samplerate, n=info.frames)),
                      (audio[2], lambda p, info: p.write_bytes(p.read_bytes()[: info.frames]))):
        writer(p, sf.info(str(p)))
    return audio[:3]


THREE_BROKEN = {"physionet2016": (_three_physionet, _remove_physionet),
                "pascal": (_three_pascal, _remove_pascal),
                "icbhi2017": (_three_icbhi, _remove_icbhi)}


@pytest.mark.parametrize("ds", sorted(THREE_BROKEN))
def test_one_run_names_every_broken_recording_then_a_rerun_succeeds(clean, tmp_path, ds):
    root = Path(shutil.copytree(clean["base"] / ds, tmp_path / ds))
    n_good = len(ADAPTERS[ds].build_manifest(root, hash_audio=False))
    breaker, remove = THREE_BROKEN[ds]
    broken = breaker(root)
    with pytest.raises(ManifestError) as e:
        ADAPTERS[ds].build_manifest(root, hash_audio=False, checks=Checks(bad_audio="error"))
    head, *lines = str(e.value).splitlines()
    assert head == f"3 problems in dataset {ds}:"
    assert len(lines) == 3 and all(str(p) in line for p, line in zip(broken, lines, strict=True)), lines
    assert pickle.loads(pickle.dumps(e.value)).problems == e.value.problems
    for p in broken:
        remove(root, p)
    df = ADAPTERS[ds].build_manifest(root, hash_audio=False, checks=Checks(bad_audio="error"))
    key = "recording" if ds == "icbhi2017" else "record_id"
    assert df[key].nunique() == len(ADAPTERS[ds].build_manifest(clean["base"] / ds, hash_audio=False)[key]
                                    .unique()) - 3
    assert len(df) < n_good


def test_label_row_problems_are_collected_with_the_audio_ones(clean, tmp_path):
    """A malformed label row has no record to drop: it stops the build under either policy,
    and in the same run as every bad recording."""
    root = Path(shutil.copytree(clean["base"] / "physionet2016", tmp_path / "physionet2016"))
    nan = replace_audio(root / "training-a", "a0002", nan_wav)
    ref = root / "training-b" / "REFERENCE.csv"
    ref.write_text(ref.read_text().replace("b0005,", "b0005,x", 1))
    with pytest.raises(ManifestError) as e:
        physionet2016.build_manifest(root, hash_audio=False)
    lines = str(e.value).splitlines()
    assert lines[0] == "2 problems in dataset physionet2016:" and len(lines) == 3
    assert str(nan) in lines[1] and f"{ref}:5" in lines[2] and "label 1 or -1" in lines[2]
    checks = Checks(bad_audio="skip")
    with pytest.raises(ManifestError, match="label 1 or -1") as e:
        physionet2016.build_manifest(root, hash_audio=False, checks=checks)
    assert "\n" not in str(e.value) and [r["record_id"] for r in checks.skipped] == ["a0002"]


def test_many_problems_are_one_console_line_each():
    from auscult.datasets.checks import DatasetProblems
    from auscult.runlog import problem_lines

    e = DatasetProblems("pascal", ["set_a/x.wav: 2 NaN/Inf sample(s)", "set_b.csv:4: label row without audio"])
    assert problem_lines(e) == ["2 problems in dataset pascal: set_a/x.wav: 2 NaN/Inf sample(s)",
                                "2 problems in dataset pascal: set_b.csv:4: label row without audio"]
