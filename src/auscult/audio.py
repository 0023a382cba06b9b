"""Reading, checking, resampling and cropping audio recordings.

Every dataset in this project ships 16-bit PCM, but the copies people actually have differ:
WAV or lossless FLAC re-encodings, 24- and 32-bit PCM (ICBHI), sample rates from 2 kHz to
44.1 kHz. This module is the one place that turns any of those into float32 samples, and
that turns a broken file into an :class:`AudioError` naming the file and the problem
instead of a silent short read or a libsndfile message without a path.

Loading is meant to be bit-compatible with ``librosa.load(path, sr=sr)`` (soundfile decode
to float32, channel mean, soxr "HQ" resampling), which is what the reproduced papers used.

Long recordings: a recipe reads only the part of a recording it uses (:func:`read_window`,
:func:`resampled_window`: a seek-read of those frames plus the resampler's margin), so a
day-long file costs no more memory than its clip. No more than :data:`MAX_DECODE_SECONDS`
of audio is ever decoded at once; a read that would need more is an :class:`AudioError`
naming the file, not an out-of-memory kill.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

__all__ = [
    "AudioError",
    "AudioInfo",
    "AudioScan",
    "FIX_LENGTH_MODES",
    "MAX_DECODE_SECONDS",
    "fix_length",
    "load_clip",
    "probe",
    "read_audio",
    "read_window",
    "resample",
    "resampled_length",
    "resampled_window",
    "scan_audio",
    "sha256_file",
]

# soundfile subtype -> bits per sample. Anything else (ADPCM, u-law, ...) is refused: none of
# the datasets uses it and a lossy codec would change the samples the papers worked on.
_BIT_DEPTH = {
    "PCM_S8": 8,
    "PCM_U8": 8,
    "PCM_16": 16,
    "PCM_24": 24,
    "PCM_32": 32,
    "FLOAT": 32,
    "DOUBLE": 64,
}
# soundfile major formats we accept, and the name reported for them. WAVEX is a WAV file
# with a WAVE_FORMAT_EXTENSIBLE header (common for 24-bit files); it is still a WAV.
_FORMATS = {"WAV": "WAV", "WAVEX": "WAV", "RF64": "WAV", "FLAC": "FLAC"}

FIX_LENGTH_MODES = ("end", "center", "repeat")

# Extra source audio read by load_clip(mode="end") beyond the clip length, so that the
# resampler's filter sees the same neighbourhood as when the whole file is resampled.
_RESAMPLE_MARGIN_S = 0.5

# The longest stretch of a recording decoded at once, in seconds at its own rate (600 s of
# 44.1 kHz stereo is 212 MB of float32). A recording up to this long is decoded whole where a
# recipe needs more than its start (Koike's centre cut, AST's cycles), exactly as before; a
# longer one is read window by window (the resampled samples then agree with a whole-file
# decode to float rounding, ~1e-7), and a single read longer than this is refused.
MAX_DECODE_SECONDS = 600.0


class AudioError(ValueError):
    """A recording cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # Survives pickling (feature worker -> parent): rebuilt from (path, problem).
        return (type(self), (self.path, self.problem))


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says about its audio."""

    path: str
    sample_rate: int
    n_frames: int
    channels: int
    subtype: str  # soundfile subtype, e.g. 'PCM_16', 'PCM_24', 'FLOAT'
    bit_depth: int | None  # bits per sample; None if unknown
    format: str  # 'WAV' or 'FLAC'

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.sample_rate


def _check_riff(path: Path, size: int) -> None:
    """Walk the RIFF chunks of a WAV file and fail if the data chunk is cut short.

    libsndfile accepts a WAV whose ``data`` chunk declares more bytes than the file holds
    and silently returns fewer frames, so a truncated download would pass unnoticed.
    """
    with open(path, "rb") as f:
        header = f.read(12)
        if header[:4] != b"RIFF":
            return  # RF64/other containers: leave to libsndfile
        if len(header) < 12 or header[8:12] != b"WAVE":
            raise AudioError(path, "not a WAV file (RIFF header without WAVE id)")
        pos = 12
        while True:
            f.seek(pos)
            chunk = f.read(8)
            if len(chunk) < 8:
                raise AudioError(path, "truncated WAV: no data chunk before end of file")
            chunk_id, chunk_size = struct.unpack("<4sI", chunk)
            if chunk_id == b"data":
                available = size - (pos + 8)
                if chunk_size > available:
                    raise AudioError(
                        path,
                        f"truncated WAV: data chunk declares {chunk_size} bytes "
                        f"but the file holds only {available}",
                    )
                return
            # Chunks are word aligned: an odd-sized chunk is followed by a pad byte.
            pos += 8 + chunk_size + (chunk_size & 1)
            if pos > size:
                raise AudioError(path, f"truncated WAV: chunk {chunk_id!r} runs past end of file")


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read and validate the header of a WAV or FLAC file (no samples are decoded).

    Raises :class:`AudioError` for a missing or empty file, a file that is not audio, a
    truncated WAV, a recording with no frames, or an unsupported sample encoding.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    size = path.stat().st_size
    if size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        _check_riff(path, size)
    except OSError as e:  # permission denied, I/O error
        raise AudioError(path, f"cannot read ({e.strerror or e})") from None
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(path, f"not a readable audio file ({e})") from None
    fmt = _FORMATS.get(info.format)
    if fmt is None:
        raise AudioError(path, f"unsupported container {info.format!r} (expected WAV or FLAC)")
    if info.subtype not in _BIT_DEPTH:
        raise AudioError(
            path, f"unsupported sample encoding {info.subtype!r} (expected PCM or float)"
        )
    if info.samplerate <= 0:
        raise AudioError(path, f"invalid sample rate {info.samplerate}")
    if info.frames <= 0:
        raise AudioError(path, "no audio frames (zero-length recording)")
    return AudioInfo(
        path=str(path),
        sample_rate=int(info.samplerate),
        n_frames=int(info.frames),
        channels=int(info.channels),
        subtype=info.subtype,
        bit_depth=_BIT_DEPTH[info.subtype],
        format=fmt,
    )


def _refuse_long(info: AudioInfo, frames: int) -> None:
    """An AudioError when ``frames`` frames of ``info``'s file exceed :data:`MAX_DECODE_SECONDS`."""
    if frames > MAX_DECODE_SECONDS * info.sample_rate:
        raise AudioError(info.path, f"would decode {frames / info.sample_rate:.0f} s of a "
                                    f"{info.duration_s:.0f} s recording at once, more than the "
                                    f"{MAX_DECODE_SECONDS:g} s allowed (auscult.audio.MAX_DECODE_SECONDS): "
                                    "cut the recording into shorter files")


