"""PASCAL Classifying Heart Sounds Challenge 2011, in the Kaggle layout.

Layout (Kaggle ``kinguistics/heartbeat-sounds``, and the offline mirror)::

    root/set_a.csv  root/set_b.csv     dataset,fname,label,sublabel
    root/set_a/<class>__<timestamp>.wav|flac                       (44.1 kHz)
    root/set_b/<class>__<patient>_<timestamp>_<site>.wav|flac      (4 kHz)

Rows with an empty label are the unlabelled challenge test recordings and are dropped.
Binary label as in AudioFuse: normal -> 0; murmur, extrahls, extrastole and artifact -> 1.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import pandas as pd

from .checks import Checks
from .manifest import AUDIO_SUFFIXES, ManifestError, audio_files, find_audio, read_text, to_frame

NAME = "pascal"
log = logging.getLogger("auscult.datasets")

# The Kaggle copy needs a (free) Kaggle account: a download without credentials may be
# refused, in which case fetch the zip by hand or use a mirror. No published checksum.
SOURCES = [
    {
        "url": "https://www.kaggle.com/api/v1/datasets/download/kinguistics/heartbeat-sounds",
        "sha256": None,
        "archive_name": "heartbeat-sounds.zip",
        "extract_to": ".",
    },
]

SUBSETS = ("set_a", "set_b")
CLASSES = {"normal": 0, "murmur": 1, "extrahls": 1, "extrastole": 1, "artifact": 1}

_NOISY = re.compile(r"^Btraining_([a-z]+)_Btraining_(.+)$")
_PLAIN = re.compile(r"^Btraining_([a-z]+)_(.+)$")
_SET_B_PATIENT = re.compile(r"^[a-z]+_[a-z]*_(\d+)_")


def normalise_fname(fname: str) -> str:
    """Map a ``fname`` of the Kaggle CSVs to the relative path of the file on disk.

    The set B names in the CSVs keep the original challenge prefix, the files do not::

        set_b/Btraining_extrastole_127_..._C2.wav               -> set_b/extrastole__127_..._C2.wav
        set_b/Btraining_normal_Btraining_noisynormal_101_....wav -> set_b/normal_noisynormal_101_....wav

    Other names are returned unchanged.
    """
    folder, sep, base = fname.strip().replace("\\", "/").rpartition("/")
    if m := _NOISY.match(base):
        base = f"{m[1]}_{m[2]}"
    elif m := _PLAIN.match(base):
        base = f"{m[1]}__{m[2]}"
    return f"{folder}{sep}{base}"


def _resolve(root: Path, fname: str) -> Path | None:
    """Find the audio file a CSV ``fname`` names, trying the normalised name first."""
    for candidate in (normalise_fname(fname), fname.strip()):
        rel = Path(candidate)
        found = find_audio(root / rel.parent, rel.stem)
        if found is not None:
            return found
    # Last resort: a case-insensitive match of the normalised stem in the same folder.
    rel = Path(normalise_fname(fname))
    folder = root / rel.parent
    if folder.is_dir():
        wanted = rel.stem.lower()
        matches = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in AUDIO_SUFFIXES and p.stem.lower() == wanted
        )
        if matches:
            return matches[0]
    return None


def set_b_patient_id(stem: str) -> str:
    """The patient number in a set B file stem ('extrastole__127_1306..._C2' -> '127')."""
    m = _SET_B_PATIENT.match(stem)
    return m[1] if m else ""


def _table_rows(table: Path) -> list[dict]:
    """The rows of a set_x.csv (a ManifestError for a missing, binary or column-less file)."""
    if not table.is_file():
        raise ManifestError(f"{table}: label file not found (is this a PASCAL Kaggle root?)")
    with io.StringIO(read_text(table), newline="") as f:
        reader = csv.DictReader(f)
        try:
            rows = list(reader)
        except csv.Error as e:
            raise ManifestError(f"{table}: not a CSV file ({e})") from None
        missing_cols = {"fname", "label"} - set(reader.fieldnames or ())
        if missing_cols:
            raise ManifestError(f"{table}: missing column(s) {sorted(missing_cols)}")
    return rows


class _Seen:
    """What the CSV rows named so far: recordings, audio files, unlabelled test recordings."""

    def __init__(self):
        self.records: dict[str, str] = {}
        self.accounted: set[Path] = set()
        self.unlabelled_stems: set[str] = set()
        self.n_unlabelled = 0
        self.subsets: list[str] = []  # those whose CSV could be read

    def unlabelled(self, root: Path, fname: str) -> None:
        self.n_unlabelled += 1  # unlabelled challenge test recording
        found = _resolve(root, fname) if fname else None
        if found is not None:
            self.accounted.add(found.resolve())
        for name in (fname, normalise_fname(fname)):
            self.unlabelled_stems.add(Path(name).stem.lower())


def _row(root: Path, subset: str, table: Path, line_no: int, row: dict, seen: _Seen, checks: Checks,
         hash_audio: bool) -> dict | None:
    """The manifest row of one CSV row, or None (dropped, unlabelled, or a problem in ``checks``)."""
    original_class = (row["label"] or "").strip()
    fname = (row["fname"] or "").strip()
    if not original_class:
        seen.unlabelled(root, fname)
        return None
    where = f"{table}:{line_no} (fname {fname})"
    audio = _resolve(root, fname)
    if audio is not None:
        seen.accounted.add(audio.resolve())
    if original_class not in CLASSES:
        checks.problem(ManifestError(f"{where}: unknown label {original_class!r}; expected {sorted(CLASSES)}"))
        return None
    if audio is None:
        checks.reject(f"{table}:{line_no}", f"label row without audio: no audio file for "
                      f"{fname} (tried {normalise_fname(fname)} as .wav/.flac)",
                      record_id=Path(normalise_fname(fname)).stem, kind="no_audio")
        return None
    record_id = audio.stem
    if record_id in seen.records:
        checks.problem(ManifestError(f"{where}: recording {record_id} already in {seen.records[record_id]}"))
        return None
    seen.records[record_id] = where
    cols = checks.verify_audio(root, audio, record_id=record_id, label=original_class,
                               hash_audio=hash_audio, where=f"{table}:{line_no}")
    if cols is None:
        return None
    return {"record_id": record_id, "dataset": NAME, "label": CLASSES[original_class],
            "original_class": original_class, "subset": subset,
            "patient_id": set_b_patient_id(record_id) if subset == "set_b" else "",
            "official_split": "labelled", **cols}


def _reject_audio_without_row(root: Path, seen: _Seen, checks: Checks) -> None:
    """Reject the audio files of the readable subsets that no CSV row names (the challenge's
    unlabelled test recordings aside)."""
    for subset in seen.subsets:  # (a subset whose CSV is broken: its audio is not checked)
        for audio in audio_files(root / subset):
            stem = audio.stem.lower()
            # the challenge's unlabelled test recordings (Aunlabelledtest__..., Bunlabelledtest__...)
            # are named by rows with an empty label, whatever their spelling in the CSV
            if stem in seen.unlabelled_stems or "unlabelledtest" in stem:
                continue
            if audio.resolve() not in seen.accounted:
                checks.reject(audio, f"audio without a label row in {subset}.csv",
                              record_id=audio.stem, kind="unlabelled")
                seen.records.setdefault(audio.stem, str(audio))


def build_manifest(root: Path, *, hash_audio: bool = True, checks: Checks | None = None) -> pd.DataFrame:
    """One row per labelled PASCAL recording of set A and set B.

    ``checks`` (default: ``bad_audio: error``) decides what happens to bad recordings,
    labelled rows without audio and audio files that no CSV row names. Rows with an empty
    label (the unlabelled challenge test recordings) are dropped by design and counted.
    Every problem of every row is collected before the build stops (:meth:`Checks.finish`).
    """
    root = Path(root)
    checks = checks or Checks()
    rows = []
    seen = _Seen()
    for subset in SUBSETS:
        table = root / f"{subset}.csv"
        try:
            table_rows = _table_rows(table)
        except ManifestError as e:
            checks.problem(e)
            continue
        seen.subsets.append(subset)
        # Line 1 is the header, so data row i is on line i + 1.
        for line_no, row in enumerate(table_rows, start=2):
            got = _row(root, subset, table, line_no, row, seen, checks, hash_audio)
            if got is not None:
                rows.append(got)
    _reject_audio_without_row(root, seen, checks)
    if seen.n_unlabelled:
        log.info("pascal: %d CSV rows without a label (the challenge's unlabelled test "
                 "recordings) are not in the manifest, by design", seen.n_unlabelled)
    checks.report_absent(NAME, set(seen.records))
    checks.finish(NAME)
    if not rows:
        raise ManifestError(f"{root}: no labelled recordings in {', '.join(SUBSETS)}")
    return to_frame(rows)
