"""PhysioNet/CinC Challenge 2016 heart sounds (training-a ... training-f + validation list).

Layout (canonical ``training.zip``/``validation.zip`` after acquire, or the offline mirror)::

    root/training-a/REFERENCE.csv   record,label  (no header; 1 abnormal, -1 normal)
    root/training-a/a0001.wav|flac
    ...
    root/validation/REFERENCE.csv   the 301 official validation records

The validation recordings are copies of training-x recordings. They are the test set of
the reproduced papers, so each record appears once in the manifest: ``official_split`` is
'test' for the validation records and 'train' for the others.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from .checks import Checks
from .manifest import ManifestError, audio_files, find_audio, read_text, to_frame

NAME = "physionet2016"

_BASE = "https://physionet.org/files/challenge-2016/1.0.0"
# No checksum of the canonical archives is published (see the data README), hence None.
# training.zip holds a top folder 'training/' around training-a ... training-f.
SOURCES = [
    {
        "url": f"{_BASE}/training.zip",
        "sha256": None,
        "archive_name": "training.zip",
        "extract_to": ".",
        "strip_prefix": "training/",
    },
    {
        "url": f"{_BASE}/validation.zip",
        "sha256": None,
        "archive_name": "validation.zip",
        "extract_to": ".",
    },
]

_LABELS = {"1": (1, "abnormal"), "-1": (0, "normal")}


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(read_text(path), newline="")))
    except csv.Error as e:
        raise ManifestError(f"{path}: not a CSV file ({e})") from None


def read_reference(path: Path, checks: Checks | None = None) -> list[tuple[str, int | None, str, int]]:
    """Parse a REFERENCE.csv into ``(record, label, original_class, line_number)`` tuples.

    Without ``checks`` the first malformed row raises; with it every malformed row is a
    :meth:`Checks.problem` and comes back with label None (its record is still named, so its
    audio is not reported a second time as audio without a label row).
    """
    if not path.is_file():
        raise ManifestError(f"{path}: REFERENCE.csv not found")
    out = []
    for line_no, row in enumerate(_csv_rows(path), start=1):
        row = [c.strip() for c in row]
        if not any(row):
            continue
        if len(row) < 2 or row[1] not in _LABELS or not row[0]:
            error = ManifestError(f"{path}:{line_no}: expected 'record,label' with label 1 or -1, got {row}")
            if checks is None:
                raise error
            checks.problem(error)
            out.append((row[0], None, "", line_no))
            continue
        label, original_class = _LABELS[row[1]]
        out.append((row[0], label, original_class, line_no))
    if not out:
        raise ManifestError(f"{path}: no records")
    return out


def _reference(path: Path, checks: Checks) -> list[tuple[str, int | None, str, int]] | None:
    """:func:`read_reference` whose whole-file problems (missing, not text, empty) are collected
    (then None)."""
    try:
        return read_reference(path, checks)
    except ManifestError as e:
        checks.problem(e)
        return None


def _test_labels(validation_ref: Path, checks: Checks) -> dict[str, tuple[int | None, int]]:
    """record -> (label, line) of the official validation list."""
    test_labels: dict[str, tuple[int | None, int]] = {}
    for record, label, _, line_no in _reference(validation_ref, checks) or []:
        if record in test_labels:
            checks.problem(ManifestError(f"{validation_ref}:{line_no}: record {record} listed twice"))
            continue
        test_labels[record] = (label, line_no)
    return test_labels


def _subset_rows(root: Path, subset: Path, validation: tuple[Path, dict], seen: dict[str, str],
                 checks: Checks, hash_audio: bool) -> list[dict]:
    """Manifest rows of one training-x folder; every problem goes to ``checks``."""
    ref = subset / "REFERENCE.csv"
    validation_ref, test_labels = validation
    rows, labelled = [], set()
    reference = _reference(ref, checks)
    if reference is None:  # unreadable: its audio is neither 'without a label row' nor missing
        for audio in audio_files(subset):
            seen.setdefault(audio.stem, str(ref))
        return []
    for record, label, original_class, line_no in reference:
        where = f"{ref}:{line_no}"
        if record in seen:
            checks.problem(ManifestError(f"{where} (record {record}): record already listed in {seen[record]}"))
            continue
        seen[record] = str(ref)
        labelled.add(record)
        if label is None:
            continue  # a malformed row: already a problem
        audio = find_audio(subset, record)
        if audio is None:
            checks.reject(where, f"label row without audio: no {record}.wav or {record}.flac in {subset}",
                          record_id=record, kind="no_audio")
            continue
        test_label, test_line = test_labels.get(record, (None, 0))
        if test_line and test_label is not None and test_label != label:
            checks.problem(ManifestError(f"{validation_ref}:{test_line}: record {record} labelled {test_label}, "
                                         f"but {label} in {where}"))
        cols = checks.verify_audio(root, audio, record_id=record, label=original_class,
                                   hash_audio=hash_audio, where=where)
        if cols is None:
            continue
        rows.append({"record_id": record, "dataset": NAME, "label": label, "original_class": original_class,
                     "subset": subset.name,
                     "patient_id": "",  # PhysioNet 2016 does not publish patient ids
                     "official_split": "test" if test_line else "train", **cols})
    for audio in audio_files(subset):
        if audio.stem not in labelled:
            checks.reject(audio, f"audio without a label row in {ref}", record_id=audio.stem, kind="unlabelled")
            seen.setdefault(audio.stem, str(audio))
    return rows


def build_manifest(root: Path, *, hash_audio: bool = True, checks: Checks | None = None) -> pd.DataFrame:
    """One row per training recording, the official validation records marked 'test'.

    ``checks`` (default: ``bad_audio: error``, no minimum length, no pins) decides what
    happens to bad recordings, label rows without audio and audio without a label row.
    """
    root = Path(root)
    checks = checks or Checks()
    subsets = sorted(p for p in root.glob("training-*") if p.is_dir())
    if not subsets:
        raise ManifestError(f"{root}: no training-* folders (is this a PhysioNet 2016 root?)")

    validation_ref = root / "validation" / "REFERENCE.csv"
    test_labels = _test_labels(validation_ref, checks)

    rows: list[dict] = []
    seen: dict[str, str] = {}
    for subset in subsets:
        rows += _subset_rows(root, subset, (validation_ref, test_labels), seen, checks, hash_audio)

    missing = sorted(set(test_labels) - set(seen))
    pinned = set(checks.pins.pcm) if checks.pins is not None else set()
    # A pinned recording removed from the copy altogether (audio and label row) is reported
    # as absent, also where the validation list still names it.
    unknown = [r for r in missing if r not in pinned]
    for record in unknown:
        checks.reject(f"{validation_ref}:{test_labels[record][1]}", "validation record not in any "
                      f"training-* subset: {record}", record_id=record, kind="no_audio")
    checks.report_absent(NAME, set(seen))
    checks.finish(NAME)
    if not rows:
        raise ManifestError(f"{root}: no usable recordings ({len(checks.skipped)} skipped)")
    return to_frame(rows)
