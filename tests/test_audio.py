"""auscult.audio: probing, decoding, resampling, cropping and broken files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from auscult import audio
from auscult.audio import AudioError


def tone(sr: int, seconds: float, freq: float = 50.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(0)
    return amp * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)


def write(path: Path, x: np.ndarray, sr: int, subtype: str = "PCM_16", fmt: str | None = None):
    sf.write(str(path), x, sr, subtype=subtype, format=fmt)
    return path


# --------------------------------------------------------------------------- probe / read


@pytest.mark.parametrize(
    "subtype, bits, tol",
    [
        ("PCM_16", 16, 1 / 2**15),
        ("PCM_24", 24, 1 / 2**23),
        ("PCM_32", 32, 1e-7),
        ("FLOAT", 32, 1e-7),
    ],
)
@pytest.mark.parametrize("sr", [44100, 4000, 2000])
def test_probe_and_read_bit_depths_and_rates(tmp_path, subtype, bits, tol, sr):
    x = tone(sr, 0.5)
    path = write(tmp_path / "x.wav", x, sr, subtype)
    info = audio.probe(path)
    assert (info.sample_rate, info.n_frames, info.channels) == (sr, x.size, 1)
    assert (info.subtype, info.bit_depth, info.format) == (subtype, bits, "WAV")
    assert info.duration_s == pytest.approx(0.5, abs=1 / sr)
    y, sr_read = audio.read_audio(path)
    assert sr_read == sr and y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= tol


def test_flac_and_wav_decode_to_the_same_samples(tmp_path):
    # int16 input: libsndfile's float -> PCM rounding differs between its WAV and FLAC writers
    x = np.round(tone(2000, 3.0) * 32767).astype(np.int16)
    wav = write(tmp_path / "a.wav", x, 2000)
    flac = write(tmp_path / "a.flac", x, 2000)
    assert audio.probe(flac).format == "FLAC"
    assert audio.probe(flac).bit_depth == 16
    np.testing.assert_array_equal(audio.read_audio(wav)[0], audio.read_audio(flac)[0])


def test_stereo_is_mixed_to_mono_by_mean(tmp_path):
    left, right = tone(4000, 1.0, 40), tone(4000, 1.0, 90, amp=0.3)
    path = write(tmp_path / "s.wav", np.stack([left, right], axis=1), 4000, "FLOAT")
    y, _ = audio.read_audio(path)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)
    both, _ = audio.read_audio(path, mono=False)
    assert both.shape == (2, left.size)
    np.testing.assert_allclose(both[1], right, atol=1e-6)


def test_read_audio_max_seconds_reads_only_the_start(tmp_path):
    x = tone(2000, 10.0)
    path = write(tmp_path / "long.flac", x, 2000)
    y, _ = audio.read_audio(path, max_seconds=2.5)
    assert y.shape == (5000,)
    np.testing.assert_array_equal(y, audio.read_audio(path)[0][:5000])
    assert audio.read_audio(path, max_seconds=60)[0].shape == (20000,)


# --------------------------------------------------------------------------- broken files


def test_truncated_wav_is_detected(tmp_path):
    path = write(tmp_path / "cut.wav", tone(2000, 2.0), 2000)
    data = path.read_bytes()
    path.write_bytes(data[:-1000])  # the data chunk still declares the full length
    with pytest.raises(AudioError, match="truncated WAV") as e:
        audio.probe(path)
    assert str(path) in str(e.value)
    with pytest.raises(AudioError, match="truncated"):
        audio.read_audio(path)


def test_wav_header_without_data_chunk_is_truncated(tmp_path):
    path = write(tmp_path / "hdr.wav", tone(2000, 1.0), 2000)
    path.write_bytes(path.read_bytes()[:30])  # RIFF + part of the fmt chunk
    with pytest.raises(AudioError, match="truncated WAV"):
        audio.probe(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty file \(0 bytes\)") as e:
        audio.probe(path)
    assert str(path) in str(e.value)


def test_text_file_with_wav_extension(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("record,label\na0001,1\n")
    with pytest.raises(AudioError, match="not a readable audio file") as e:
        audio.read_audio(path)
    assert str(path) in str(e.value)
    assert isinstance(e.value, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="file not found") as e:
        audio.probe(tmp_path / "nope.flac")
    assert "nope.flac" in str(e.value)


def test_zero_frames(tmp_path):
    path = write(tmp_path / "zero.wav", np.zeros(0), 2000)
    with pytest.raises(AudioError, match="no audio frames"):
        audio.probe(path)


def test_unsupported_encoding(tmp_path):
    path = write(tmp_path / "ulaw.wav", tone(8000, 0.5), 8000, "ULAW")
    with pytest.raises(AudioError, match="unsupported sample encoding 'ULAW'"):
        audio.probe(path)


# --------------------------------------------------------------------------- fix_length


def test_fix_length_end():
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(audio.fix_length(x, 3), [1, 2, 3])
    np.testing.assert_array_equal(audio.fix_length(x, 7), [1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(audio.fix_length(x, 5), x)


def test_fix_length_center():
    x = np.arange(1, 7, dtype=np.float32)  # 1..6
    np.testing.assert_array_equal(audio.fix_length(x, 4, "center"), [2, 3, 4, 5])
    # odd difference: the extra sample comes off the end
    np.testing.assert_array_equal(audio.fix_length(x, 3, "center"), [2, 3, 4])
    np.testing.assert_array_equal(audio.fix_length(x, 10, "center"), [0, 0, 1, 2, 3, 4, 5, 6, 0, 0])
    np.testing.assert_array_equal(audio.fix_length(x, 9, "center"), [0, 1, 2, 3, 4, 5, 6, 0, 0])


def test_fix_length_repeat():
    x = np.array([1, 2, 3], dtype=np.float32)
    np.testing.assert_array_equal(audio.fix_length(x, 8, "repeat"), [1, 2, 3, 1, 2, 3, 1, 2])
    np.testing.assert_array_equal(audio.fix_length(x, 2, "repeat"), [1, 2])
    np.testing.assert_array_equal(audio.fix_length(np.zeros(0), 3, "repeat"), [0, 0, 0])


def test_fix_length_rejects_unknown_mode_and_negative_length():
    with pytest.raises(ValueError, match="unknown fix_length mode 'wrap'"):
        audio.fix_length(np.zeros(3), 4, "wrap")
    with pytest.raises(ValueError, match=">= 0"):
        audio.fix_length(np.zeros(3), -1)


# --------------------------------------------------------------------------- resample / clip


def test_resample_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = tone(2000, 3.3).astype(np.float32)
    y = audio.resample(x, 2000, 22050)
    ref = librosa.resample(x, orig_sr=2000, target_sr=22050, res_type="soxr_hq")
    assert y.dtype == np.float32 and y.shape == ref.shape == (int(np.ceil(x.size * 22050 / 2000)),)
    np.testing.assert_allclose(y, ref, atol=1e-7)
    same = audio.resample(x.astype(np.float64), 2000, 2000)
    assert same.dtype == np.float32
    np.testing.assert_array_equal(same, x)


@pytest.mark.parametrize(
    "sr_in, seconds_in, sr, seconds, mode",
    [
        (2000, 30.0, 22050, 5.0, "end"),  # long file: only the start is decoded
        (2000, 3.0, 22050, 5.0, "end"),  # short file: zero-padded
        (44100, 12.0, 16000, 8.0, "repeat"),
        (4000, 9.0, 2000, 4.0, "center"),
    ],
)
def test_load_clip_equals_librosa_load_then_fix_length(
    tmp_path, sr_in, seconds_in, sr, seconds, mode
):
    librosa = pytest.importorskip("librosa")
    path = write(tmp_path / "rec.flac", tone(sr_in, seconds_in, freq=70), sr_in)
    clip = audio.load_clip(path, sr=sr, seconds=seconds, mode=mode)
    assert clip.dtype == np.float32 and clip.shape == (round(sr * seconds),)
    y, _ = librosa.load(path, sr=sr)
    ref = audio.fix_length(y, round(sr * seconds), mode)
    assert np.max(np.abs(clip - ref)) <= 1e-6


def test_load_clip_on_a_real_physionet_recording(mirror_root):
    librosa = pytest.importorskip("librosa")
    path = mirror_root / "physionet2016" / "training-e" / "e01777.flac"  # 97 s, the longest
    clip = audio.load_clip(path, sr=22050, seconds=5)
    y, _ = librosa.load(path, sr=22050)
    assert y.size > 15 * clip.size
    assert np.max(np.abs(clip - audio.fix_length(y, 110250))) <= 1e-6


def test_load_clip_propagates_audio_errors(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(AudioError, match="bad.wav"):
        audio.load_clip(path, sr=2000, seconds=1)


def test_sha256_file(tmp_path):
    path = tmp_path / "blob"
    data = bytes(range(256)) * 5000
    path.write_bytes(data)
    assert audio.sha256_file(path, chunk=1000) == hashlib.sha256(data).hexdigest()
