"""ICBHI 2017 Respiratory Sound Database: one manifest row per annotated breathing cycle.

Layouts accepted (all resolve to the same manifest)::

    canonical zip   root/ICBHI_final_database/<rec>.wav + <rec>.txt   (one folder for both)
    offline mirror  root/audio/<rec>.wav|flac   root/annotations/<rec>.txt
    flat            root/<rec>.wav + root/<rec>.txt
    always          root/ICBHI_challenge_train_test.txt   "<rec>\\t<train|test>" (920 lines)
                    root/ICBHI_Challenge_diagnosis.txt     "<patient>\\t<diagnosis>"
                    root/filename_differences.txt          (optional, see below)

``<rec>`` = ``<patient>_<index>_<location>_<acq mode>_<device>``. Each annotation line is
``start_s end_s crackles(0/1) wheezes(0/1)``; 4-class label (0,0)->0 normal, (1,0)->1
crackle, (0,1)->2 wheeze, (1,1)->3 both.

``filename_differences.txt`` lists 91 *old* names (device suffix ``AKGC417L`` or
``LittC2SE``) of recordings that the split file and the final database call ``..._Meditron``
(e.g. ``'101_1b1_Al_sc_AKGC417L'`` is ``101_1b1_Al_sc_Meditron``). Downloads of the
database differ in which spelling the files carry, so each recording's audio/annotation is
looked up under the split-file name first and under its old alias second; the manifest
always uses the split-file (Meditron) name.

Audio: 4 kHz, 10 kHz and 44.1 kHz, 16/24/32-bit PCM; the audio columns describe the whole
recording (every cycle row of a recording repeats them). A recording listed in the split
file without audio is a :class:`ManifestError` naming the file; a folder filled by
:func:`auscult.datasets.synthetic_icbhi.fill_missing_audio` has audio for all of them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from .checks import Checks
from .manifest import ManifestError, audio_files, find_audio, read_text, to_frame

NAME = "icbhi2017"

_BASE = "https://bhichallenge.med.auth.gr/sites/default/files/ICBHI_final_database"
# No published checksums (data README). The zip holds a top folder ICBHI_final_database/.
SOURCES = [
    {
        "url": f"{_BASE}/ICBHI_final_database.zip",
        "sha256": None,
        "archive_name": "ICBHI_final_database.zip",
        "extract_to": ".",
    },
    {
        "url": f"{_BASE}/ICBHI_challenge_train_test.txt",
        "sha256": None,
        "archive_name": "ICBHI_challenge_train_test.txt",
        "extract_to": ".",
        "extract": False,
    },
    {
        "url": f"{_BASE}/ICBHI_Challenge_diagnosis.txt",
        "sha256": None,
        "archive_name": "ICBHI_Challenge_diagnosis.txt",
        "extract_to": ".",
        "extract": False,
    },
]

SPLIT_FILE = "ICBHI_challenge_train_test.txt"
DIAGNOSIS_FILE = "ICBHI_Challenge_diagnosis.txt"
DIFFERENCES_FILE = "filename_differences.txt"
# Folders searched, in order, for annotation and audio files.
ANNOTATION_DIRS = ("annotations", "ICBHI_final_database", ".")
AUDIO_DIRS = ("audio", "ICBHI_final_database", ".")

CLASSES = ("normal", "crackle", "wheeze", "both")
EXTRA_COLUMNS = {
    "recording": "str",
    "device": "str",
    "location": "str",
    "diagnosis": "str",
    "cycle_index": "int64",
    "cycle_start": "float64",
    "cycle_end": "float64",
}
_REC = re.compile(r"^(\d+)_([0-9a-z]+)_([A-Za-z]+)_([a-z]+)_([A-Za-z0-9]+)$")


def parse_recording(name: str) -> dict[str, str]:
    """Fields of a recording name ('101_1b1_Al_sc_Meditron')."""
    m = _REC.match(name)
    if not m:
        raise ManifestError(f"{name!r}: not an ICBHI recording name (patient_index_location_mode_device)")
    return {"patient_id": m[1], "index": m[2], "location": m[3], "mode": m[4], "device": m[5]}


def cycle_label(crackle: int, wheeze: int) -> int:
    """4-class label of a cycle from its crackle/wheeze flags."""
    return int(crackle) + 2 * int(wheeze)


def read_split(root: Path, checks: Checks | None = None) -> dict[str, str]:
    """The official split: recording name -> 'train' | 'test'. A malformed line raises, or
    with ``checks`` is a :meth:`Checks.problem` and is left out."""
    path = Path(root) / SPLIT_FILE
    if not path.is_file():
        raise ManifestError(f"{path}: official split file not found (is this an ICBHI 2017 root?)")
    split: dict[str, str] = {}
    for line_no, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            name, part = _split_line(path, line_no, line, split)
        except ManifestError as e:
            if checks is None:
                raise
            checks.problem(e)
            continue
        split[name] = part
    if not split:
        raise ManifestError(f"{path}: empty split file")
    return split


def _split_line(path: Path, line_no: int, line: str, split: dict[str, str]) -> tuple[str, str]:
    parts = line.split()
    if len(parts) != 2 or parts[1] not in ("train", "test"):
        raise ManifestError(f"{path}:{line_no}: expected '<recording> train|test', got {line!r}")
    if parts[0] in split:
        raise ManifestError(f"{path}:{line_no}: recording {parts[0]} listed twice")
    try:
        parse_recording(parts[0])
    except ManifestError as e:
        raise ManifestError(f"{path}:{line_no}: {e}") from None
    return parts[0], parts[1]


def read_diagnosis(root: Path) -> dict[str, str]:
    """Patient id -> diagnosis ('' for all when the file is absent)."""
    path = Path(root) / DIAGNOSIS_FILE
    if not path.is_file():
        raise ManifestError(f"{path}: diagnosis file not found")
    out = {}
    for line_no, line in enumerate(read_text(path).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ManifestError(f"{path}:{line_no}: expected '<patient> <diagnosis>', got {line!r}")
        out[parts[0]] = parts[1]
    return out


def read_aliases(root: Path) -> dict[str, str]:
    """Split-file (Meditron) name -> old name, from ``filename_differences.txt`` ({} if absent)."""
    path = Path(root) / DIFFERENCES_FILE
    if not path.is_file():
        return {}
    aliases = {}
    for line in read_text(path).splitlines():
        old = line.strip().strip("'\"")
        if not old:
            continue
        fields = parse_recording(old)
        new = old[: -len(fields["device"])] + "Meditron"
        aliases[new] = old
    return aliases


def read_cycles(path: Path) -> list[tuple[float, float, int, int]]:
    """The (start, end, crackle, wheeze) rows of one annotation file."""
    rows = []
    for line_no, line in enumerate(read_text(Path(path)).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            start, end, crackle, wheeze = float(parts[0]), float(parts[1]), int(parts[2]), int(parts[3])
        except (ValueError, IndexError):
            raise ManifestError(f"{path}:{line_no}: expected 'start end crackles wheezes', got {line!r}") from None
        if crackle not in (0, 1) or wheeze not in (0, 1) or not end > start >= 0 or not math.isfinite(end):
            raise ManifestError(f"{path}:{line_no}: invalid cycle {line!r}")
        rows.append((start, end, crackle, wheeze))
    if not rows:
        raise ManifestError(f"{path}: no annotated cycles")
    return rows


def _first(root: Path, folders: tuple[str, ...], names: tuple[str, ...], finder) -> Path | None:
    for folder in folders:
        d = root / folder
        if not d.is_dir():
            continue
        for name in names:
            found = finder(d, name)
            if found is not None:
                return found
    return None


def _txt(folder: Path, stem: str) -> Path | None:
    p = folder / f"{stem}.txt"
    return p if p.is_file() else None


def annotation_path(root: Path, recording: str, aliases: dict[str, str]) -> Path | None:
    names = (recording, aliases[recording]) if recording in aliases else (recording,)
    return _first(Path(root), ANNOTATION_DIRS, names, _txt)


def audio_path(root: Path, recording: str, aliases: dict[str, str]) -> Path | None:
    names = (recording, aliases[recording]) if recording in aliases else (recording,)
    return _first(Path(root), AUDIO_DIRS, names, find_audio)


def _annotation_problem(checks: Checks, ann: Path, recording: str, part: str) -> str | None:
    """Pinned-checksum problem of one recording's split entry or annotation file, if any."""
    pins = checks.pins
    if pins is None:
        return None
    if recording not in pins.split:
        return f"pinned split of {NAME} has no recording {recording!r} (not canonical data)"
    if pins.split[recording] != part:
        return f"pinned split puts {recording} in {pins.split[recording]!r}, this copy in {part!r}"
    from auscult.audio import sha256_file

    by_name = {Path(k).name: v for k, v in pins.files.items()}
    want = by_name.get(ann.name, by_name.get(f"{recording}.txt"))
    if want is not None and sha256_file(ann) != want:
        return "pinned checksum mismatch: annotation file differs from the canonical one"
    return None


