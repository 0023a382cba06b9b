"""The AudioFuse input recipe (the official AudioFuse preprocessing; parameters: ``features.audiofuse``
in params.yaml), reproduced exactly.

One clip per recording: resample to 22050 Hz (librosa's default soxr_hq), keep the first
5 s, zero-pad at the end. Spectrogram branch: librosa mel power spectrogram (n_fft 2048,
hop 512, 224 Slaney mels, centre/constant padding as in librosa 0.10+), ``power_to_db``
with ``ref=np.max`` and ``top_db=80``, bilinear resize 224x216 -> 224x224 (OpenCV
INTER_LINEAR semantics: half-pixel centres, edge clamping), min-max to [0, 1].
Waveform branch: the raw 110 250 resampled samples, not normalised.
"""

from __future__ import annotations

import numpy as np

from auscult.features.spectral import hann_window, mel_basis


def resize_bilinear(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D array to ``size`` = (height, width) like ``cv2.resize(..., INTER_LINEAR)``.

    OpenCV maps destination pixel centres onto the source with half-pixel offsets
    (``src = (dst + 0.5) * scale - 0.5``) and clamps at the edges; we do the same so the
    cached images match the official preprocessing without an OpenCV dependency.
    """
    out = img.astype(np.float64, copy=False)
    for axis, n_out in enumerate(size):
        n_in = out.shape[axis]
        if n_in == n_out:
            continue
        src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        w = (src - lo).reshape([-1 if a == axis else 1 for a in range(out.ndim)])
        out = np.take(out, lo, axis=axis) * (1 - w) + np.take(out, hi, axis=axis) * w
    return out.astype(np.float32)


def mel_to_image(mel: np.ndarray, cfg: dict) -> np.ndarray:
    """Mel power -> dB (ref max, top_db) -> bilinear resize -> min-max to [0, 1], float32."""
    import librosa

    db = librosa.power_to_db(mel, ref=np.max, top_db=cfg["top_db"])
    img = resize_bilinear(db, tuple(cfg["resize"]))
    lo, hi = float(img.min()), float(img.max())
    return ((img - lo) / (hi - lo + 1e-6)).astype(np.float32)


def logmel_image(wave: np.ndarray, sr: int, cfg: dict) -> np.ndarray:
    """The spectrogram-branch image for one clip: (n_mels, time) resized, in [0, 1].

    The same arithmetic as ``librosa.feature.melspectrogram`` (power STFT, centre/constant
    padding, then the mel projection with librosa's own einsum) with the filterbank and the
    window cached per process: bit-for-bit the same image (tests/test_features.py).
    """
    import librosa

    n_fft = int(cfg["n_fft"])
    spec = np.abs(librosa.stft(wave, n_fft=n_fft, hop_length=cfg["hop_length"], window=hann_window(n_fft),
                               center=True, pad_mode="constant")) ** 2.0
    mel = np.einsum("...ft,mf->...mt", spec, mel_basis(int(sr), n_fft, int(cfg["n_mels"])), optimize=True)
    return mel_to_image(mel, cfg)


def logmel_image_reference(wave: np.ndarray, sr: int, cfg: dict) -> np.ndarray:
    """:func:`logmel_image` through ``librosa.feature.melspectrogram`` itself (the official
    recipe's call; filterbank and window rebuilt per call): the check and the benchmark."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=wave, sr=sr, n_fft=cfg["n_fft"], hop_length=cfg["hop_length"], n_mels=cfg["n_mels"]
    )
    return mel_to_image(mel, cfg)


def extract(path: str, cfg: dict) -> dict[str, np.ndarray]:
    """Features of one recording under the ``features.audiofuse`` parameter slice."""
    from auscult.audio import load_clip

    sr = cfg["sample_rate"]
    wave = load_clip(path, sr=sr, seconds=cfg["clip_seconds"], mode=cfg["crop"])
    dtype = np.dtype(cfg["store_dtype"])
    out = {"spec": logmel_image(wave, sr, cfg["logmel"]).astype(dtype)}
    if cfg["waveform"]:
        out["wave"] = wave.astype(dtype)
    return out
