"""Koike et al. 2020 models: CNN14 (PANNs layout) and the ImageNet CNNs on one channel.

Big models are built once per module; parameter counts use the meta device (no memory,
no initialisation); forward passes use tiny inputs on one thread.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from auscult.models import available_models, build_model, count_trainable
from auscult.models.cnn14 import (
    PANNS_FRONTEND,
    SpecAugment,
    dft_kernels,
    hann_periodic,
)
from auscult.models.cnn14 import validate_config as validate_cnn14
from auscult.models.imagenet import NAMES, adapt_first_conv, sum_rgb_kernel
from auscult.models.imagenet import validate_config as validate_imagenet
from auscult.models.weights import WeightsInfo, WeightsMismatchError, load_pretrained

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread

SPEC_AUGMENT = {"time_drop_width": 64, "time_stripes_num": 2, "freq_drop_width": 8,
                "freq_stripes_num": 2}
CNN14_KOIKE = {"arch": "cnn14", "sample_rate": 2000, "window_size": 400, "hop_size": 400,
               "mel_bins": 64, "fmin": 0, "fmax": 1000, "block_dropout": 0.2, "fc_dropout": 0.5,
               "spec_augment": SPEC_AUGMENT}
CNN14_32K = dict(CNN14_KOIKE, **PANNS_FRONTEND)

# Paper Table II "# Params." (millions) and the counts that explain them: the pretrained
# network without its ImageNet classifier (3-channel first conv), truncated to 0.1 M.
PAPER_M = {"vgg16": 14.7, "vgg19": 20.0, "mobilenet_v2": 2.2, "resnet18": 11.1,
           "resnext50_32x4d": 22.9, "resnext101_32x8d": 86.7, "resnext101_32x8d_wsl": 86.7,
           "cnn14": 80.7}
FEATURE_EXTRACTOR_3CH = {"vgg16": 14_714_688, "vgg19": 20_024_384, "mobilenet_v2": 2_223_872,
                         "resnet18": 11_176_512, "resnext50_32x4d": 22_979_904,
                         "resnext101_32x8d": 86_742_336, "resnext101_32x8d_wsl": 86_742_336}
OURS = {"vgg16": 14_714_051, "vgg19": 20_023_747, "mobilenet_v2": 2_224_579,
        "resnet18": 11_170_755, "resnext50_32x4d": 22_975_683,
        "resnext101_32x8d": 86_738_115, "resnext101_32x8d_wsl": 86_738_115}
CNN14_BACKBONE = 79_673_792
CNN14_AUDIOSET = CNN14_BACKBONE + 2048 * 527 + 527  # 80 753 615 (model_anchors)


def imagenet_cfg(name: str, **changes) -> dict:
    return dict({"arch": "imagenet", "name": name, "input": "logmel", "input_norm": "batchnorm",
                 "dropout": 0.5}, **changes)


def truncate_m(n: int) -> float:
    return int(n // 100_000) / 10


@pytest.fixture(scope="module")
def cnn14_koike():
    torch.manual_seed(0)
    return build_model(CNN14_KOIKE)


@pytest.fixture(scope="module")
def cnn14_32k():
    torch.manual_seed(1)
    return build_model(CNN14_32K)


_BUILT: dict[str, nn.Module] = {}


def real_imagenet(name: str) -> nn.Module:
    """Each ImageNet network is built at most once per module (ResNeXt-101 takes seconds)."""
    if name not in _BUILT:
        torch.manual_seed(0)
        _BUILT[name] = build_model(imagenet_cfg(name))
    return _BUILT[name]


def on_meta(cfg: dict) -> nn.Module:
    with torch.device("meta"):
        return build_model(cfg)


# --------------------------------------------------------------------------- registry, counts
def test_models_are_registered():
    assert {"cnn14", "imagenet"} <= set(available_models())


@pytest.mark.parametrize("name", list(NAMES))
def test_imagenet_parameter_counts_explain_table_ii(name):
    import torchvision.models as tvm

    model = on_meta(imagenet_cfg(name))
    assert count_trainable(model) == OURS[name]
    arch = "resnext101_32x8d" if name.endswith("_wsl") else name
    with torch.device("meta"):
        ref = getattr(tvm, arch)(weights=None)
    classifier = model.weights_ignore[0]
    feat = sum(p.numel() for k, p in ref.named_parameters() if not k.startswith(classifier))
    assert feat == FEATURE_EXTRACTOR_3CH[name]
    assert truncate_m(feat) == PAPER_M[name]
    # ours = paper's feature extractor - 2/3 of the first conv + input BN (2) + head (D + 1)
    first = dict(ref.named_parameters())[model.weights_first_conv]
    d = model.backbone.out_dim
    assert OURS[name] == feat - first.numel() * 2 // 3 + 2 + d + 1


def test_cnn14_parameter_counts_explain_table_ii():
    koike, canonical = on_meta(CNN14_KOIKE), on_meta(CNN14_32K)
    for model in (koike, canonical):  # DSP tensors are buffers: same count at any rate
        assert count_trainable(model.backbone) == CNN14_BACKBONE
        assert count_trainable(model) == CNN14_BACKBONE + 2049
    assert truncate_m(CNN14_AUDIOSET) == PAPER_M["cnn14"]
    dsp = {k: v.numel() for k, v in koike.backbone.state_dict().items()
           if k.startswith(koike.weights_frontend)}
    assert sum(dsp.values()) == 2 * 201 * 400 + 201 * 64


def test_cnn14_state_dict_follows_the_panns_checkpoint_layout():
    model = on_meta(CNN14_32K)
    sd = model.backbone.state_dict()
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    expected = {
        "spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024),
        "spectrogram_extractor.stft.conv_imag.weight": (513, 1, 1024),
        "logmel_extractor.melW": (513, 64),
        "fc1.weight": (2048, 2048),
        "fc1.bias": (2048,),
    }
    expected.update({f"bn0.{k}": () if k == "num_batches_tracked" else (64,) for k in bn})
    c_in = 1
    for i, c in enumerate((64, 128, 256, 512, 1024, 2048), start=1):
        expected[f"conv_block{i}.conv1.weight"] = (c, c_in, 3, 3)
        expected[f"conv_block{i}.conv2.weight"] = (c, c, 3, 3)
        for j in (1, 2):
            expected.update({f"conv_block{i}.bn{j}.{k}": () if k == "num_batches_tracked" else (c,)
                             for k in bn})
        c_in = c
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected  # + fc_audioset in the file
    koike = on_meta(CNN14_KOIKE).backbone.state_dict()
    assert set(koike) == set(sd)
    assert tuple(koike["spectrogram_extractor.stft.conv_real.weight"].shape) == (201, 1, 400)
    assert tuple(koike["logmel_extractor.melW"].shape) == (201, 64)
    # the DSP tensors can never be trained
    names = {n for n, _ in on_meta(CNN14_KOIKE).named_parameters()}
    assert not any(n.startswith("backbone.spectrogram_extractor") or "melW" in n for n in names)


def test_cnn14_stft_kernels_equal_torchlibrosa_construction():
    from scipy.signal import get_window

    n = 512  # the formula is size-agnostic; 1024 (32 kHz) only costs more time
    x, y = np.meshgrid(np.arange(n), np.arange(n))
    dft = np.power(np.exp(-2 * np.pi * 1j / n), x * y)  # torchlibrosa's dft_matrix
    window = get_window("hann", n, fftbins=True)
    real, imag = dft_kernels(n)
    np.testing.assert_allclose(hann_periodic(n), window, atol=1e-12)
    ref = dft[:, : n // 2 + 1] * window[:, None]
    np.testing.assert_allclose(real, ref.real.T, atol=1e-9)
    np.testing.assert_allclose(imag, ref.imag.T, atol=1e-9)


def test_cnn14_mel_matrix_equals_librosa():
    librosa = pytest.importorskip("librosa")
    from auscult.models.cnn14 import mel_filterbank

    for sr, n_fft, fmin, fmax in ((2000, 400, 0, 1000), (32000, 1024, 50, 14000)):
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=64, fmin=fmin, fmax=fmax)
        np.testing.assert_allclose(mel_filterbank(sr, n_fft, 64, fmin, fmax), ref, atol=1e-7)


# --------------------------------------------------------------------------- CNN14 behaviour
def test_cnn14_forward_shapes_and_errors(cnn14_koike):
    model = cnn14_koike.eval()
    assert model.inputs == ("wave",) and not model.frontend_is_canonical
    wave = torch.randn(2, 31 * 400) * 0.1  # 32 frames: the minimum for five 2x2 pools
    with torch.no_grad():
        z = model.backbone({"wave": wave})
        logits = model({"wave": wave})
    assert z.shape == (2, 2048) and logits.shape == (2,) and logits.dtype == torch.float32
    assert torch.allclose(logits, model.head(z))
    assert torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="32 frames"):
        model({"wave": torch.randn(1, 30 * 400)})
    with pytest.raises(KeyError, match="wave"):
        model({"logmel": torch.randn(1, 64, 40)})
    assert model.backbone.logmel(torch.randn(1, 120_000)).shape == (1, 1, 301, 64)


def test_cnn14_trains_with_spec_augment(cnn14_koike):
    model = cnn14_koike.train()
    torch.manual_seed(0)
    loss = model({"wave": torch.randn(2, 31 * 400) * 0.1}).sum()
    loss.backward()
    assert model.backbone.conv_block1.conv1.weight.grad is not None
    assert model.head.fc.weight.grad is not None
    model.zero_grad(set_to_none=True)
    model.eval()


def test_spec_augment_drops_stripes_only_in_training():
    aug = SpecAugment(time_drop_width=8, time_stripes_num=2, freq_drop_width=4, freq_stripes_num=2)
    x = torch.ones(16, 1, 50, 64)
    assert aug.eval()(x) is x
    torch.manual_seed(0)
    y = aug.train()(x)
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
    zero_frames = (y[:, 0] == 0).all(dim=2).sum(dim=1)  # whole frames zeroed per sample
    zero_bins = (y[:, 0] == 0).all(dim=1).sum(dim=1)
    assert zero_frames.max() <= 2 * 7 and zero_bins.max() <= 2 * 3
    assert zero_frames.sum() > 0 and zero_bins.sum() > 0


def test_cnn14_checkpoint_roundtrip_drops_the_32k_front_end(tmp_path, cnn14_32k, cnn14_koike):
    # A checkpoint in the authors' format, from a freshly built 32 kHz CNN14.
    src = cnn14_32k.backbone.state_dict()
    ckpt = {k: v.clone() for k, v in src.items()}
    ckpt["fc_audioset.weight"] = torch.randn(527, 2048)
    ckpt["fc_audioset.bias"] = torch.zeros(527)
    path = tmp_path / "Cnn14_mAP=0.431.pth"
    torch.save({"iteration": 0, "model": ckpt}, path)
    info = WeightsInfo(path, "pretrained", f"local:{path}", None, name="cnn14")

    koike = cnn14_koike
    own_front = koike.backbone.logmel_extractor.melW.clone()
    with pytest.raises(WeightsMismatchError, match="drop_frontend=True"):
        load_pretrained(koike, info, drop_frontend=False)
    report = load_pretrained(koike, info, drop_frontend=True)
    assert report.ignored == ["fc_audioset.bias", "fc_audioset.weight"]
    assert sorted(report.frontend_dropped) == [
        "logmel_extractor.melW", "spectrogram_extractor.stft.conv_imag.weight",
        "spectrogram_extractor.stft.conv_real.weight"]
    got = koike.backbone.state_dict()
    for k, v in src.items():
        if not k.startswith(koike.weights_frontend):
            assert torch.equal(got[k], v), k
    assert torch.equal(koike.backbone.logmel_extractor.melW, own_front)  # 2 kHz front end kept
    # The canonical 32 kHz front end equals the checkpoint's: loads without dropping.
    report = load_pretrained(cnn14_32k, info, drop_frontend=False)
    assert report.frontend_dropped == [] and report.loaded == len(src)


def test_cnn14_config_errors_name_the_key():
    bad = copy.deepcopy(CNN14_KOIKE)
    del bad["hop_size"]
    with pytest.raises(KeyError, match="hop_size"):
        validate_cnn14(bad)
    with pytest.raises(ValueError, match="unknown key.*nope"):
        validate_cnn14(dict(CNN14_KOIKE, nope=1))
    with pytest.raises(ValueError, match="fmax"):
        validate_cnn14(dict(CNN14_KOIKE, fmax=1500))
    with pytest.raises(ValueError, match="mel_bins"):
        validate_cnn14(dict(CNN14_KOIKE, mel_bins=16))
    with pytest.raises(KeyError, match="freq_stripes_num"):
        validate_cnn14(dict(CNN14_KOIKE, spec_augment={k: v for k, v in SPEC_AUGMENT.items()
                                                       if k != "freq_stripes_num"}))
    validate_cnn14(dict(CNN14_KOIKE, spec_augment=None))


# --------------------------------------------------------------------------- ImageNet models
def test_single_channel_conv_equals_summed_rgb_kernel():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=True)
    one = adapt_first_conv(conv)
    assert one.in_channels == 1 and one.stride == (2, 2) and one.padding == (1, 1)
    np.testing.assert_allclose(one.weight.detach().numpy(),
                               conv.weight.detach().numpy().sum(axis=1, keepdims=True), atol=1e-7)
    assert torch.equal(sum_rgb_kernel(conv.weight), conv.weight.sum(1, keepdim=True))
    grey = torch.randn(2, 1, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(one(grey), conv(grey.repeat(1, 3, 1, 1)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", [n for n in NAMES if not n.endswith("_wsl")])
def test_imagenet_forward_on_a_tiny_spectrogram(name):
    model = real_imagenet(name).eval()
    target = model.weights_target.state_dict()
    first = target[model.weights_first_conv]
    assert first.shape[1] == 1
    assert not any(k.startswith(model.weights_ignore) for k in target)  # classifier removed
    with torch.no_grad():
        z = model.backbone({"logmel": torch.randn(1, 1, 64, 32)})
        logits = model({"logmel": torch.randn(1, 64, 32)})  # (B, F, T) accepted too
    assert z.shape == (1, model.backbone.out_dim) and logits.shape == (1,)
    assert torch.isfinite(logits).all()


def test_wsl_model_is_the_resnext101_architecture():
    a = on_meta(imagenet_cfg("resnext101_32x8d_wsl"))
    b = on_meta(imagenet_cfg("resnext101_32x8d"))
    assert {k: v.shape for k, v in a.state_dict().items()} == {
        k: v.shape for k, v in b.state_dict().items()}
    assert a.weights_name == "resnext101_32x8d_wsl" and b.weights_name == "resnext101_32x8d"


def test_imagenet_input_key_is_configurable():
    model = build_model(imagenet_cfg("mobilenet_v2", input="linear", input_norm="none")).eval()
    assert model.inputs == ("linear",)
    assert isinstance(model.backbone.input_norm, nn.Identity)
    with torch.no_grad():
        assert model({"linear": torch.randn(2, 201, 40)}).shape == (2,)
    with pytest.raises(KeyError, match="linear"):
        model({"logmel": torch.randn(2, 64, 40)})
    with pytest.raises(ValueError, match="input must be"):
        model({"linear": torch.randn(2, 3, 201, 40)})


@pytest.mark.parametrize(
    "change, exc, match",
    [
        ({"name": "resnet50"}, ValueError, "name"),
        ({"input": "spec"}, ValueError, "input"),
        ({"input_norm": "layernorm"}, ValueError, "input_norm"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"extra": 0}, ValueError, "unknown key"),
    ],
)
def test_imagenet_config_errors(change, exc, match):
    with pytest.raises(exc, match=match):
        validate_imagenet(dict(imagenet_cfg("vgg16"), **change))
    cfg = imagenet_cfg("vgg16")
    del cfg["dropout"]
    with pytest.raises(KeyError, match="dropout"):
        validate_imagenet(cfg)


def test_models_import_without_the_audio_stack():
    # Training runs on GPU machines without librosa/soundfile: auscult.models must not
    # import them (or pandas) - checked in a fresh interpreter.
    import subprocess
    import sys

    code = ("import sys, auscult.models, auscult.models.weights; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('librosa', 'soundfile', 'soxr', 'pandas') or m.startswith("
            "('auscult.datasets', 'auscult.features', 'auscult.audio'))); "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
