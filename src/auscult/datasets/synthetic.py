"""Small synthetic heart-sound datasets laid out exactly like the real ones (demo and tests).

The folders written here have the on-disk layout of the offline mirror (REFERENCE.csv /
RECORDS / validation list for PhysioNet 2016; the Kaggle CSVs with their file-name quirk
for PASCAL; a ``SHA256SUMS`` per dataset), so ``acquire``, ``build_manifest`` and the whole
workflow run on them unchanged. Nothing here is real data and results on it mean nothing
beyond "the pipeline runs".

The signal is a crude phonocardiogram: S1/S2 as decaying low-frequency tone bursts at a
random heart rate, plus noise. Abnormal recordings add a systolic murmur (band-limited
noise between S1 and S2), premature beats or an extra heart sound; amplitudes and noise
overlap between the classes so that a classifier can learn them but not perfectly.
Output is a deterministic function of the arguments (same bytes for the same seed).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from auscult.atomic import atomic_dir

from .acquire import write_sha256sums
from .synthetic_audio import add_at as _add
from .synthetic_audio import band_noise as _band_noise
from .synthetic_audio import tone_burst as _burst

__all__ = ["WRITERS", "write_dataset", "write_pascal", "write_physionet2016"]

_FORMATS = {"flac": "FLAC", "wav": "WAV"}


# --------------------------------------------------------------------------- signal

# Bump when the generated audio changes: it is part of the synthetic datasets' digest
# (auscult.layout), so old demo data is never reused after a generator change.
GENERATOR_VERSION = 3


def heart_sound(
    rng: np.random.Generator,
    sr: int,
    duration_s: float,
    *,
    murmur: float = 0.0,
    irregular: float = 0.0,
    extra_sound: float = 0.0,
    noise: float = 0.02,
    artifact: bool = False,
) -> np.ndarray:
    """One synthetic recording, float64 in [-1, 1].

    ``murmur``: systolic murmur amplitude relative to S1; ``irregular``: probability that a
    beat is premature; ``extra_sound``: amplitude of a third sound after S2; ``noise``:
    white-noise level; ``artifact``: faint heart sounds buried in loud bursts of noise.
    """
    n = int(duration_s * sr)
    x = np.zeros(n)
    period = 60.0 / rng.uniform(55, 110)
    systole = 0.12 + 0.2 * period  # S1 -> S2 interval shortens with heart rate
    f1, f2 = rng.uniform(40, 80), rng.uniform(60, 150)
    murmur_env = np.zeros(n)
    t = rng.uniform(0, period)
    while t < duration_s:  # bounded: every step advances t by >= 0.5 * period
        a1 = rng.uniform(0.8, 1.2)
        _add(x, int(t * sr), a1 * _burst(sr, f1, 0.025, 0.1, rng.uniform(0, 2 * np.pi)))
        s2 = t + systole
        _add(x, int(s2 * sr), 0.6 * a1 * _burst(sr, f2, 0.018, 0.08, rng.uniform(0, 2 * np.pi)))
        if extra_sound:
            s3 = s2 + rng.uniform(0.12, 0.18)
            _add(x, int(s3 * sr), extra_sound * _burst(sr, 35, 0.02, 0.07, 0.0))
        if murmur:
            i0, i1 = int((t + 0.06) * sr), int((s2 - 0.01) * sr)
            if i1 > i0:
                # crescendo-decrescendo ("diamond") shape over systole
                murmur_env[i0 : min(i1, n)] = (murmur * a1 * np.hanning(i1 - i0))[: max(0, n - i0)]
        step = period * (1 + rng.normal(0, 0.03))
        if irregular and rng.random() < irregular:
            step = period * rng.uniform(0.5, 0.7)  # premature beat
        t += max(step, 0.5 * period)
    if murmur:
        # Murmurs are noisier and higher-pitched than S1/S2 (40-150 Hz tones): 100-750 Hz.
        lo = rng.uniform(100, 250)
        x += murmur_env * 0.5 * _band_noise(rng, n, sr, lo, lo + rng.uniform(250, 500))
    if artifact:
        x *= rng.uniform(0.05, 0.3)
        for _ in range(int(rng.integers(3, 9))):
            start, length = int(rng.integers(0, n)), int(rng.uniform(0.1, 0.8) * sr)
            _add(x, start, rng.uniform(0.3, 1.0) * rng.standard_normal(length))
    x += noise * rng.standard_normal(n)
    peak = np.max(np.abs(x)) + 1e-12
    return x * (rng.uniform(0.3, 0.8) / peak)


def _write_audio(path: Path, x: np.ndarray, sr: int, audio_format: str) -> None:
    # Quantise ourselves (rather than letting libsndfile convert) so the bytes are ours.
    pcm = np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
    sf.write(str(path), pcm, sr, subtype="PCM_16", format=_FORMATS[audio_format])


def _check_common(n_records: int, abnormal_fraction: float, duration_s, audio_format: str):
    if audio_format not in _FORMATS:
        raise ValueError(f"audio_format must be one of {sorted(_FORMATS)}, got {audio_format!r}")
    if not 0 <= abnormal_fraction <= 1:
        raise ValueError(f"abnormal_fraction must be in [0, 1], got {abnormal_fraction}")
    lo, hi = duration_s
    if not 0 < lo <= hi:
        raise ValueError(f"duration_s must be (min, max) with 0 < min <= max, got {duration_s}")
    if n_records < 2:
        raise ValueError(f"n_records must be at least 2, got {n_records}")


def _labels(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    labels = np.zeros(n, dtype=int)
    labels[: int(round(n * fraction))] = 1
    return rng.permutation(labels)


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------- PhysioNet 2016


def write_physionet2016(
    root: Path,
    *,
    n_records: int,
    seed: int,
    abnormal_fraction: float = 0.3,
    n_test: int,
    duration_s: tuple[float, float] = (6.0, 12.0),
    audio_format: str = "flac",
) -> None:
    """Write a PhysioNet-2016-like folder at ``root`` (replacing it).

    Records are split over ``training-a`` (a0001, ...) and ``training-b`` (b0001, ...), each
    with ``REFERENCE.csv`` and ``RECORDS``; ``validation/`` names ``n_test`` of them with
    balanced classes (the extra one abnormal, as in the real 151/150). Audio: 2000 Hz,
    16-bit mono.
    """
    _check_common(n_records, abnormal_fraction, duration_s, audio_format)
    rng = np.random.default_rng(seed)
    labels = _labels(rng, n_records, abnormal_fraction)
    n_test_abn, n_test_norm = n_test - n_test // 2, n_test // 2
    n_abn = int(labels.sum())
    # Training must keep both classes, so the test set may not take all of either.
    if n_test < 2 or n_test_abn >= n_abn or n_test_norm >= n_records - n_abn:
        raise ValueError(
            f"n_test={n_test} cannot be balanced from {n_abn} abnormal / "
            f"{n_records - n_abn} normal records while leaving both classes for training"
        )
    n_a = (n_records + 1) // 2
    ids = [f"a{i + 1:04d}" for i in range(n_a)] + [f"b{i + 1:04d}" for i in range(n_records - n_a)]
    test = set(rng.choice(np.flatnonzero(labels == 1), n_test_abn, replace=False))
    test |= set(rng.choice(np.flatnonzero(labels == 0), n_test_norm, replace=False))

    sr = 2000
    with atomic_dir(root) as tmp:
        for subset, letter in (("training-a", "a"), ("training-b", "b")):
            folder = tmp / subset
            folder.mkdir()
            members = [i for i, rid in enumerate(ids) if rid[0] == letter]
            for i in members:
                abnormal = labels[i] == 1
                kind = rng.random()
                x = heart_sound(
                    rng,
                    sr,
                    rng.uniform(*duration_s),
                    # 90 % of abnormal recordings carry a systolic murmur (from faint to
                    # as loud as S1), the other 10 % only an irregular rhythm; a fifth of
                    # the normal ones a faint innocent murmur. A spectrogram or waveform
                    # CNN learns this within a few epochs, but not perfectly: the
                    # rhythm-only cases and the faintest murmurs overlap the normal class.
                    murmur=(rng.uniform(0.2, 1.0) if kind < 0.9 else rng.uniform(0, 0.1))
                    if abnormal
                    else (rng.uniform(0, 0.15) if kind < 0.2 else 0.0),
                    irregular=(0.3 if kind >= 0.7 else 0.0) if abnormal else 0.03,
                    noise=rng.uniform(0.005, 0.05),
                )
                _write_audio(folder / f"{ids[i]}.{audio_format}", x, sr, audio_format)
            rows = [[ids[i], "1" if labels[i] else "-1"] for i in members]
            (folder / "REFERENCE.csv").write_text(_csv_text(rows))
            (folder / "RECORDS").write_text("".join(f"{ids[i]}\n" for i in members))
        validation = tmp / "validation"
        validation.mkdir()
        chosen = sorted(test)
        rows = [[ids[i], "1" if labels[i] else "-1"] for i in chosen]
        (validation / "REFERENCE.csv").write_text(_csv_text(rows))
        (validation / "RECORDS").write_text("".join(f"{ids[i]}\n" for i in chosen))
        write_sha256sums(tmp)


# --------------------------------------------------------------------------- PASCAL


_PASCAL_ABNORMAL = {"set_a": ("murmur", "extrahls", "artifact"), "set_b": ("murmur", "extrastole")}
_PASCAL_RATE = {"set_a": 44100, "set_b": 4000}
_SITES = ("A", "B", "C", "D", "A1", "B1", "C2")


def _pascal_signal(rng: np.random.Generator, cls: str, sr: int, duration: float, noisy: bool):
    noise = rng.uniform(0.1, 0.3) if noisy else rng.uniform(0.01, 0.15)
    kwargs: dict = {"noise": noise}
    if cls == "murmur":
        kwargs["murmur"] = rng.uniform(0.05, 0.4)
    elif cls == "extrastole":
        kwargs["irregular"] = rng.uniform(0.15, 0.35)
    elif cls == "extrahls":
        kwargs["extra_sound"] = rng.uniform(0.2, 0.6)
    elif cls == "artifact":
        kwargs["artifact"] = True
    elif rng.random() < 0.2:
        kwargs["murmur"] = rng.uniform(0, 0.06)  # innocent murmur in a normal recording
    return heart_sound(rng, sr, duration, **kwargs)


def write_pascal(
    root: Path,
    *,
    n_records: int,
    seed: int,
    abnormal_fraction: float = 0.4,
    duration_s: tuple[float, float] = (3.0, 8.0),
    audio_format: str = "flac",
) -> None:
    """Write a PASCAL (Kaggle layout) folder at ``root`` (replacing it).

    About a quarter of the labelled records go to ``set_a`` (44.1 kHz; normal, murmur,
    extrahls, artifact), the rest to ``set_b`` (4 kHz; normal, murmur, extrastole, with
    noisy* sublabels and patient ids). ``set_a.csv``/``set_b.csv`` use the Kaggle ``fname``
    spelling (``Btraining_`` prefixes, ``.wav`` even for FLAC files) and also list a few
    unlabelled recordings whose audio is absent, as in the mirror.
    """
    _check_common(n_records, abnormal_fraction, duration_s, audio_format)
    rng = np.random.default_rng(seed)
    labels = _labels(rng, n_records, abnormal_fraction)
    n_a = max(1, int(round(n_records * 0.25)))
    split = {"set_a": labels[:n_a], "set_b": labels[n_a:]}

    with atomic_dir(root) as tmp:
        for subset, set_labels in split.items():
            folder = tmp / subset
            folder.mkdir()
            sr = _PASCAL_RATE[subset]
            abnormal = _PASCAL_ABNORMAL[subset]
            n_set, n_unlabelled = len(set_labels), max(1, len(set_labels) // 8)
            # Unique 12/13-digit time stamps make every file name unique.
            stamps = rng.choice(10**8, n_set + n_unlabelled, replace=False)
            patients = rng.choice(np.arange(100, 300), max(1, (n_set + 2) // 3), replace=False)
            n_abn = int(set_labels.sum())
            classes = iter(rng.permutation([abnormal[i % len(abnormal)] for i in range(n_abn)]))
            labelled, unlabelled = [], []
            for j in range(n_set + n_unlabelled):
                if subset == "set_a":
                    tail = f"2011{stamps[j]:08d}"
                else:
                    pid, site = rng.choice(patients), _SITES[int(rng.integers(len(_SITES)))]
                    tail = f"{pid}_13060{stamps[j]:08d}_{site}"
                if j >= n_set:  # unlabelled challenge test recording: CSV row, no audio
                    name = f"__{tail}" if subset == "set_a" else f"Bunlabelledtest_{tail}"
                    unlabelled.append([subset[-1], f"{subset}/{name}.wav", "", ""])
                    continue
                cls = str(next(classes)) if set_labels[j] else "normal"
                noisy = subset == "set_b" and cls in ("normal", "murmur") and rng.random() < 0.3
                sublabel = f"noisy{cls}" if noisy else ""
                stem = f"{cls}_{sublabel}_{tail}"
                if subset == "set_a":
                    fname = f"{stem}.wav"
                elif noisy:
                    fname = f"Btraining_{cls}_Btraining_{sublabel}_{tail}.wav"
                else:
                    fname = f"Btraining_{cls}_{tail}.wav"
                x = _pascal_signal(rng, cls, sr, rng.uniform(*duration_s), noisy)
                _write_audio(folder / f"{stem}.{audio_format}", x, sr, audio_format)
                labelled.append([subset[-1], f"{subset}/{fname}", cls, sublabel])
            rows = [["dataset", "fname", "label", "sublabel"], *sorted(labelled), *unlabelled]
            (tmp / f"{subset}.csv").write_text(_csv_text(rows))
        write_sha256sums(tmp)


# --------------------------------------------------------------------------- folder dataset


def write_folder(
    root: Path,
    *,
    n_records: int,
    seed: int,
    abnormal_fraction: float = 0.25,
    duration_s: tuple[float, float] = (1.0, 10.0),
) -> None:
    """Write a ``kind: folder`` dataset unlike PhysioNet (auscult.datasets.folder layout):
    mixed 4 kHz / 44.1 kHz / 8 kHz, 16- and 24-bit, mono and stereo, .wav / .FLAC, clips of
    1-10 s, unbalanced classes; labels.csv with CRLF line ends, a BOM, words and digits."""
    _check_common(n_records, abnormal_fraction, duration_s, "wav")
    rng = np.random.default_rng(seed)
    labels = _labels(rng, n_records, abnormal_fraction)
    rates = (4000, 44100, 8000)
    rows = [["record", "label", "class", "patient_id", "site"]]
    with atomic_dir(root) as tmp:
        (tmp / "audio" / "site_x").mkdir(parents=True)
        for i, lab in enumerate(labels):
            sr = rates[i % len(rates)]
            dur = float(rng.uniform(*duration_s))
            x = heart_sound(rng, sr, dur, murmur=rng.uniform(0.3, 0.9) if lab else rng.uniform(0, 0.08),
                            irregular=0.2 if lab else 0.0, noise=rng.uniform(0.01, 0.05))
            if i % 4 == 1:  # stereo: a second, slightly quieter channel
                x = np.stack([x, 0.8 * x], axis=1)
            stem = f"rec{i + 1:03d}"
            folder = tmp / "audio" / ("site_x" if i % 5 == 0 else "")
            subtype = "PCM_24" if i % 3 == 2 else "PCM_16"
            path = folder / (f"{stem}.FLAC" if i % 2 else f"{stem}.wav")
            sf.write(str(path), np.clip(x, -1, 1), sr, subtype=subtype, format="FLAC" if i % 2 else "WAV")
            word = ("abnormal" if lab else "normal") if i % 2 else str(int(lab))
            rows.append([stem, word, "murmur" if lab else "normal", f"p{i // 2:03d}", "x" if i % 5 == 0 else "y"])
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(rows)
        (tmp / "labels.csv").write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode())
        write_sha256sums(tmp)


# --------------------------------------------------------------------------- dispatch

def write_icbhi2017(root: Path, **kwargs) -> None:
    """The ICBHI 2017 demo database (:func:`auscult.datasets.synthetic_icbhi.write_icbhi2017`)."""
    from .synthetic_icbhi import write_icbhi2017 as write

    write(root, **kwargs)


def generator_version(name: str) -> int:
    """Version of the generator behind dataset ``name``'s synthetic audio (part of its digest)."""
    if name == "icbhi2017":
        from .synthetic_icbhi import GENERATOR_VERSION as icbhi_version

        return icbhi_version
    return GENERATOR_VERSION


WRITERS: dict[str, Callable[..., None]] = {
    "physionet2016": write_physionet2016,
    "pascal": write_pascal,
    "icbhi2017": write_icbhi2017,
    "folder": write_folder,
}


def write_dataset(name: str, root: Path, **kwargs) -> None:
    """Write the synthetic version of dataset ``name`` at ``root``."""
    try:
        writer = WRITERS[name]
    except KeyError:
        raise ValueError(
            f"no synthetic writer for dataset {name!r}; known: {', '.join(sorted(WRITERS))}"
        ) from None
    writer(Path(root), **kwargs)
