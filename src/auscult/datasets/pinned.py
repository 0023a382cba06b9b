"""Checksums of the canonical datasets, shipped inside the package (``datasets/pins/``).

One gzip'd CSV per dataset, columns ``kind,name,label,sha256``:

- ``pcm``  a recording id, its class name and the sha256 of its *decoded* samples
  (:func:`auscult.audio.scan_audio`), so the lossless FLAC mirror and the canonical WAV
  download verify alike;
- ``wav``  (PhysioNet 2016) the sha256 of an original ``.wav`` file, from the mirror's
  ``ORIGINAL_WAV_SHA256.txt`` (``label`` holds its size in bytes): a canonical download,
  which holds those WAV files, is checked byte for byte;
- ``file`` the sha256 of a label or annotation file (ICBHI 2017: the 920 annotation files
  and the diagnosis file);
- ``split`` (ICBHI 2017) a recording of the official split and its part (train | test).

ICBHI 2017: only 10 of the 920 recordings exist offline, so only those 10 have ``pcm``
rows; the other 910 are verified by count (the pinned split file names 920) and format
(:func:`auscult.audio.probe`) until their checksums can be computed.

Regenerate (from a trusted copy, e.g. the offline mirror) with :mod:`auscult.datasets.pinning`::

    python -m auscult.datasets.pinning /path/to/mirror [dataset ...]
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

PIN_DIR = Path(__file__).with_name("pins")
# A folder of <dataset>.csv.gz files replacing the shipped pins (tests; a re-pinned release).
PINS_ENV = "AUSCULT_PINS_DIR"
_COLUMNS = ["kind", "name", "label", "sha256"]


@dataclass(frozen=True)
class Pins:
    dataset: str
    digest: str  # sha256 of the pin file: part of the dataset's identity
    pcm: dict[str, tuple[str, str]] = field(default_factory=dict)  # record -> (label, pcm sha256)
    wav: dict[str, str] = field(default_factory=dict)  # relative .wav path -> sha256
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    split: dict[str, str] = field(default_factory=dict)  # ICBHI recording -> train | test


def pin_path(dataset: str) -> Path:
    import os

    return Path(os.environ.get(PINS_ENV) or PIN_DIR) / f"{dataset}.csv.gz"


@functools.cache
def load_pins(dataset: str) -> Pins | None:
    """The pinned checksums of ``dataset``, or None when the package ships none."""
    path = pin_path(dataset)
    if not path.is_file():
        return None
    raw = path.read_bytes()
    pcm, wav, files, split = {}, {}, {}, {}
    for row in csv.DictReader(io.StringIO(gzip.decompress(raw).decode())):
        if row["kind"] == "pcm":
            pcm[row["name"]] = (row["label"], row["sha256"])
        elif row["kind"] == "wav":
            wav[row["name"]] = row["sha256"]
        elif row["kind"] == "file":
            files[row["name"]] = row["sha256"]
        elif row["kind"] == "split":
            split[row["name"]] = row["label"]
        else:
            raise ValueError(f"{path}: unknown pin kind {row['kind']!r}")
    return Pins(dataset, hashlib.sha256(raw).hexdigest(), pcm, wav, files, split)


def pins_digest(dataset: str) -> str:
    pins = load_pins(dataset)
    return pins.digest if pins else "none"


def write_pins(dataset: str, rows: list[dict], out_dir: Path = PIN_DIR) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: (r["kind"], r["name"])))
    out = Path(out_dir) / f"{dataset}.csv.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same rows always give the same bytes (the file's hash is an identity)
    out.write_bytes(gzip.compress(buf.getvalue().encode(), mtime=0))
    return out
