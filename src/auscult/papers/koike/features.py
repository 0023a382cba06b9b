"""The Koike et al. 2020 input recipe (paper P2, ``auscult.papers.koike``;
see ``docs/architecture.md``).

One clip per recording: resample to 2 kHz (soxr HQ, as ``librosa.load``), then bring it to
60 s by cutting equally at the start and the end when longer, or zero-padding equally on
both sides when shorter (:func:`auscult.audio.load_clip` with ``mode='center'``; an odd
difference puts the extra sample at the end). A recording longer than
:data:`auscult.audio.MAX_DECODE_SECONDS` is not decoded whole: only its centre minute is read.

Spectrograms (STFT window = n_fft = 400, hop 400, periodic Hann, ``center=True`` with
``pad_mode`` padding of n_fft//2 on each side, power):

- ``logmel``: ``n_mels`` Slaney mel bands (librosa default scale and area normalisation)
  between ``fmin`` and ``fmax`` (64 bands, 0-1000 Hz), ``10 * log10(max(mel, amin))``;
- ``linear``: all ``n_fft//2 + 1`` = 201 STFT bins (0-1000 Hz in 5 Hz steps),
  ``10 * log10(max(power, amin))``. The paper calls this input "spectrogram" without
  saying whether it was log-compressed; a dB scale is used here (a raw power image spans
  ~10 orders of magnitude, which no ImageNet network would see sensibly).

Both are stored frequency x time, shape (bands, 1 + L // hop) = (64, 301) and (201, 301)
for 60 s at 2 kHz: frames are counted as PANNs' own front end counts them (torchlibrosa,
``center=True``), so the cached ``logmel`` is, to float precision, what CNN14 computes
internally from the cached ``wave`` (same window, padding, filterbank and log); the
paper's Table I "120000 frames" is the number of samples. With ``pad_mode: reflect``
(torchlibrosa's choice; librosa >= 0.10 defaults to constant) the two agree exactly.

``wave``: the 120 000 samples at 2 kHz, the CNN14 input (its STFT and mel layers are part
of the model).

Configuration (``features.koike`` in params.yaml; every key required, unknown keys
rejected)::

    sample_rate: 2000
    clip_seconds: 60.0
    n_fft: 400            # = window length
    hop_length: 400
    pad_mode: reflect     # reflect | constant (centre padding of the STFT)
    n_mels: 64
    fmin: 0.0
    fmax: 1000.0
    amin: 1.0e-10         # log offset: 10 log10(max(x, amin)), ref 1 (PANNs)
    outputs: [wave, logmel, linear]
    store_dtype: float32
    shard_size: 256
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from auscult.configcheck import check_keys
from auscult.features.spectral import hann_window, mel_basis

KEYS = {
    "sample_rate", "clip_seconds", "n_fft", "hop_length", "pad_mode", "n_mels", "fmin",
    "fmax", "amin", "outputs", "store_dtype", "shard_size",
}
OUTPUTS = ("wave", "logmel", "linear")
PAD_MODES = ("reflect", "constant")


def validate_config(cfg: Mapping) -> None:
    """Check a ``features.koike`` config; raise KeyError/ValueError naming the key."""
    check_keys("koike features config", "<top level>", cfg, KEYS)
    for k in ("sample_rate", "n_fft", "hop_length", "n_mels", "shard_size"):
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"koike features config: {k} must be a positive integer, got {v!r}")
    for k in ("clip_seconds", "amin"):
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"koike features config: {k} must be a positive number, got {v!r}")
    fmin, fmax = cfg["fmin"], cfg["fmax"]
    for k, v in (("fmin", fmin), ("fmax", fmax)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"koike features config: {k} must be a number, got {v!r}")
    if not 0 <= fmin < fmax <= cfg["sample_rate"] / 2:
        raise ValueError(
            f"koike features config: need 0 <= fmin < fmax <= sample_rate/2, got fmin {fmin}, "
            f"fmax {fmax}, sample_rate {cfg['sample_rate']}"
        )
    if cfg["pad_mode"] not in PAD_MODES:
        raise ValueError(
            f"koike features config: pad_mode must be one of {list(PAD_MODES)}, "
            f"got {cfg['pad_mode']!r}"
        )
    outs = cfg["outputs"]
    if (
        isinstance(outs, str)
        or not isinstance(outs, (list, tuple))
        or not outs
        or any(o not in OUTPUTS for o in outs)
        or len(set(outs)) != len(outs)
    ):
        raise ValueError(
            f"koike features config: outputs must be a non-empty list of distinct items from "
            f"{list(OUTPUTS)}, got {outs!r}"
        )
    try:
        dtype = np.dtype(cfg["store_dtype"])
    except TypeError:
        raise ValueError(
            f"koike features config: store_dtype {cfg['store_dtype']!r} is not a numpy dtype"
        ) from None
    if dtype.kind != "f":
        raise ValueError(f"koike features config: store_dtype must be a float type, got {dtype}")


def n_frames(n_samples: int, hop_length: int) -> int:
    """STFT frames with ``center=True``: ``1 + n_samples // hop_length``."""
    return 1 + int(n_samples) // int(hop_length)


def power_spectrogram(wave: np.ndarray, cfg: Mapping) -> np.ndarray:
    """|STFT|^2, (n_fft//2 + 1, frames), periodic Hann, centred (librosa)."""
    import librosa

    spec = librosa.stft(
        np.asarray(wave, dtype=np.float32),
        n_fft=cfg["n_fft"],
        hop_length=cfg["hop_length"],
        win_length=cfg["n_fft"],
        window=hann_window(int(cfg["n_fft"])),  # librosa's "hann", built once
        center=True,
        pad_mode=cfg["pad_mode"],
    )
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def spectrograms(wave: np.ndarray, cfg: Mapping) -> dict[str, np.ndarray]:
    """``{'logmel': (n_mels, T), 'linear': (n_fft//2+1, T)}`` in dB (float32)."""
    power = power_spectrogram(wave, cfg)
    mel_fb = mel_basis(int(cfg["sample_rate"]), int(cfg["n_fft"]), int(cfg["n_mels"]),
                       float(cfg["fmin"]), float(cfg["fmax"]))
    amin = float(cfg["amin"])
    return {
        "logmel": (10.0 * np.log10(np.maximum(mel_fb @ power, amin))).astype(np.float32),
        "linear": (10.0 * np.log10(np.maximum(power, amin))).astype(np.float32),
    }


def features_from_wave(wave: np.ndarray, cfg: Mapping) -> dict[str, np.ndarray]:
    """The configured outputs for one already-loaded 2 kHz clip."""
    validate_config(cfg)
    dtype = np.dtype(cfg["store_dtype"])
    outs = list(cfg["outputs"])
    result: dict[str, np.ndarray] = {}
    if "wave" in outs:
        result["wave"] = np.asarray(wave).astype(dtype)
    if "logmel" in outs or "linear" in outs:
        specs = spectrograms(wave, cfg)
        for key in ("logmel", "linear"):
            if key in outs:
                result[key] = specs[key].astype(dtype)
    return result


def extract(path: str, cfg: dict) -> dict[str, np.ndarray]:
    """Features of one recording under the ``features.koike`` parameter slice."""
    from auscult.audio import load_clip

    validate_config(cfg)
    wave = load_clip(path, sr=cfg["sample_rate"], seconds=cfg["clip_seconds"], mode="center")
    return features_from_wave(wave, cfg)
