"""The AudioFuse feature recipe and the sharded feature store."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from auscult.features.build import build_feature_cache
from auscult.features.store import (
    FeatureStoreError,
    load_arrays,
    read_index,
    read_meta,
    write_store,
)
from auscult.papers.audiofuse.features import extract, logmel_image, resize_bilinear

CFG = {"sample_rate": 22050, "clip_seconds": 5.0, "crop": "end",
       "logmel": {"n_fft": 2048, "hop_length": 512, "n_mels": 224, "top_db": 80.0, "resize": [224, 224]},
       "waveform": True, "store_dtype": "float32", "shard_size": 2}


def test_resize_matches_opencv_semantics():
    # OpenCV INTER_LINEAR == half-pixel bilinear == torch's align_corners=False (no antialias).
    torch = pytest.importorskip("torch")
    img = np.random.default_rng(0).normal(size=(224, 216)).astype(np.float32)
    ours = resize_bilinear(img, (224, 224))
    ref = torch.nn.functional.interpolate(torch.from_numpy(img)[None, None], size=(224, 224),
                                          mode="bilinear", align_corners=False)[0, 0].numpy()
    # torch maps coordinates in float32, we in float64: agreement to ~1e-4 of the value range.
    np.testing.assert_allclose(ours, ref, atol=2e-4)
    np.testing.assert_array_equal(resize_bilinear(img, (224, 216)), img)


def test_logmel_image_follows_the_paper_recipe():
    import librosa

    rng = np.random.default_rng(1)
    wave = (rng.normal(size=110250) * 0.1).astype(np.float32)
    img = logmel_image(wave, 22050, CFG["logmel"])
    assert img.shape == (224, 224) and img.dtype == np.float32
    assert img.min() == pytest.approx(0.0, abs=1e-6) and img.max() == pytest.approx(1.0, abs=1e-5)
    mel = librosa.feature.melspectrogram(y=wave, sr=22050, n_fft=2048, hop_length=512, n_mels=224)
    db = librosa.power_to_db(mel, ref=np.max)
    assert db.shape == (224, 216)  # 1 + 110250 // 512 frames before the resize
    ref = resize_bilinear(db, (224, 224))
    ref = (ref - ref.min()) / (ref.max() - ref.min() + 1e-6)
    np.testing.assert_allclose(img, ref, atol=1e-6)


def _write_wav(path, seconds, sr=2000, seed=0):
    x = np.random.default_rng(seed).normal(size=int(seconds * sr)) * 0.1
    sf.write(path, x, sr, subtype="PCM_16")


def test_extract_crops_and_pads_to_five_seconds(tmp_path):
    _write_wav(tmp_path / "long.wav", 9.0)
    _write_wav(tmp_path / "short.wav", 2.0)
    long, short = extract(str(tmp_path / "long.wav"), CFG), extract(str(tmp_path / "short.wav"), CFG)
    for f in (long, short):
        assert f["spec"].shape == (224, 224) and f["wave"].shape == (110250,)
    assert np.all(short["wave"][2 * 22050 + 100:] == 0)  # zero-padded at the end
    assert np.abs(long["wave"][-1000:]).sum() > 0


def test_feature_cache_roundtrip(tmp_path):
    rows = []
    for i in range(5):
        _write_wav(tmp_path / f"r{i}.wav", 3.0 + i, seed=i)
        rows.append({"record_id": f"r{i}", "audio_path": f"r{i}.wav", "label": i % 2})
    manifest = pd.DataFrame(rows)
    stats = build_feature_cache(manifest, tmp_path, tmp_path / "feat", recipe="audiofuse", cfg=CFG,
                                workers=2, progress=False)
    assert stats["recordings"] == 5
    assert sorted(p.name for p in (tmp_path / "feat").glob("spec-*.npy")) == [
        "spec-000.npy", "spec-001.npy", "spec-002.npy"]
    index, arrays = load_arrays(tmp_path / "feat", ["spec", "wave"], ["r3", "r0"])
    assert list(index["record_id"]) == ["r3", "r0"]
    np.testing.assert_array_equal(arrays["wave"][1], extract(str(tmp_path / "r0.wav"), CFG)["wave"])
    assert read_meta(tmp_path / "feat")["n_records"] == 5
    with pytest.raises(FeatureStoreError, match="not cached"):
        load_arrays(tmp_path / "feat", ["spec"], ["nope"])


def test_unknown_recipe_and_bad_audio_fail_clearly(tmp_path):
    manifest = pd.DataFrame([{"record_id": "x", "audio_path": "x.wav", "label": 0}])
    with pytest.raises(ValueError, match="unknown feature recipe"):
        build_feature_cache(manifest, tmp_path, tmp_path / "f", recipe="nope", cfg=CFG)
    (tmp_path / "x.wav").write_text("not audio")
    with pytest.raises(ValueError, match="x.wav"):
        build_feature_cache(manifest, tmp_path, tmp_path / "f", recipe="audiofuse", cfg=CFG, progress=False)
    assert not (tmp_path / "f").exists()  # nothing half-written


def test_store_rejects_short_writes_and_reports_missing_dirs(tmp_path):
    index = pd.DataFrame({"record_id": ["a", "b"], "label": [0, 1]})
    with pytest.raises(FeatureStoreError, match="wrote 1 feature rows for an index of 2"):
        write_store(tmp_path / "s", index, [{"spec": np.zeros((1, 2, 2))}], {})
    assert not (tmp_path / "s").exists()
    with pytest.raises(FeatureStoreError, match="missing or incomplete"):
        read_index(tmp_path / "s")


@pytest.mark.mirror
def test_real_physionet_recording_features(mirror_root):
    import librosa

    path = mirror_root / "physionet2016" / "training-a" / "a0001.flac"
    feats = extract(str(path), CFG)
    y, _ = librosa.load(path, sr=22050)
    ref = np.zeros(110250, np.float32)
    ref[: min(len(y), 110250)] = y[:110250]
    np.testing.assert_allclose(feats["wave"], ref, atol=1e-6)
    np.testing.assert_allclose(feats["spec"], logmel_image(ref, 22050, CFG["logmel"]), atol=1e-5)


def test_cached_filterbank_and_window_give_librosas_features_bit_for_bit():
    """The AudioFuse and Koike recipes build librosa's mel filterbank and Hann window once per
    process (auscult.features.spectral); the features equal librosa's own calls exactly."""
    import librosa

    from auscult.papers.audiofuse import features as audiofuse
    from auscult.papers.koike import features as koike
    from auscult.params import load_params

    rng = np.random.default_rng(3)
    cfg = load_params("params.yaml")["features"]
    af = cfg["audiofuse"]["logmel"]
    for _ in range(2):
        wave = rng.standard_normal(110250).astype(np.float32) * 0.1
        assert np.array_equal(audiofuse.logmel_image(wave, 22050, af), audiofuse.logmel_image_reference(wave, 22050, af))
    kc = cfg["koike"]
    wave = rng.standard_normal(4000).astype(np.float32)
    spec = librosa.stft(wave, n_fft=kc["n_fft"], hop_length=kc["hop_length"], win_length=kc["n_fft"], window="hann",
                        center=True, pad_mode=kc["pad_mode"])
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    fb = librosa.filters.mel(sr=kc["sample_rate"], n_fft=kc["n_fft"], n_mels=kc["n_mels"], fmin=float(kc["fmin"]),
                             fmax=float(kc["fmax"]))
    out = koike.spectrograms(wave, kc)
    assert np.array_equal(out["logmel"], (10.0 * np.log10(np.maximum(fb @ power, float(kc["amin"])))).astype(np.float32))
    assert np.array_equal(out["linear"], (10.0 * np.log10(np.maximum(power, float(kc["amin"])))).astype(np.float32))


