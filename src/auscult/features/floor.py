"""The classical reference floor's input: one fixed-length summary vector per recording.

Not from any of the papers: a deliberately simple baseline (``floor`` in params.yaml) that
every deep model in the tables should beat. Per recording:

- resample to ``sample_rate`` (soxr HQ, as ``librosa.load``) and keep the first
  ``clip_seconds``; shorter recordings are *not* padded (padding would add silent frames to
  the statistics);
- power mel spectrogram (``n_fft``, ``hop_length``, periodic Hann, centred, ``n_mels`` Slaney
  bands between ``fmin`` and ``fmax``), in dB: ``power_to_db(ref=max)`` (``db_ref: max``, gain
  invariant) or ``ref=1`` (``db_ref: one``), ``amin`` 1e-10, no ``top_db`` clipping;
- ``n_mfcc`` MFCCs (DCT-II, orthonormal) of that log-mel spectrogram and, with ``deltas``,
  their first differences (``librosa.feature.delta``, width 9 or the largest odd width the
  clip allows);
- each block (MFCC, delta MFCC, log-mel) summarised over time by ``stats`` (mean, std, min,
  max, p10, p50, p90), concatenated in that order: block-major, then statistic, then band.

Stored as ``stats`` (N, D) with D = ``n_features(cfg)``; ``feature_names(cfg)`` names the
columns. Configuration: ``features.floor_stats`` in params.yaml, checked against the params
schema's ``$defs/floor_features`` (every key required, unknown keys rejected).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from auscult import configcheck

STATS = {
    "mean": lambda a: a.mean(axis=1),
    "std": lambda a: a.std(axis=1),
    "min": lambda a: a.min(axis=1),
    "max": lambda a: a.max(axis=1),
    "p10": lambda a: np.percentile(a, 10, axis=1),
    "p50": lambda a: np.percentile(a, 50, axis=1),
    "p90": lambda a: np.percentile(a, 90, axis=1),
}
AMIN = 1e-10


def validate_config(cfg: Mapping) -> None:
    """Check a ``features.floor_stats`` config (the schema's ``floor_features``, then the
    cross-key rules); raise KeyError/ValueError naming the key."""
    configcheck.check("floor features config", cfg, "floor_features")
    if cfg["n_mfcc"] > cfg["n_mels"]:
        raise ValueError(f"floor features config: n_mfcc ({cfg['n_mfcc']}) must be <= n_mels ({cfg['n_mels']})")
    if not 0 <= cfg["fmin"] < cfg["fmax"] <= cfg["sample_rate"] / 2:
        raise ValueError(f"floor features config: need 0 <= fmin < fmax <= sample_rate/2, got fmin "
                         f"{cfg['fmin']}, fmax {cfg['fmax']}, sample_rate {cfg['sample_rate']}")


def blocks(cfg: Mapping) -> list[tuple[str, int]]:
    """(block name, number of bands) in vector order."""
    out = [("mfcc", cfg["n_mfcc"])]
    if cfg["deltas"]:
        out.append(("mfcc_delta", cfg["n_mfcc"]))
    out.append(("logmel", cfg["n_mels"]))
    return out


def feature_names(cfg: Mapping) -> list[str]:
    return [f"{name}_{stat}_{i}" for name, n in blocks(cfg) for stat in cfg["stats"] for i in range(n)]


def n_features(cfg: Mapping) -> int:
    return sum(n for _, n in blocks(cfg)) * len(cfg["stats"])


def summary_vector(wave: np.ndarray, cfg: Mapping) -> np.ndarray:
    """The (D,) float64 summary of one clip already at ``cfg['sample_rate']``."""
    import librosa

    validate_config(cfg)
    y = np.asarray(wave, dtype=np.float32)
    if y.size == 0:
        y = np.zeros(1, np.float32)
    mel = librosa.feature.melspectrogram(
        y=y, sr=cfg["sample_rate"], n_fft=cfg["n_fft"], hop_length=cfg["hop_length"], n_mels=cfg["n_mels"],
        fmin=float(cfg["fmin"]), fmax=float(cfg["fmax"]), center=True, pad_mode="constant", power=2.0,
    )
    ref = np.max if cfg["db_ref"] == "max" else 1.0
    logmel = librosa.power_to_db(mel, ref=ref, amin=AMIN, top_db=None).astype(np.float64)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=cfg["n_mfcc"], dct_type=2, norm="ortho")
    parts = {"mfcc": mfcc, "logmel": logmel}
    if cfg["deltas"]:
        n = mfcc.shape[1]
        width = min(9, n if n % 2 else n - 1)
        parts["mfcc_delta"] = (librosa.feature.delta(mfcc, width=width, mode="interp") if width >= 3
                               else np.zeros_like(mfcc))
    vec = np.concatenate([STATS[s](parts[name]) for name, _ in blocks(cfg) for s in cfg["stats"]])
    return vec


def load_start(path: str, cfg: Mapping) -> np.ndarray:
    """The first ``clip_seconds`` of a recording at ``sample_rate`` (not padded)."""
    from auscult.audio import read_audio, resample

    x, sr_in = read_audio(path, max_seconds=float(cfg["clip_seconds"]) + 0.5)
    y = resample(x, sr_in, cfg["sample_rate"])
    return y[: int(round(cfg["sample_rate"] * cfg["clip_seconds"]))]


def extract(path: str, cfg: dict) -> dict[str, np.ndarray]:
    """Features of one recording under the ``features.floor_stats`` parameter slice."""
    validate_config(cfg)
    vec = summary_vector(load_start(path, cfg), cfg)
    return {"stats": vec.astype(np.dtype(cfg["store_dtype"]))}
