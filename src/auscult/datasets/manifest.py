"""The manifest table every dataset adapter returns, and helpers shared by the adapters.

A manifest has one row per labelled recording and exactly :data:`MANIFEST_COLUMNS`, so the
feature and training stages never need to know which dataset they are reading.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from auscult.audio import AudioError, probe, sha256_file

MANIFEST_COLUMNS = [
    "record_id",
    "dataset",
    "audio_path",
    "label",
    "original_class",
    "subset",
    "patient_id",
    "official_split",
    "sample_rate",
    "n_frames",
    "duration_s",
    "bit_depth",
    "sha256",
]

_DTYPES = {
    "label": "int64",
    "sample_rate": "int64",
    "n_frames": "int64",
    "duration_s": "float64",
    "bit_depth": "int64",
}

# Canonical archives hold .wav; the offline mirror holds lossless .flac with the same stem.
AUDIO_SUFFIXES = (".wav", ".flac")


class ManifestError(ValueError):
    """A dataset folder does not match what its adapter expects (names the file and row)."""


def read_text(path: Path) -> str:
    """A label/annotation file's text; a binary or unreadable file is a ManifestError."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path}: not a text file (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot read ({e.strerror or e})") from None


def find_audio(folder: Path, stem: str) -> Path | None:
    """Return ``folder/stem.wav`` or ``folder/stem.flac`` (preferring .wav), or None."""
    for suffix in AUDIO_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def audio_columns(root: Path, audio: Path, *, where: str, hash_audio: bool) -> dict:
    """Probe one recording and return its manifest columns from audio_path to sha256.

    ``where`` names the label row the recording came from, for the error message. (The
    adapters use :meth:`auscult.datasets.checks.Checks.verify_audio`, which also decodes
    the samples; this header-only variant is kept for callers outside the manifest.)
    """
    try:
        info = probe(audio)
    except AudioError as e:
        raise ManifestError(f"{where}: {e}") from None
    return {
        "audio_path": audio.relative_to(root).as_posix(),
        "sample_rate": info.sample_rate,
        "n_frames": info.n_frames,
        "duration_s": info.duration_s,
        "bit_depth": info.bit_depth,
        "sha256": sha256_file(audio) if hash_audio else "",
    }


def audio_files(folder: Path) -> list[Path]:
    """Audio files (.wav/.flac, any case) directly in ``folder``, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def to_frame(rows: list[dict], extra: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows -> manifest DataFrame with the standard columns, dtypes and order.

    ``extra`` maps additional column names to dtypes (e.g. the per-cycle columns of ICBHI);
    they follow the standard columns in the given order.
    """
    extra = dict(extra or {})
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS + list(extra))
    df = df.astype({**_DTYPES, **extra})
    return df.sort_values("record_id", kind="stable").reset_index(drop=True)
