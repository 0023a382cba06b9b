"""The Koike et al. 2020 feature recipe: 2 kHz, centre crop/pad to 60 s, log-mel and linear."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from auscult.features.build import RECIPES, build_feature_cache
from auscult.features.store import load_arrays, read_meta
from auscult.papers.koike import features as koike

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread

CFG = {
    "sample_rate": 2000, "clip_seconds": 60.0, "n_fft": 400, "hop_length": 400,
    "pad_mode": "reflect", "n_mels": 64, "fmin": 0.0, "fmax": 1000.0, "amin": 1.0e-10,
    "outputs": ["wave", "logmel", "linear"], "store_dtype": "float32", "shard_size": 2,
}


N = 120_000  # 60 s at 2 kHz
FRAMES = 1 + N // 400  # 301: center=True, as the CNN14 front end counts them


def _write(path, x, sr):
    sf.write(path, np.asarray(x, dtype=np.float32), sr, subtype="FLOAT")
    return str(path)


def _noise(n, seed=0):
    return (np.random.default_rng(seed).normal(size=n) * 0.1).astype(np.float32)


def test_registered_as_a_recipe():
    assert RECIPES["koike"] is koike.extract


def test_shapes_for_a_60_s_clip(tmp_path):
    out = koike.extract(_write(tmp_path / "a.wav", _noise(N), 2000), CFG)
    assert set(out) == {"wave", "logmel", "linear"}
    assert out["wave"].shape == (N,)
    assert out["logmel"].shape == (64, FRAMES) == (64, 301)
    assert out["linear"].shape == (201, FRAMES)
    assert koike.n_frames(N, 400) == 301
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in out.values())


def test_long_recordings_are_cut_at_start_and_end(tmp_path):
    src = _noise(N + 20_000, seed=1)  # 70 s: 5 s cut at each end
    out = koike.extract(_write(tmp_path / "long.wav", src, 2000), CFG)
    np.testing.assert_array_equal(out["wave"], src[10_000:10_000 + N])
    odd = _noise(N + 1, seed=2)  # an odd excess goes to the end
    out = koike.extract(_write(tmp_path / "odd.wav", odd, 2000), CFG)
    np.testing.assert_array_equal(out["wave"], odd[:N])


def test_short_recordings_are_zero_padded_in_the_centre(tmp_path):
    src = _noise(40_000, seed=3)  # 20 s: 20 s of zeros on each side
    wave = koike.extract(_write(tmp_path / "short.wav", src, 2000), CFG)["wave"]
    np.testing.assert_array_equal(wave[40_000:80_000], src)
    assert not wave[:40_000].any() and not wave[80_000:].any()


def test_other_sample_rates_are_resampled_to_2khz(tmp_path):
    src = _noise(4000 * 30, seed=4)  # 30 s at 4 kHz
    wave = koike.extract(_write(tmp_path / "4k.wav", src, 4000), CFG)["wave"]
    assert wave.shape == (N,)
    # resampled first (60 000 samples), then padded: 30 000 zeros on each side
    assert not wave[:30_000].any() and not wave[90_000:].any()
    assert np.abs(wave[30_000:90_000]).mean() > 0.01


def test_linear_spectrogram_bins_are_5_hz():
    t = np.arange(N) / 2000
    tone = (0.5 * np.sin(2 * np.pi * 250.0 * t)).astype(np.float32)
    spec = koike.spectrograms(tone, CFG)
    assert spec["linear"].shape == (201, FRAMES)
    assert np.all(np.argmax(spec["linear"][:, 5:-5], axis=0) == 50)  # 250 Hz / 5 Hz
    mel_peak = np.argmax(spec["logmel"][:, 150])
    assert 10 <= mel_peak <= 20  # 250 Hz on a linear (Slaney < 1 kHz) 0-1000 Hz mel axis


def test_logmel_equals_the_cnn14_front_end():
    torch = pytest.importorskip("torch")
    from auscult.models.cnn14 import LogmelFilterBank, Spectrogram

    wave = _noise(N, seed=5)
    ours = koike.spectrograms(wave, CFG)
    x = torch.from_numpy(wave)[None]
    with torch.no_grad():
        power = Spectrogram(400, 400)(x)
        logmel = LogmelFilterBank(2000, 400, 64, 0.0, 1000.0)(power)
    assert tuple(logmel.shape) == (1, 1, FRAMES, 64)
    np.testing.assert_allclose(logmel[0, 0].numpy().T, ours["logmel"], atol=2e-3)
    lin = 10 * torch.log10(power.clamp(min=1e-10))[0, 0].numpy().T
    np.testing.assert_allclose(lin, ours["linear"], atol=2e-3)


def test_outputs_and_dtype_follow_the_config(tmp_path):
    cfg = dict(CFG, outputs=["logmel"], store_dtype="float16")
    out = koike.extract(_write(tmp_path / "a.wav", _noise(8000), 2000), cfg)
    assert set(out) == {"logmel"} and out["logmel"].dtype == np.float16


@pytest.mark.parametrize(
    "change, exc, match",
    [
        ({"drop": "n_mels"}, KeyError, "n_mels"),
        ({"extra": 1}, ValueError, "unknown key.*extra"),
        ({"fmax": 1500.0}, ValueError, "fmax"),
        ({"outputs": ["mfcc"]}, ValueError, "outputs"),
        ({"outputs": []}, ValueError, "outputs"),
        ({"pad_mode": "edge"}, ValueError, "pad_mode"),
        ({"hop_length": 0}, ValueError, "hop_length"),
        ({"store_dtype": "int16"}, ValueError, "store_dtype"),
    ],
)
def test_config_errors_name_the_key(change, exc, match):
    cfg = copy.deepcopy(CFG)
    if "drop" in change:
        del cfg[change.pop("drop")]
    cfg.update(change)
    with pytest.raises(exc, match=match):
        koike.validate_config(cfg)


def test_feature_cache_roundtrip(tmp_path):
    rows = []
    for i, seconds in enumerate((10.0, 61.0, 30.0)):
        _write(tmp_path / f"r{i}.wav", _noise(int(seconds * 2000), seed=i), 2000)
        rows.append({"record_id": f"r{i}", "audio_path": f"r{i}.wav", "label": i % 2})
    build_feature_cache(pd.DataFrame(rows), tmp_path, tmp_path / "feat", recipe="koike", cfg=CFG,
                        progress=False)
    meta = read_meta(tmp_path / "feat")
    assert meta["arrays"]["logmel"]["shape"] == [64, 301]
    assert meta["arrays"]["linear"]["shape"] == [201, 301]
    assert meta["arrays"]["wave"]["shape"] == [N]
    _, arrays = load_arrays(tmp_path / "feat", ["wave"], ["r1"])
    np.testing.assert_array_equal(arrays["wave"][0], koike.extract(str(tmp_path / "r1.wav"), CFG)["wave"])
