"""Filterbanks and windows that librosa rebuilds on every call, built once per process.

``librosa.feature.melspectrogram`` constructs its Slaney mel filterbank and ``librosa.stft``
its window anew for each recording; for the AudioFuse recipe (2048-point FFT, 224 mels)
building the filterbank costs more than the spectrogram it is applied to. Cached copies are
read-only and equal to librosa's arrays, so the features stay bit-for-bit the same.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=16)
def mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)`` (float32)."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    basis.setflags(write=False)
    return basis


@functools.lru_cache(maxsize=16)
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window ``librosa.stft(window="hann")`` builds for ``n_fft``."""
    import librosa

    window = librosa.filters.get_window("hann", n_fft, fftbins=True)
    window.setflags(write=False)
    return window