def cycle_table(root: Path, checks: Checks | None = None) -> pd.DataFrame:
    """Every annotated cycle of the split file's recordings, without audio columns.

    Columns: record_id, label, original_class, patient_id, official_split, recording,
    device, location, diagnosis, cycle_index, cycle_start, cycle_end, acq_mode. Needs only
    the text files, so it works on a folder whose audio is (still) missing. ``checks``
    decides what a split entry without annotation file does (default: error); every problem
    is collected before it stops (:meth:`Checks.finish`).
    """
    checks = checks or Checks()
    table = _cycles(Path(root), read_split(root, checks), checks)
    checks.finish(NAME)
    return table


CYCLE_COLUMNS = ["record_id", "label", "original_class", "patient_id", "official_split", "recording", "device",
                 "location", "diagnosis", "cycle_index", "cycle_start", "cycle_end", "acq_mode"]


def _check_diagnosis_pin(root: Path, checks: Checks) -> None:
    if checks.pins is not None and DIAGNOSIS_FILE in checks.pins.files:
        from auscult.audio import sha256_file

        if sha256_file(root / DIAGNOSIS_FILE) != checks.pins.files[DIAGNOSIS_FILE]:
            checks.problem(ManifestError(f"{root / DIAGNOSIS_FILE}: pinned checksum mismatch "
                                         "(not the canonical file)"))


