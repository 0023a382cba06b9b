"""Folder datasets (``kind: folder``): any labelled heart-sound collection in one layout.

Layout::

    root/labels.csv      record,label[,class,patient_id,site]   (UTF-8, BOM and CRLF accepted)
    root/audio/**        <record>.wav | <record>.flac            (any case, any depth)

- ``record`` is the audio file's stem (a ``.wav``/``.flac`` suffix in the CSV is ignored);
  matched exactly, else case-insensitively when that is unique.
- ``label``: ``1``/``abnormal`` -> 1, ``0``/``normal`` -> 0 (words case-insensitive;
  ``-1`` = normal, PhysioNet's convention). Anything else stops with ``<file>:<line>: ...``.
- ``class`` (optional) is kept as ``original_class`` (default: the label word),
  ``patient_id`` and ``site`` are kept too (``site`` as an extra manifest column); other
  columns are ignored (logged). Header names are case-insensitive.
- Audio at any sample rate, bit depth and channel count (the feature recipes resample and
  down-mix). Every file is decoded and checked (``bad_audio`` policy of
  :mod:`auscult.datasets.checks`); a label row without audio (``no_audio``) and audio
  without a label row (``unlabelled``) follow the same policy. Two audio files with one
  stem, or one record listed twice, always stop the run (which one would be meant?).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pandas as pd

from .checks import Checks
from .manifest import AUDIO_SUFFIXES, ManifestError, read_text, to_frame

log = logging.getLogger("auscult.datasets")
NAME = "folder"
SOURCES: list = []  # a folder dataset has no canonical download
LABELS_FILE = "labels.csv"
AUDIO_DIR = "audio"
OPTIONAL_COLUMNS = ("class", "patient_id", "site")
LABEL_WORDS = {"0": 0, "normal": 0, "-1": 0, "1": 1, "abnormal": 1}


def parse_label(value: str) -> int | None:
    v = (value or "").strip().lower()
    if v in ("0.0", "1.0", "-1.0"):
        v = v[:-2]
    return LABEL_WORDS.get(v)


def audio_index(audio_root: Path, checks: Checks | None = None) -> dict[str, Path]:
    """{stem: file} of every .wav/.flac (any case) under ``audio_root``. A stem twice is an
    error, raised at once or (with ``checks``) collected, the first file kept."""
    out: dict[str, Path] = {}
    for p in sorted(audio_root.rglob("*"), key=lambda q: q.as_posix()):
        if not p.is_file() or p.suffix.lower() not in AUDIO_SUFFIXES or p.name.startswith("."):
            continue
        if p.stem in out:
            error = ManifestError(f"{p}: two audio files for record {p.stem!r} (also {out[p.stem]}): "
                                  "records are named by file stem and must be unique")
            if checks is None:
                raise error
            checks.problem(error)
            continue
        out[p.stem] = p
    return out


def _record_name(value: str) -> str:
    rec = (value or "").strip()
    name = rec.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in AUDIO_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _header(table: Path) -> tuple[list[str], list[list[str]]]:
    """(lower-case header, data lines) of labels.csv; a ManifestError when it cannot be used."""
    try:
        lines = list(csv.reader(io.StringIO(read_text(table), newline="")))
    except csv.Error as e:
        raise ManifestError(f"{table}: not a CSV file ({e})") from None
    if not lines:
        raise ManifestError(f"{table}:1: empty file (expected a header record,label)")
    header = [h.strip().lower() for h in lines[0]]
    while header and not header[-1]:
        header.pop()  # a trailing delimiter ("record,label,")
    missing = [c for c in ("record", "label") if c not in header]
    if missing:
        raise ManifestError(f"{table}:1: missing column(s) {missing} (header is {lines[0]})")
    dup = sorted({h for h in header if h and header.count(h) > 1})
    if dup:
        raise ManifestError(f"{table}:1: column(s) {dup} appear twice")
    extra = [h for h in header if h not in ("record", "label", *OPTIONAL_COLUMNS)]
    if extra:
        log.warning("%s: column(s) %s are not used (used: record, label, %s)", table, extra,
                    ", ".join(OPTIONAL_COLUMNS))
    return header, lines[1:]


def _fields(table: Path, line_no: int, values: list[str], header: list[str]) -> dict[str, str] | None:
    """{column: value} of one data line (None for a blank line); a ManifestError when malformed."""
    if not any(v.strip() for v in values):
        return None
    if len(values) > len(header) and not any(v.strip() for v in values[len(header):]):
        values = values[: len(header)]  # trailing delimiters
    if len(values) != len(header):
        raise ManifestError(f"{table}:{line_no}: {len(values)} field(s), the header has {len(header)}")
    get = {h: values[i].strip() for i, h in enumerate(header) if h in ("record", "label", *OPTIONAL_COLUMNS)}
    get["record"] = _record_name(get["record"])
    if not get["record"]:
        raise ManifestError(f"{table}:{line_no}: empty record name")
    return get


class _Audio:
    """The audio files of a folder dataset, looked up by record name (exact, else a unique
    case-insensitive match)."""

    def __init__(self, files: dict[str, Path]):
        self.files = files
        self.lower: dict[str, list[str]] = {}
        for stem in files:
            self.lower.setdefault(stem.lower(), []).append(stem)

    def stem(self, record: str) -> str | None:
        if record in self.files:
            return record
        matches = self.lower.get(record.lower(), [])
        return matches[0] if len(matches) == 1 else None


def build_manifest(root: Path, *, hash_audio: bool = True, checks: Checks | None = None,
                   dataset: str = NAME) -> pd.DataFrame:
    """One manifest row per labelled recording of the folder dataset at ``root``. Every row and
    recording is checked before the build stops with all the problems (:meth:`Checks.finish`)."""
    root = Path(root)
    checks = checks or Checks()
    table = root / LABELS_FILE
    audio_root = root / AUDIO_DIR
    if not table.is_file():
        raise ManifestError(f"{table}: label file not found (a folder dataset holds labels.csv and audio/)")
    if not audio_root.is_dir():
        raise ManifestError(f"{audio_root}: audio folder not found (a folder dataset holds labels.csv and audio/)")
    header, lines = _header(table)
    audio = _Audio(audio_index(audio_root, checks))
    rows, seen, used = [], {}, set()
    for line_no, values in enumerate(lines, start=2):
        try:
            get = _fields(table, line_no, values, header)
        except ManifestError as e:
            checks.problem(e)
            continue
        if get is None:
            continue  # blank line
        row = _row(root, table, line_no, get, audio, (seen, used), checks, hash_audio)
        if row is not None:
            rows.append(dict(row, dataset=dataset))
    for stem, path in audio.files.items():
        if stem not in used:
            checks.reject(path, f"audio without a label row in {table}", record_id=stem, kind="unlabelled")
    checks.finish(dataset)
    if not rows:
        raise ManifestError(f"{table}: no labelled recordings")
    return to_frame(rows, {"site": "object"})


def _row(root: Path, table: Path, line_no: int, get: dict[str, str], audio: _Audio,
         seen_used: tuple[dict, set], checks: Checks, hash_audio: bool) -> dict | None:
    """The manifest row of one label line, or None (a problem or a skipped record in ``checks``)."""
    seen, used = seen_used
    record = get["record"]
    if record in seen:
        checks.problem(ManifestError(f"{table}:{line_no}: record {record} is listed twice "
                                     f"(first on line {seen[record]})"))
        return None
    seen[record] = line_no
    stem = audio.stem(record)
    if stem is not None:
        used.add(stem)  # also for a bad label: its audio is not 'without a label row'
    label = parse_label(get["label"])
    if label is None:
        checks.problem(ManifestError(f"{table}:{line_no}: label {get['label']!r} of {record} is not one of "
                                     "0, 1, -1, normal, abnormal"))
        return None
    if stem is None:
        checks.reject(f"{table}:{line_no}", f"label row without audio: no {AUDIO_DIR}/**/{record}.wav|.flac",
                      record_id=record, kind="no_audio")
        return None
    cols = checks.verify_audio(root, audio.files[stem], record_id=stem, label=None, hash_audio=hash_audio,
                               where=f"{table}:{line_no}")
    if cols is None:
        return None
    word = "abnormal" if label else "normal"
    return {"record_id": stem, "label": label, "original_class": get.get("class") or word, "subset": "",
            "patient_id": get.get("patient_id", ""), "official_split": "labelled", "site": get.get("site", ""),
            **cols}


def acquire_folder(name: str, src: Path, dest: Path) -> Path:
    """Copy the folder dataset at ``src`` into ``dest`` (atomically) and verify it: against
    ``src/SHA256SUMS`` when the folder has one (it must list every file copied), else
    against the checksums computed from ``src`` at acquisition (recorded as the copy's
    ``SHA256SUMS``). Only ``labels.csv`` and the audio files under ``audio/`` are copied;
    a symbolic link out of ``src`` is refused (:func:`auscult.datasets.acquire.source_files`)."""
    import hashlib

    from auscult.atomic import atomic_dir, write_json

    from . import acquire as acq

    src = Path(src)
    if not src.is_dir():
        raise acq.MissingFileError(f"{src}: folder dataset {name!r} not found")
    files = {p.relative_to(src).as_posix(): p for p in acq.source_files(src)}
    wanted = sorted(rel for rel in files if _dataset_file(rel))
    if len(wanted) < len(files):
        log.info("%s: %d file(s) that are neither %s nor audio under %s/ are not copied", src,
                 len(files) - len(wanted), LABELS_FILE, AUDIO_DIR)
    own = (src / "SHA256SUMS").is_file()
    with atomic_dir(dest) as tmp:
        sums = _own_sums(src, wanted) if own else {rel: acq.sha256_file(files[rel]) for rel in wanted}
        for rel in wanted:
            acq._copy(files[rel], tmp / rel)
        (tmp / "SHA256SUMS").write_text("".join(f"{sums[rel]}  ./{rel}\n" for rel in sorted(sums)))
        try:
            n = acq.verify_sha256sums(tmp)
        except (acq.ChecksumError, acq.MissingFileError, acq.SumsFileError) as e:
            raise type(e)(*acq._mirror_args(e, tmp, src)) from None
        write_json(tmp / acq.ACQUIRED_FILE, {
            "dataset": name, "source": "mirror", "origin": str(src), "n_files": n,
            "verified_by": "the folder's SHA256SUMS" if own else
            "sha256 of every file computed at acquisition (the folder has no SHA256SUMS)",
            "sha256sums_sha256": hashlib.sha256((tmp / "SHA256SUMS").read_bytes()).hexdigest()})
    return dest


def _dataset_file(rel: str) -> bool:
    """Whether ``rel`` (a posix path relative to the folder) is part of the dataset."""
    parts = rel.split("/")
    if rel == LABELS_FILE:
        return True
    name = parts[-1]
    return (len(parts) > 1 and parts[0] == AUDIO_DIR and not name.startswith(".")
            and Path(name).suffix.lower() in AUDIO_SUFFIXES)


def _own_sums(src: Path, wanted: list[str]) -> dict[str, str]:
    """The lines of ``src/SHA256SUMS`` for the dataset's files; each copied file must be
    listed (a partial checksum file would let the others in unchecked), and a listed
    dataset file that is gone shows up as missing when the copy is verified."""
    from . import acquire as acq

    listed = acq.read_sha256sums(src / "SHA256SUMS")
    unlisted = [rel for rel in wanted if rel not in listed]
    if unlisted:
        raise acq.SumsFileError(f"{src / 'SHA256SUMS'}: does not list {len(unlisted)} file(s) of the folder, "
                                f"e.g. {unlisted[:3]} (a partial checksum file is refused)")
    return {rel: digest for rel, digest in listed.items() if _dataset_file(rel)}
