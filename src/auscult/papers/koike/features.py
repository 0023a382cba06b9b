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

Configuration: ``features.koike`` in params.yaml, checked against the params schema's
``$defs/koike_features`` (every key required, unknown keys rejected); ``n_fft`` is also the
window length, ``pad_mode`` the STFT's centre padding, ``amin`` the log offset
(``10 log10(max(x, amin))``, ref 1, as PANNs).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from auscult import configcheck
from auscult.features.spectral import hann_window, mel_basis


def validate_config(cfg: Mapping) -> None:
    """Check a ``features.koike`` config (the schema's ``koike_features``, then the band
    limits); raise KeyError/ValueError naming the key."""
    configcheck.check("koike features config", cfg, "koike_features")
    fmin, fmax = cfg["fmin"], cfg["fmax"]
    if not 0 <= fmin < fmax <= cfg["sample_rate"] / 2:
        raise ValueError(
            f"koike features config: need 0 <= fmin < fmax <= sample_rate/2, got fmin {fmin}, "
            f"fmax {fmax}, sample_rate {cfg['sample_rate']}"
        )


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
