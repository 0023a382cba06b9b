"""Signal helpers shared by the synthetic heart-sound (:mod:`.synthetic`) and breathing-sound
(:mod:`.synthetic_icbhi`) generators; numpy only. Changing what they return changes the
generated audio: bump the generators' ``GENERATOR_VERSION`` then.
"""

from __future__ import annotations

import numpy as np

__all__ = ["add_at", "band_noise", "tone_burst"]


def tone_burst(sr: int, freq: float, tau: float, length_s: float, phase: float) -> np.ndarray:
    """A decaying tone burst with a 4 ms attack (one heart sound)."""
    t = np.arange(int(length_s * sr)) / sr
    return np.exp(-t / tau) * (1 - np.exp(-t / 0.004)) * np.sin(2 * np.pi * freq * t + phase)


def band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    """Unit-RMS white noise restricted to [lo, hi] Hz (FFT mask)."""
    m = 1 << max(0, int(n - 1).bit_length())  # power-of-two FFT: arbitrary n can be slow
    spectrum = np.fft.rfft(rng.standard_normal(m))
    freqs = np.fft.rfftfreq(m, 1 / sr)
    spectrum[(freqs < lo) | (freqs > min(hi, 0.45 * sr))] = 0
    x = np.fft.irfft(spectrum, m)[:n]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def add_at(x: np.ndarray, start: int, burst: np.ndarray) -> None:
    """Add ``burst`` to ``x`` from sample ``start`` on, clipped to ``x``."""
    end = min(len(x), start + len(burst))
    if 0 <= start < end:
        x[start:end] += burst[: end - start]
