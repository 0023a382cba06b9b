"""Synthetic ICBHI 2017 audio: a small demo database, and filling real annotations with audio.

Nothing here is real data. Two uses:

- :func:`write_icbhi2017` (``source: synthetic``): a few patients in the full canonical
  layout (``ICBHI_final_database/<rec>.wav`` + ``<rec>.txt``, split file, diagnosis,
  demographics, ``filename_differences.txt`` with one recording stored under its old
  device name), WAVs at 44.1 kHz (16/24/32-bit) and 4 kHz (16-bit), like the real files.
- :func:`fill_missing_audio` (``missing_audio: synthesise``): for a folder holding the
  *real* annotations (e.g. the offline mirror: 920 annotation files, 10 recordings), write
  audio for every recording whose audio is missing, placed exactly on its annotated cycle
  timings. The names are listed in ``SYNTHESISED.txt`` so tables can say how much of the
  data is synthetic (:func:`synthesis_summary`).

Signal: breath noise (band-limited 80-1000 Hz) whose loudness rises and falls within each
annotated cycle (inspiration then expiration), plus, in crackle cycles, short damped
transients (3-15 ms, 200-1200 Hz) scattered over the cycle, and in wheeze cycles one or two
tonal components (100-1000 Hz, 0.25-1.2 s, slight vibrato); 'both' cycles get both. Some
normal cycles carry a faint crackle or tone and some abnormal ones only a weak one, so a
classifier can learn the classes but not perfectly. Each recording's audio depends only on
(seed, recording name): deterministic and independent of which other files are missing.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from auscult.atomic import atomic_dir, atomic_path, write_text

from . import icbhi2017 as icbhi
from .acquire import write_sha256sums
from .synthetic_audio import band_noise

SYNTHESISED_FILE = "SYNTHESISED.txt"
GENERATOR_VERSION = 1
_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}
_FORMATS = {"wav": "WAV", "flac": "FLAC"}


def _rng(seed: int, recording: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(recording.encode())])


def _crackle(rng: np.random.Generator, sr: int) -> np.ndarray:
    n = max(4, int(rng.uniform(0.003, 0.015) * sr))
    t = np.arange(n) / sr
    f = rng.uniform(200, min(1200, 0.45 * sr))
    return np.exp(-t / (t[-1] / 3 + 1e-6)) * np.sin(2 * np.pi * f * t + rng.uniform(0, np.pi))


def _wheeze(rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(100, min(1000, 0.4 * sr))
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 8) * t))) / sr
    tone = np.sin(phase) + rng.uniform(0, 0.4) * np.sin(2 * phase)
    return tone * np.hanning(n)


def breath_audio(rng: np.random.Generator, sr: int, duration_s: float,
                 cycles: Sequence[tuple[float, float, int, int]]) -> np.ndarray:
    """One recording (float64, peak < 1) with the given (start, end, crackle, wheeze) cycles."""
    n = max(1, int(np.ceil(duration_s * sr)))
    env = np.full(n, 0.08)
    events = np.zeros(n)
    for start, end, crackle, wheeze in cycles:
        i0, i1 = int(start * sr), min(n, int(end * sr))
        if i1 - i0 < 4:
            continue
        length = i1 - i0
        split = int(length * rng.uniform(0.35, 0.5))  # inspiration shorter than expiration
        shape = np.concatenate([np.hanning(2 * split)[:split], np.hanning(2 * (length - split))[length - split:]])
        env[i0:i1] += rng.uniform(0.5, 1.0) * shape
        # Abnormal cycles: clear events most of the time; normal ones: rare faint events.
        c_amp = rng.uniform(0.4, 1.2) if crackle else (rng.uniform(0.05, 0.3) if rng.random() < 0.1 else 0.0)
        if crackle and rng.random() < 0.15:
            c_amp *= 0.25
        if c_amp:
            for _ in range(int(rng.integers(3, 14)) if crackle else int(rng.integers(1, 3))):
                burst = _crackle(rng, sr)
                at = int(rng.integers(i0, max(i0 + 1, i1 - len(burst))))
                events[at:at + len(burst)] += (c_amp * rng.uniform(0.5, 1.0) * burst)[: n - at]
        w_amp = rng.uniform(0.15, 0.5) if wheeze else (rng.uniform(0.02, 0.08) if rng.random() < 0.1 else 0.0)
        if wheeze and rng.random() < 0.15:
            w_amp *= 0.25
        if w_amp:
            for _ in range(int(rng.integers(1, 3)) if wheeze else 1):
                seconds = min(rng.uniform(0.25, 1.2), length / sr)
                tone = _wheeze(rng, sr, seconds)
                at = int(rng.integers(i0, max(i0 + 1, i1 - len(tone))))
                events[at:at + len(tone)] += (w_amp * tone)[: n - at]
    x = env * band_noise(rng, n, sr, 80.0, 1000.0) * 0.25 + events
    x += 0.005 * rng.standard_normal(n)
    return x * (rng.uniform(0.3, 0.8) / (np.max(np.abs(x)) + 1e-12))


def write_audio(path: Path, x: np.ndarray, sr: int, bit_depth: int) -> None:
    """Write PCM (16/24/32-bit; WAV or FLAC by suffix) atomically, quantising ourselves."""
    fmt = _FORMATS[path.suffix.lstrip(".")]
    if fmt == "FLAC" and bit_depth == 32:
        raise ValueError("FLAC holds at most 24-bit PCM")
    full = 2 ** (bit_depth - 1) - 1
    pcm = np.round(np.clip(x, -1, 1) * full).astype(np.int32 if bit_depth > 16 else np.int16)
    if bit_depth == 24:
        pcm = pcm << 8  # soundfile reads int32 as left-aligned; PCM_24 keeps the top 24 bits
    with atomic_path(path, suffix=path.suffix) as tmp:
        sf.write(str(tmp), pcm, sr, subtype=_SUBTYPES[bit_depth], format=fmt)


def recording_audio(seed: int, recording: str, cycles, sr: int) -> np.ndarray:
    rng = _rng(seed, recording)
    duration = max(end for _, end, _, _ in cycles) + rng.uniform(0.2, 1.0)
    return breath_audio(rng, sr, duration, cycles)


# --------------------------------------------------------------------------- fill
def read_synthesised(root: Path) -> list[str]:
    path = Path(root) / SYNTHESISED_FILE
    return [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def fill_missing_audio(root: str | Path, *, seed: int, sample_rate: int, bit_depth: int,
                       audio_format: str) -> dict:
    """Write synthetic audio for every split-file recording of ``root`` that has none.

    Audio goes to ``root/audio/`` when that folder exists (mirror layout), else next to the
    annotation file. ``SYNTHESISED.txt`` (sorted names) is written *before* the audio, so an
    interrupted fill is completed, and still listed, by the next call; ``SHA256SUMS`` is
    rewritten at the end. Returns :func:`synthesis_summary`.
    """
    root = Path(root)
    if audio_format not in _FORMATS:
        raise ValueError(f"audio_format must be one of {sorted(_FORMATS)}, got {audio_format!r}")
    if bit_depth not in _SUBTYPES:
        raise ValueError(f"bit_depth must be one of {sorted(_SUBTYPES)}, got {bit_depth!r}")
    split = icbhi.read_split(root)
    aliases = icbhi.read_aliases(root)
    missing = [r for r in sorted(split) if icbhi.audio_path(root, r, aliases) is None]
    listed = sorted(set(read_synthesised(root)) | set(missing))
    write_text(root / SYNTHESISED_FILE, "".join(f"{r}\n" for r in listed))
    for recording in missing:
        ann = icbhi.annotation_path(root, recording, aliases)
        if ann is None:
            raise icbhi.ManifestError(f"{root}: no annotation file for {recording}; cannot place its cycles")
        folder = root / "audio" if (root / "audio").is_dir() else ann.parent
        x = recording_audio(seed, recording, icbhi.read_cycles(ann), sample_rate)
        write_audio(folder / f"{recording}.{audio_format}", x, sample_rate, bit_depth)
    write_sha256sums(root)
    return synthesis_summary(root)


def synthesis_summary(root: str | Path) -> dict | None:
    """{'synthesised': n, 'recordings': total, 'real': total - n} or None if nothing is."""
    names = read_synthesised(root)
    if not names:
        return None
    total = len(icbhi.read_split(Path(root)))
    return {"synthesised": len(names), "recordings": total, "real": total - len(names),
            "generator_version": GENERATOR_VERSION}


# --------------------------------------------------------------------------- demo database
_DEVICES = (("Meditron", 44100), ("LittC2SE", 44100), ("AKGC417L", 44100), ("Litt3200", 4000))
_LOCATIONS = ("Al", "Ar", "Pl", "Pr", "Ll", "Lr", "Tc")
_DIAGNOSES = ("Healthy", "COPD", "URTI", "Pneumonia", "Bronchiectasis")
_CLASS_P = (0.53, 0.27, 0.13, 0.07)  # the real cycle class shares


def _demo_cycles(rng: np.random.Generator, n: int, p_abnormal: float) -> list[tuple[float, float, int, int]]:
    t, out = rng.uniform(0.05, 0.6), []
    p = np.asarray(_CLASS_P) * np.array([1 - p_abnormal, p_abnormal, p_abnormal, p_abnormal])
    p /= p.sum()
    for _ in range(n):
        length = rng.uniform(1.2, 4.0)
        label = int(rng.choice(4, p=p))
        out.append((round(t, 3), round(t + length, 3), label % 2, label // 2))
        t += length
    return out


def write_icbhi2017(
    root: Path,
    *,
    n_patients: int,
    seed: int,
    recordings_per_patient: tuple[int, int] = (1, 3),
    cycles_per_recording: tuple[int, int] = (3, 8),
    test_fraction: float = 0.4,
) -> None:
    """Write a demo ICBHI database at ``root`` (replacing it); see the module docstring.

    Patients go wholly to train or test, except one patient (when there are >= 4) who has
    recordings in both halves, as patients 156 and 218 do in the real split.
    """
    if n_patients < 3:
        raise ValueError(f"n_patients must be at least 3, got {n_patients}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    patients = [str(101 + i) for i in range(n_patients)]
    n_test = min(n_patients - 1, max(1, int(round(n_patients * test_fraction))))
    test_patients = set(rng.choice(patients, n_test, replace=False).tolist())
    shared = patients[-1] if n_patients >= 4 else None
    split, cycles, rates, depths, renamed = {}, {}, {}, {}, []
    diagnosis = {}
    for pid in patients:
        diag = _DIAGNOSES[int(rng.integers(len(_DIAGNOSES)))]
        diagnosis[pid] = diag
        p_abn = 0.2 if diag == "Healthy" else 0.6
        device, sr = _DEVICES[int(rng.integers(len(_DEVICES)))]
        n_rec = int(rng.integers(recordings_per_patient[0], recordings_per_patient[1] + 1))
        if pid == shared:
            n_rec = max(n_rec, 2)
        for j in range(n_rec):
            loc = _LOCATIONS[j % len(_LOCATIONS)]
            rec = f"{pid}_{1 + j // len(_LOCATIONS)}b1_{loc}_{'mc' if n_rec > 1 else 'sc'}_{device}"
            part = "test" if pid in test_patients else "train"
            if pid == shared:
                part = "test" if j % 2 else "train"
            split[rec] = part
            n_cyc = int(rng.integers(cycles_per_recording[0], cycles_per_recording[1] + 1))
            cycles[rec] = _demo_cycles(rng, n_cyc, p_abn)
            rates[rec] = sr
            depths[rec] = 16 if sr == 4000 else int(rng.choice([16, 24, 32]))
    # One Meditron recording stored under its old name, as in some downloads.
    meditron = sorted(r for r in split if r.endswith("_Meditron"))
    if meditron:
        renamed.append(meditron[0])

    with atomic_dir(root) as tmp:
        db = tmp / "ICBHI_final_database"
        db.mkdir()
        for rec in sorted(split):
            stem = rec[: -len("Meditron")] + "AKGC417L" if rec in renamed else rec
            text = "".join(f"{s:.3f}\t{e:.3f}\t{c}\t{w}\n" for s, e, c, w in cycles[rec])
            (db / f"{stem}.txt").write_text(text)
            x = recording_audio(seed, rec, cycles[rec], rates[rec])
            write_audio(db / f"{stem}.wav", x, rates[rec], depths[rec])
        (tmp / icbhi.SPLIT_FILE).write_text("".join(f"{r}\t{split[r]}\n" for r in sorted(split)))
        (tmp / icbhi.DIAGNOSIS_FILE).write_text("".join(f"{p}\t{diagnosis[p]}\n" for p in patients))
        (tmp / "ICBHI_Challenge_demographic_information.txt").write_text(
            "".join(f"{p}\t{int(rng.integers(20, 80))}\t{'MF'[int(rng.integers(2))]}\tNA\tNA\tNA\n"
                    for p in patients))
        (tmp / icbhi.DIFFERENCES_FILE).write_text(
            "".join(f"'{r[: -len('Meditron')]}AKGC417L'\n" for r in renamed))
        write_sha256sums(tmp)