def _damage_truncated(d):
    p = d / "x-000.npy"
    p.write_bytes(p.read_bytes()[:-8])
    return p, "truncated shard"


def _damage_objects(d):
    p = d / "x-000.npy"
    np.save(p, np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    return p, "holds object values"


def _damage_not_npy(d):
    p = d / "x-000.npy"
    p.write_bytes(b"PK\x03\x04 not numpy")
    return p, "not a readable .npy shard"


def _damage_row(d):
    index = pd.read_csv(d / "index.csv")
    index.loc[1, "row"] = 7
    index.to_csv(d / "index.csv", index=False)
    return d / "index.csv", "record r1 is row 7 of x-000.npy, which holds 3 rows"


def _damage_index_column(d):
    pd.read_csv(d / "index.csv").drop(columns="row").to_csv(d / "index.csv", index=False)
    return d / "index.csv", "lacks column(s) ['row']"


def _damage_meta(d):
    (d / "meta.json").write_text("{")
    return d / "meta.json", "not valid JSON"


@pytest.mark.parametrize("damage", [_damage_truncated, _damage_objects, _damage_not_npy, _damage_row,
                                    _damage_index_column, _damage_meta])
def test_a_damaged_cache_is_one_error_naming_the_file(tmp_path, damage):
    index = pd.DataFrame({"record_id": ["r0", "r1", "r2"]})
    write_store(tmp_path / "f", index, [{"x": np.arange(12, dtype=np.float32).reshape(3, 4)}], {"recipe": "t"})
    named, words = damage(tmp_path / "f")
    with pytest.raises(FeatureStoreError) as e:
        read_meta(tmp_path / "f")
        load_arrays(tmp_path / "f", ["x"])
    assert str(e.value).startswith(f"{named}: ") and words in str(e.value) and "\n" not in str(e.value)