def _recording_cycles(ann: Path, recording: str, part: str, diagnosis: dict[str, str]) -> list[dict]:
    fields = parse_recording(recording)
    rows = []
    for i, (start, end, crackle, wheeze) in enumerate(read_cycles(ann)):
        label = cycle_label(crackle, wheeze)
        rows.append({
            "record_id": f"{recording}_c{i:03d}", "label": label, "original_class": CLASSES[label],
            "patient_id": fields["patient_id"], "official_split": part, "recording": recording,
            "device": fields["device"], "location": fields["location"],
            "diagnosis": diagnosis.get(fields["patient_id"], ""), "cycle_index": i, "cycle_start": start,
            "cycle_end": end, "acq_mode": fields["mode"],
        })
    return rows


def _cycles(root: Path, split: dict[str, str], checks: Checks) -> pd.DataFrame:
    """:func:`cycle_table` of the recordings in ``split``; problems are left in ``checks``."""
    try:
        diagnosis = read_diagnosis(root)
    except ManifestError as e:
        checks.problem(e)
        diagnosis = {}
    aliases = read_aliases(root)
    _check_diagnosis_pin(root, checks)
    rows = []
    for recording, part in sorted(split.items()):
        ann = annotation_path(root, recording, aliases)
        if ann is None:
            checks.reject(f"{root / SPLIT_FILE} (recording {recording})",
                          f"no annotation file {recording}.txt", record_id=recording, kind="no_audio")
            continue
        problem = _annotation_problem(checks, ann, recording, part)
        if problem is not None:
            checks.reject(ann, problem, record_id=recording, kind="pinned")
            continue
        try:
            rows += _recording_cycles(ann, recording, part, diagnosis)
        except ManifestError as e:
            checks.problem(e)
    return pd.DataFrame(rows, columns=CYCLE_COLUMNS)


def build_manifest(root: Path, *, hash_audio: bool = True, checks: Checks | None = None) -> pd.DataFrame:
    """One row per breathing cycle of every recording in the official split file."""
    root = Path(root)
    checks = checks or Checks()
    split = read_split(root, checks)
    cycles = _cycles(root, split, checks)
    aliases = read_aliases(root)
    rows = []
    accounted: set[Path] = set()
    for recording, group in cycles.groupby("recording", sort=True):
        rows += _recording_rows(root, recording, group, aliases, accounted, checks, hash_audio)
    known = set(split) | set(aliases.values())
    for folder in AUDIO_DIRS:
        for audio in audio_files(root / folder):
            if audio.resolve() not in accounted and audio.stem not in known:
                checks.reject(audio, f"audio without an entry in {SPLIT_FILE}",
                              record_id=audio.stem, kind="unlabelled")
    checks.report_absent(NAME, set(split))
    checks.finish(NAME)
    if not rows:
        raise ManifestError(f"{root}: no usable recordings ({len(checks.skipped)} skipped)")
    return to_frame(rows, EXTRA_COLUMNS)


def _recording_rows(root: Path, recording: str, group: pd.DataFrame, aliases: dict[str, str],
                    accounted: set[Path], checks: Checks, hash_audio: bool) -> list[dict]:
    """The manifest rows (one per cycle) of one recording, or none: its audio is missing, bad,
    or shorter than a cycle's start (each a problem or a skipped record in ``checks``). Its
    audio file joins ``accounted``."""
    where = f"{root / SPLIT_FILE} (recording {recording})"
    audio = audio_path(root, recording, aliases)
    if audio is None:
        checks.reject(where, f"label row without audio: no audio file {recording}.wav/.flac "
                      f"(looked in {', '.join(AUDIO_DIRS)}); provide the recording, or fill "
                      f"missing audio with 'missing_audio: synthesise'",
                      record_id=recording, kind="no_audio")
        return []
    accounted.add(audio.resolve())
    audio_cols = checks.verify_audio(root, audio, record_id=recording, label=None,
                                     hash_audio=hash_audio, where=str(root / SPLIT_FILE))
    if audio_cols is None:
        return []
    outside = group[group["cycle_start"] >= audio_cols["duration_s"]]
    if len(outside):
        ann = annotation_path(root, recording, aliases)
        checks.reject(ann, f"{len(outside)} annotated cycle(s) start after the end of the audio "
                      f"({audio_cols['duration_s']:.2f} s), e.g. at {outside['cycle_start'].iloc[0]:g} s",
                      record_id=recording, kind="bad_audio")
        return []
    return [{**row, "dataset": NAME, "subset": row.pop("acq_mode"), **audio_cols}
            for row in group.to_dict("records")]


def class_counts(manifest: pd.DataFrame) -> dict[str, int]:
    """Cycles per class name, in class order."""
    counts = manifest["label"].value_counts()
    return {name: int(counts.get(i, 0)) for i, name in enumerate(CLASSES)}
