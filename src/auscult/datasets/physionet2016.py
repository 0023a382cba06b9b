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


def read_reference(path: Path) -> list[tuple[str, int, str, int]]:
    """Parse a REFERENCE.csv into ``(record, label, original_class, line_number)`` tuples."""
    if not path.is_file():
        raise ManifestError(f"{path}: REFERENCE.csv not found")
    out = []
    for line_no, row in enumerate(_csv_rows(path), start=1):
        row = [c.strip() for c in row]
        if not any(row):
            continue
        if len(row) < 2 or row[1] not in _LABELS or not row[0]:
            raise ManifestError(
                f"{path}:{line_no}: expected 'record,label' with label 1 or -1, got {row}"
            )
        label, original_class = _LABELS[row[1]]
        out.append((row[0], label, original_class, line_no))
    if not out:
        raise ManifestError(f"{path}: no records")
    return out


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
    test_labels = {}
    for record, label, _, line_no in read_reference(validation_ref):
        if record in test_labels:
            raise ManifestError(f"{validation_ref}:{line_no}: record {record} listed twice")
        test_labels[record] = (label, line_no)

    rows = []
    seen: dict[str, str] = {}
    for subset in subsets:
        ref = subset / "REFERENCE.csv"
        labelled = set()
        for record, label, original_class, line_no in read_reference(ref):
            where = f"{ref}:{line_no} (record {record})"
            if record in seen:
                raise ManifestError(f"{where}: record already listed in {seen[record]}")
            seen[record] = str(ref)
            labelled.add(record)
            audio = find_audio(subset, record)
            if audio is None:
                checks.reject(f"{ref}:{line_no}", f"label row without audio: no {record}.wav or "
                              f"{record}.flac in {subset}", record_id=record, kind="no_audio")
                continue
            split = "train"
            if record in test_labels:
                test_label, test_line = test_labels[record]
                if test_label != label:
                    raise ManifestError(
                        f"{validation_ref}:{test_line}: record {record} labelled {test_label}, "
                        f"but {label} in {ref}:{line_no}"
                    )
                split = "test"
            cols = checks.verify_audio(root, audio, record_id=record, label=original_class,
                                       hash_audio=hash_audio, where=f"{ref}:{line_no}")
            if cols is None:
                continue
            rows.append(
                {
                    "record_id": record,
                    "dataset": NAME,
                    "label": label,
                    "original_class": original_class,
                    "subset": subset.name,
                    "patient_id": "",  # PhysioNet 2016 does not publish patient ids
                    "official_split": split,
                    **cols,
                }
            )
        for audio in audio_files(subset):
            if audio.stem not in labelled:
                checks.reject(audio, f"audio without a label row in {ref}", record_id=audio.stem,
                              kind="unlabelled")
                seen.setdefault(audio.stem, str(audio))

    missing = sorted(set(test_labels) - set(seen))
    pinned = set(checks.pins.pcm) if checks.pins is not None else set()
    # A pinned recording removed from the copy altogether (audio and label row) is reported
    # as absent, also where the validation list still names it.
    unknown = [r for r in missing if r not in pinned]
    if unknown:
        if checks.bad_audio == "error":
            raise ManifestError(
                f"{validation_ref}: {len(unknown)} validation record(s) not in any training-* "
                f"subset, e.g. {unknown[:5]}"
            )
        for record in unknown:
            checks.reject(f"{validation_ref}:{test_labels[record][1]}", f"validation record "
                          f"{record} is in no training-* subset", record_id=record, kind="no_audio")
    checks.report_absent(NAME, set(seen))
    if not rows:
        raise ManifestError(f"{root}: no usable recordings ({len(checks.skipped)} skipped)")
    return to_frame(rows)
