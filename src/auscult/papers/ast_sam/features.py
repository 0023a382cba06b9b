"""The AST input recipe for ICBHI breathing cycles (paper P3, recipe ``ast_sam``).

Per recording: decode once, resample to 16 kHz (soxr HQ, as ``librosa.load(sr=16000)`` in
the paper's preprocessing). Per cycle: slice ``[int(start * sr) : int(end * sr)]``, bring
it to ``clip_seconds`` (8 s = 128 000 samples) by cyclic repetition (``pad_mode: repeat``,
the paper's "cyclic padding"; a longer cycle keeps its first 8 s), then Kaldi fbank exactly
as AST / ``transformers.ASTFeatureExtractor``::

    torchaudio.compliance.kaldi.fbank(wave, htk_compat=True, sample_frequency=16000,
        use_energy=False, window_type='hanning', num_mel_bins=128, dither=0.0,
        frame_shift=10)      # frame_length 25 ms, preemphasis 0.97, remove_dc_offset

and normalise ``(fbank - norm_mean) / (2 * norm_std)`` with the AudioSet statistics
(-4.2677393, 4.5689974). 8 s gives 1 + (128000 - 400) // 160 = **798 frames**; the cached
array ``fbank`` is (frames, mel bins) = (798, 128), the layout ASTModel takes.
(``htk_compat`` only matters with ``use_energy=True``, so this equals the HF extractor,
which leaves it at False; a test checks it.) The paper fed the HF extractor's default
1024-frame output (798 real + 226 zero frames); here the model is built for 798 frames and
the pretrained position embeddings are cropped (``auscult.models.ast``), as the original
AST does.

Configuration: ``features.ast_sam`` in params.yaml, checked against the params schema's
``$defs/icbhi_features`` (every key required, unknown keys rejected); ``pad_mode`` is one of
:data:`auscult.audio.FIX_LENGTH_MODES` (``repeat``: the paper's cyclic padding), ``norm_mean``
and ``norm_std`` the normalisation statistics, ``store_dtype`` the cache's precision.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from auscult import configcheck


def validate_config(cfg: Mapping) -> None:
    """Check a ``features.ast_sam`` config against the schema's ``icbhi_features``."""
    configcheck.check("ast_sam features config", cfg, "icbhi_features")


def n_frames(cfg: Mapping) -> int:
    """Frames of one clip: 1 + (N - 25 ms) // shift (snip_edges)."""
    sr = int(cfg["sample_rate"])
    n = int(round(sr * float(cfg["clip_seconds"])))
    win, hop = int(sr * 0.025), int(sr * float(cfg["frame_shift_ms"]) / 1000)
    return 1 + (n - win) // hop


def fbank(wave: np.ndarray, cfg: Mapping) -> np.ndarray:
    """Normalised Kaldi fbank (frames, mel bins) of one clip, float32."""
    import torch
    import torchaudio.compliance.kaldi as kaldi

    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).unsqueeze(0)
    fb = kaldi.fbank(
        x,
        htk_compat=True,
        sample_frequency=float(cfg["sample_rate"]),
        use_energy=False,
        window_type="hanning",
        num_mel_bins=int(cfg["num_mel_bins"]),
        dither=0.0,
        frame_shift=float(cfg["frame_shift_ms"]),
    )
    out = (fb - float(cfg["norm_mean"])) / (2.0 * float(cfg["norm_std"]))
    return out.numpy().astype(np.float32)


def cycle_clip(wave: np.ndarray, sr: int, start: float, end: float, cfg: Mapping) -> np.ndarray:
    """One cycle of a (resampled) recording, fixed to ``clip_seconds``."""
    from auscult.audio import fix_length

    seg = wave[int(start * sr): int(end * sr)]
    if seg.size == 0:
        raise ValueError(f"cycle {start}-{end} s is empty in a recording of {len(wave) / sr:.3f} s")
    return fix_length(seg, int(round(sr * float(cfg["clip_seconds"]))), mode=cfg["pad_mode"])


def extract_cycles(path: str, cycles: Sequence[tuple[float, float]], cfg: dict) -> list[dict[str, np.ndarray]]:
    """Features of every ``(start_s, end_s)`` cycle of one recording: decoded once when it is
    at most :data:`auscult.audio.MAX_DECODE_SECONDS` long, else cycle by cycle, each read by
    window (:func:`long_cycle_clip`)."""
    from auscult.audio import MAX_DECODE_SECONDS, AudioError, probe, read_audio, resample

    sr = int(cfg["sample_rate"])
    info = probe(path)
    if info.duration_s > MAX_DECODE_SECONDS:
        clip = functools.partial(long_cycle_clip, path, info)
    else:
        x, sr_in = read_audio(path)
        clip = functools.partial(cycle_clip, resample(x, sr_in, sr))
    dtype = np.dtype(cfg["store_dtype"])
    out = []
    for start, end in cycles:
        try:
            wave = clip(sr, float(start), float(end), cfg)
        except ValueError as e:
            if isinstance(e, AudioError):
                raise
            raise AudioError(path, str(e)) from None
        out.append({"fbank": fbank(wave, cfg).astype(dtype)})
    return out


def long_cycle_clip(path: str, info, sr: int, start: float, end: float, cfg: Mapping) -> np.ndarray:
    """:func:`cycle_clip` of a long recording, reading only the samples the clip keeps: the
    same slice of the resampled recording, then the same :func:`auscult.audio.fix_length`."""
    from auscult.audio import fix_length, resampled_length, resampled_window

    n = int(round(sr * float(cfg["clip_seconds"])))
    total = resampled_length(info.n_frames, info.sample_rate, sr)
    a, b = int(start * sr), min(int(end * sr), total)
    if b <= a:
        raise ValueError(f"cycle {start}-{end} s is empty in a recording of {total / sr:.3f} s")
    if b - a > n:  # fix_length keeps the centre (center) or the start (repeat, end) of a longer cycle
        a += (b - a - n) // 2 if cfg["pad_mode"] == "center" else 0
        b = a + n
    return fix_length(resampled_window(path, sr, a, b - a, info=info), n, mode=cfg["pad_mode"])