def _decode(info: AudioInfo, start: int, stop: int, mono: bool) -> np.ndarray:
    """Frames ``[start, stop)`` of a probed file as float32 (seek-read: nothing else is decoded)."""
    _refuse_long(info, stop - start)
    try:
        x, _ = sf.read(info.path, start=start, stop=stop, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(info.path, f"cannot decode audio ({e})") from None
    if x.shape[0] != stop - start:
        # A corrupt FLAC stream (or a WAV rewritten under us) decodes short.
        if start == 0:
            raise AudioError(info.path, f"decoded {x.shape[0]} frames, header declares {stop}")
        raise AudioError(info.path, f"decoded {x.shape[0]} of frames {start}-{stop}, header declares "
                                    f"{info.n_frames} frames")
    if info.subtype in ("FLOAT", "DOUBLE") and not np.isfinite(x).all():
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise AudioError(info.path, f"{bad} NaN/Inf sample(s)")
    if mono:
        y = x[:, 0] if x.shape[1] == 1 else np.mean(x, axis=1)
        return np.ascontiguousarray(y, dtype=np.float32)
    return np.ascontiguousarray(x.T, dtype=np.float32)


def read_audio(
    path: str | os.PathLike, *, max_seconds: float | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """Decode a recording to float32 at its native sample rate.

    PCM is scaled to [-1, 1) exactly as soundfile (and so librosa) does; float files are
    returned as stored. With ``mono`` (default) channels are averaged and the result has
    shape ``(n,)``; otherwise it is ``(channels, n)``, librosa's layout. ``max_seconds``
    reads only the start of the file (``int(max_seconds * sr)`` frames, as librosa's
    ``duration``). More than :data:`MAX_DECODE_SECONDS` is refused (:class:`AudioError`).
    Returns ``(samples, sample_rate)``.
    """
    info = probe(path)
    frames = info.n_frames
    if max_seconds is not None:
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        frames = min(int(max_seconds * info.sample_rate), info.n_frames)
    return _decode(info, 0, frames, mono), info.sample_rate


def read_window(
    path: str | os.PathLike, start: int, stop: int, *, info: AudioInfo | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """Frames ``[start, stop)`` of a recording (clipped to its length), decoding only those:
    the same samples as ``read_audio(path)[0][start:stop]``. Returns ``(samples, sample_rate)``."""
    info = info or probe(path)
    start, stop = max(0, int(start)), min(int(stop), info.n_frames)
    return _decode(info, start, max(start, stop), mono), info.sample_rate


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample a 1-D signal with soxr "HQ"; the same result as ``librosa.resample``.

    As librosa does (``fix=True``), the output has exactly ``ceil(len(x) * sr_out / sr_in)``
    samples. Returns float32; a no-op (apart from the dtype) when the rates are equal.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"resample expects a 1-D signal, got shape {x.shape}")
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    n_out = int(np.ceil(x.shape[0] * float(sr_out) / sr_in))
    y = soxr.resample(np.ascontiguousarray(x, dtype=np.float32), sr_in, sr_out, quality="HQ")
    return fix_length(np.asarray(y, dtype=np.float32), n_out, mode="end")


def fix_length(x: np.ndarray, n: int, mode: str = "end") -> np.ndarray:
    """Crop or zero-pad the last axis of ``x`` to exactly ``n`` samples.

    - ``'end'``: keep the first ``n`` samples, zero-pad at the end (AudioFuse).
    - ``'center'``: crop equally from start and end, or zero-pad equally on both sides; an
      odd difference puts the extra sample at the end (Koike et al.).
    - ``'repeat'``: repeat the signal cyclically, then keep the first ``n`` samples
      (ICBHI AST); an empty signal gives zeros.
    """
    if mode not in FIX_LENGTH_MODES:
        raise ValueError(f"unknown fix_length mode {mode!r}; expected one of {FIX_LENGTH_MODES}")
    n = int(n)
    if n < 0:
        raise ValueError(f"target length must be >= 0, got {n}")
    x = np.asarray(x)
    length = x.shape[-1]
    if length == n:
        return x
    if mode == "repeat" and length > 0:
        reps = -(-n // length)  # ceil division
        tiled = np.tile(x, (1,) * (x.ndim - 1) + (reps,))
        return tiled[..., :n]
    if length > n:
        start = (length - n) // 2 if mode == "center" else 0
        return x[..., start : start + n]
    missing = n - length
    left = missing // 2 if mode == "center" else 0
    pad = [(0, 0)] * (x.ndim - 1) + [(left, missing - left)]
    return np.pad(x, pad, mode="constant")


def resampled_length(n_frames: int, sr_in: int, sr_out: int) -> int:
    """Samples :func:`resample` makes of ``n_frames`` (``ceil(n * sr_out / sr_in)``)."""
    return int(np.ceil(n_frames * float(sr_out) / sr_in))


def resampled_window(path: str | os.PathLike, sr: int, start: int, n: int, *,
                     info: AudioInfo | None = None) -> np.ndarray:
    """Samples ``[start, start + n)`` of the recording resampled to ``sr`` (fewer past its end),
    decoding only the source frames under them plus :data:`_RESAMPLE_MARGIN_S` on each side.

    The window starts on a frame where source and output samples coincide, so it equals the
    whole-file :func:`resample` to float rounding (and exactly when no resampling is needed).
    """
    info = info or probe(path)
    sr_in = info.sample_rate
    stop = min(start + n, resampled_length(info.n_frames, sr_in, sr))
    if stop <= start:
        return np.zeros(0, dtype=np.float32)
    if sr_in == sr:
        return read_window(path, start, stop, info=info)[0]
    g = math.gcd(sr_in, sr)
    step_in, step_out = sr_in // g, sr // g
    margin = math.ceil(_RESAMPLE_MARGIN_S * sr_in)
    block = max(0, (start * step_in // step_out - margin) // step_in)
    src0, out0 = block * step_in, block * step_out
    src1 = -(-stop * step_in // step_out) + margin
    x, _ = read_window(path, src0, src1, info=info)
    return resample(x, sr_in, sr)[start - out0 : stop - out0]


def load_clip(path: str | os.PathLike, *, sr: int, seconds: float, mode: str = "end") -> np.ndarray:
    """Load one fixed-length mono clip: exactly ``round(sr * seconds)`` float32 samples.

    Equivalent to ``librosa.load(path, sr=sr)`` followed by :func:`fix_length` (to within
    float rounding). For ``mode='end'`` only the first ``seconds`` + 0.5 s of the source
    are decoded and resampled, which is much faster on long recordings and gives the same
    samples because the resampling filter is far shorter than the margin. The other modes
    decode a recording of up to :data:`MAX_DECODE_SECONDS` whole; of a longer one only the
    clip's window (:func:`resampled_window`).
    """
    if mode not in FIX_LENGTH_MODES:
        raise ValueError(f"unknown fix_length mode {mode!r}; expected one of {FIX_LENGTH_MODES}")
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    n = int(round(sr * seconds))
    if mode == "end":
        x, sr_in = read_audio(path, max_seconds=seconds + _RESAMPLE_MARGIN_S)
    else:
        info = probe(path)
        if info.duration_s > MAX_DECODE_SECONDS:
            return fix_length(_long_clip(path, info, sr, n, mode), n, mode=mode)
        x, sr_in = read_audio(path)
    return fix_length(resample(x, sr_in, sr), n, mode=mode).astype(np.float32, copy=False)


def _long_clip(path: str | os.PathLike, info: AudioInfo, sr: int, n: int, mode: str) -> np.ndarray:
    """The ``n`` samples :func:`fix_length` keeps of a long recording, read by window: its
    centre (``center``) or its start (``repeat``, ``end``: a longer signal keeps its start)."""
    total = resampled_length(info.n_frames, info.sample_rate, sr)
    start = max(0, (total - n) // 2) if mode == "center" else 0
    return resampled_window(path, sr, start, n, info=info)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in ``chunk``-byte blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class AudioScan:
    """What decoding a whole recording found: header, PCM digest and sample statistics."""

    info: AudioInfo
    pcm_sha256: str  # container-independent: a FLAC and its original WAV give the same value
    peak: float  # max |sample| (full scale = 1.0), over the finite samples
    n_nonfinite: int
    constant: bool = False  # every sample has the same value

    @property
    def problem(self) -> str | None:
        """Why these samples cannot be used, or None (see :func:`sample_problem`)."""
        return sample_problem(self)


def sample_problem(scan: AudioScan, min_seconds: float = 0.0) -> str | None:
    """The first reason the decoded samples are unusable: non-finite, all zero, too short."""
    if scan.n_nonfinite:
        return f"{scan.n_nonfinite} NaN/Inf sample(s)"
    if scan.peak == 0.0:
        return "all samples are zero (silent recording)"
    if scan.constant:
        return "all samples have the same value (no signal)"
    if min_seconds and scan.info.duration_s < min_seconds:
        return f"too short: {scan.info.duration_s:.3f} s, the minimum is {min_seconds:g} s"
    return None


def scan_audio(path: str | os.PathLike, *, block_frames: int = 1 << 18) -> AudioScan:
    """Decode a whole recording once: its PCM sha256, peak and count of NaN/Inf samples.

    The PCM digest hashes ``pcm-v1 sr=<rate> ch=<channels>`` and then the decoded samples,
    interleaved little-endian: integer PCM as libsndfile's int32 (so 16-bit WAV and 16-bit
    FLAC of the same samples give the same digest), float files as float64. Raises
    :class:`AudioError` for anything :func:`probe` refuses and for a stream that decodes
    short.
    """
    info = probe(path)
    is_float = info.subtype in ("FLOAT", "DOUBLE")
    dtype, wire = ("float64", "<f8") if is_float else ("int32", "<i4")
    h = hashlib.sha256(f"pcm-v1 sr={info.sample_rate} ch={info.channels}\n".encode())
    n_read, peak, nonfinite = 0, 0.0, 0
    lo, hi = np.inf, -np.inf
    try:
        with sf.SoundFile(info.path) as f:
            for block in f.blocks(blocksize=block_frames, dtype=dtype, always_2d=True):
                n_read += block.shape[0]
                h.update(np.ascontiguousarray(block, dtype=wire).tobytes())
                if is_float:
                    finite = np.isfinite(block)
                    nonfinite += int(block.size - np.count_nonzero(finite))
                    vals = block[finite]
                else:
                    vals = block.astype(np.int64)
                if vals.size:
                    lo, hi = min(lo, float(vals.min())), max(hi, float(vals.max()))
                    peak = max(peak, max(abs(lo), abs(hi)) / (1.0 if is_float else 2**31))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(path, f"cannot decode audio ({e})") from None
    if n_read != info.n_frames:
        raise AudioError(path, f"decoded {n_read} frames, header declares {info.n_frames}")
    return AudioScan(info=info, pcm_sha256=h.hexdigest(), peak=peak, n_nonfinite=nonfinite,
                     constant=bool(n_read > 1 and lo == hi))
