"""Long recordings: the recipes read only the window they use, and no more than
``auscult.audio.MAX_DECODE_SECONDS`` is decoded at once (an AudioError naming the file,
never an out-of-memory kill). Normal recordings keep their whole-file decode, bit for bit."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from auscult import audio
from auscult.audio import AudioError
from auscult.papers.ast_sam import features as ast_sam
from auscult.papers.audiofuse import features as audiofuse
from auscult.papers.koike import features as koike
from auscult.params import load_params

REPO = Path(__file__).resolve().parents[1]
FEATURES = load_params(REPO / "params.yaml")["features"]
DAY = 24 * 3600


def sparse_wav(path: Path, seconds: int, sr: int = 2000, bursts: dict[int, np.ndarray] | None = None) -> Path:
    """A 16-bit mono WAV of ``seconds`` that takes no disk space (a sparse file of zeros), with
    ``bursts`` (frame -> int16 samples) written in place."""
    n = seconds * sr
    header = (b"RIFF" + struct.pack("<I", 36 + 2 * n) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr,
              2 * sr, 2, 16) + b"data" + struct.pack("<I", 2 * n))
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + 2 * n)
        for frame, samples in (bursts or {}).items():
            f.seek(len(header) + 2 * frame)
            f.write(np.asarray(samples, dtype="<i2").tobytes())
    return path


def noise(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


@pytest.fixture
def decoded(monkeypatch):
    """The (start, stop) frame ranges soundfile is asked to decode."""
    calls: list[tuple[int, int]] = []
    real = audio.sf.read

    def spy(path, *args, start=0, stop=None, **kw):
        calls.append((start, stop))
        return real(path, *args, start=start, stop=stop, **kw)

    monkeypatch.setattr(audio.sf, "read", spy)
    return calls


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize("fmt, subtype, channels", [("WAV", "PCM_16", 1), ("FLAC", "PCM_24", 2)])
def test_read_window_is_a_slice_of_the_whole_file(tmp_path, fmt, subtype, channels):
    x = np.stack([noise(7.3, 4000, seed=c) for c in range(channels)], 1)
    path = tmp_path / f"r.{fmt.lower()}"
    sf.write(path, x, 4000, subtype=subtype, format=fmt)
    whole, _ = audio.read_audio(path)
    for start, stop in ((0, 10), (12345, 20000), (29000, 10**9)):
        got, sr = audio.read_window(path, start, stop)
        assert sr == 4000
        np.testing.assert_array_equal(got, whole[start:stop])


@pytest.mark.parametrize("sr_in, sr", [(2000, 2000), (44100, 2000), (4000, 16000), (44100, 16000), (10000, 22050)])
def test_resampled_window_matches_resampling_the_whole_file(tmp_path, sr_in, sr):
    path = tmp_path / "r.flac"
    sf.write(path, noise(30, sr_in), sr_in, subtype="PCM_16")
    x, _ = audio.read_audio(path)
    full = audio.resample(x, sr_in, sr)
    for start in (0, 7 * sr + 13, len(full) // 2, len(full) - sr):
        got = audio.resampled_window(path, sr, start, 4 * sr)
        ref = full[start:start + 4 * sr]
        assert got.shape == ref.shape and got.dtype == np.float32
        if sr_in == sr:
            np.testing.assert_array_equal(got, ref)
        else:
            assert np.max(np.abs(got - ref)) <= 1e-6


# --------------------------------------------------------------------------- the limit


def test_a_day_long_recording_is_refused_in_one_line_not_decoded(tmp_path, decoded):
    day = sparse_wav(tmp_path / "holter.wav", DAY)
    with pytest.raises(AudioError) as e:
        audio.read_audio(day)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{day}: ") and "MAX_DECODE_SECONDS" in message
    assert "86400 s recording" in message
    assert decoded == []  # refused from the header, nothing decoded


def test_a_window_longer_than_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "MAX_DECODE_SECONDS", 10.0)
    path = tmp_path / "r.wav"
    sf.write(path, noise(30, 2000), 2000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"r\.wav: would decode 20 s .*MAX_DECODE_SECONDS"):
        audio.read_window(path, 0, 40000)
    assert audio.read_window(path, 0, 20000)[0].shape == (20000,)


# --------------------------------------------------------------------------- recipes


def test_koike_reads_only_the_centre_minute_of_a_day_long_recording(tmp_path, decoded):
    sr = 2000
    burst = (3000 * np.sin(np.arange(60 * sr) / 7)).astype(np.int16)
    centre = (DAY * sr - 60 * sr) // 2
    day = sparse_wav(tmp_path / "holter.wav", DAY, bursts={centre: burst})
    tracemalloc.start()
    try:
        out = koike.extract(str(day), FEATURES["koike"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the centre cut of the whole day, to the sample (2 kHz: no resampling)
    np.testing.assert_array_equal(out["wave"], burst.astype(np.float32) / 32768)
    assert out["logmel"].shape == (64, 301) and np.isfinite(out["logmel"]).all()
    assert max(stop - start for start, stop in decoded) <= 60 * sr
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MB traced for a 60 s clip"


def test_ast_cycles_of_a_day_long_recording_are_read_cycle_by_cycle(tmp_path, decoded):
    sr_in = 4000
    at = {h * 3600 * sr_in: (2000 * np.sin(np.arange(3 * sr_in) / 3)).astype(np.int16) for h in (0, 12, 23)}
    day = sparse_wav(tmp_path / "icbhi_day.wav", DAY, sr=sr_in, bursts=at)
    cfg = dict(FEATURES["ast_sam"])
    cycles = [(0.5, 2.5), (12 * 3600.0, 12 * 3600 + 3.0), (23 * 3600 + 1.0, 23 * 3600 + 30.0)]
    out = ast_sam.extract_cycles(str(day), cycles, cfg)
    assert [o["fbank"].shape for o in out] == [(ast_sam.n_frames(cfg), 128)] * 3
    assert all(np.isfinite(o["fbank"]).all() for o in out)
    # each cycle read with the resampler's margin only (a 29 s cycle: its first 8 s)
    assert len(decoded) == 3 and max(stop - start for start, stop in decoded) <= (8 + 1) * sr_in + 2
    with pytest.raises(AudioError, match=r"icbhi_day\.wav: cycle .* is empty"):
        ast_sam.extract_cycles(str(day), [(DAY + 1.0, DAY + 2.0)], cfg)


@pytest.mark.parametrize("pad_mode", ["repeat", "center", "end"])
def test_ast_windowed_cycles_match_the_whole_file_decode(tmp_path, monkeypatch, pad_mode):
    path = tmp_path / "r.wav"
    sf.write(path, noise(40, 44100, seed=3), 44100, subtype="PCM_24")
    cfg = dict(FEATURES["ast_sam"], pad_mode=pad_mode)
    cycles = [(0.0, 3.2), (10.3, 21.7), (35.5, 41.0)]
    whole = ast_sam.extract_cycles(str(path), cycles, cfg)
    monkeypatch.setattr(audio, "MAX_DECODE_SECONDS", 20.0)
    windowed = ast_sam.extract_cycles(str(path), cycles, cfg)
    for w, o in zip(windowed, whole, strict=True):
        # the samples agree to ~1e-7; the log of the near-empty bins by the resampler's cut-off
        # turns that into ~1e-4 (of normalised log energies spanning about +-1)
        assert np.max(np.abs(w["fbank"] - o["fbank"])) < 1e-3


@pytest.mark.parametrize("mode", ["center", "repeat"])
def test_clip_of_a_long_recording_matches_the_whole_file_decode(tmp_path, monkeypatch, decoded, mode):
    path = tmp_path / "r.flac"
    sf.write(path, noise(50, 44100, seed=1), 44100, subtype="PCM_16")
    whole = audio.load_clip(path, sr=2000, seconds=12.0, mode=mode)
    decoded.clear()
    monkeypatch.setattr(audio, "MAX_DECODE_SECONDS", 20.0)
    windowed = audio.load_clip(path, sr=2000, seconds=12.0, mode=mode)
    assert windowed.shape == whole.shape == (24000,) and np.max(np.abs(windowed - whole)) <= 1e-6
    assert max(stop - start for start, stop in decoded) <= (12 + 1) * 44100 + 441


def test_normal_recordings_keep_the_whole_file_decode(tmp_path, decoded):
    """Below the limit the centre cut still comes from one decode of the whole file, so the
    cached features of every dataset recording are unchanged (bit for bit)."""
    path = tmp_path / "r.flac"
    sf.write(path, noise(75, 4000, seed=2), 4000, subtype="PCM_16")
    out = koike.extract(str(path), FEATURES["koike"])
    assert len(decoded) == 1 and decoded[0][0] == 0  # one decode from the start
    x, _ = audio.read_audio(path)
    ref = audio.fix_length(audio.resample(x, 4000, 2000), 120000, "center")
    np.testing.assert_array_equal(out["wave"], ref)
    af = audiofuse.extract(str(path), dict(FEATURES["audiofuse"], crop="center"))
    np.testing.assert_array_equal(af["wave"], audio.fix_length(audio.resample(x, 4000, 22050), 110250, "center"))
