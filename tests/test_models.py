"""AudioFuse model: exact parameter counts (spec §3.2-3.4), structure, config checks, init."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from auscult.models import available_models, build_model, count_trainable
from auscult.papers.audiofuse.model import keras_same_padding

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread

PAPER = {
    "arch": "audiofuse",
    "branches": ["spec", "wave"],
    "vit": {"img_size": 224, "patch": 16, "width": 192, "depth": 6, "heads": 8, "mlp_dim": 384,
            "dropout": 0.2, "attn_dropout": 0.2, "pos_emb": "frozen_random", "ln_eps": 1.0e-6},
    "wave_cnn": {"channels": [64, 128, 256], "kernel": 16, "stride": 1, "pool": 4, "out_dim": 64,
                 "bn_momentum": 0.01, "bn_eps": 1.0e-3},
    "head": {"hidden": 192, "dropout": 0.5},
    "init": "glorot",
}

TINY = {
    "arch": "audiofuse",
    "branches": ["spec", "wave"],
    "vit": {"img_size": 32, "patch": 8, "width": 16, "depth": 2, "heads": 4, "mlp_dim": 32,
            "dropout": 0.1, "attn_dropout": 0.1, "pos_emb": "frozen_random", "ln_eps": 1.0e-6},
    "wave_cnn": {"channels": [4, 8, 8], "kernel": 16, "stride": 1, "pool": 4, "out_dim": 8,
                 "bn_momentum": 0.01, "bn_eps": 1.0e-3},
    "head": {"hidden": 16, "dropout": 0.5},
    "init": "glorot",
}

# Keras counts of spec §3.4 (fusion) and §3.3 (baselines), count_params() incl. BN moving stats.
KERAS_BN_MOVING = 2 * (64 + 128 + 256)  # 896 moving mean/variance entries, buffers in PyTorch
PER_BLOCK = 297_024  # LN 384 + MHA 148 224 + LN 384 + Dense 74 112 + Dense 73 920


def variant(base: dict = PAPER, **changes) -> dict:
    cfg = copy.deepcopy(base)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = cfg
        for p in path:
            node = node[p]
        node[last] = value
    return cfg


def spec_only(base: dict = PAPER) -> dict:
    cfg = variant(base, branches=["spec"])
    del cfg["wave_cnn"]
    return cfg


def wave_only(base: dict = PAPER) -> dict:
    cfg = variant(base, branches=["wave"])
    del cfg["vit"]
    return cfg


def n_bn_running(model: nn.Module) -> int:
    return sum(b.numel() for n, b in model.named_buffers() if "running_" in n)


# --------------------------------------------------------------------------- parameter counts
def test_fusion_6x8_count_matches_spec():
    model = build_model(PAPER)
    assert count_trainable(model) == 2_555_585
    # Keras count_params() also counts the BN moving statistics.
    assert n_bn_running(model) == KERAS_BN_MOVING
    assert count_trainable(model) + n_bn_running(model) == 2_556_481


def test_learnable_pos_emb_adds_37632():
    model = build_model(variant(vit__pos_emb="learnable"))
    assert count_trainable(model) == 2_593_217 == 2_555_585 + 196 * 192


def test_no_pos_emb_same_count_as_frozen():
    model = build_model(variant(vit__pos_emb="none"))
    assert count_trainable(model) == 2_555_585
    assert model.backbone.vit.pos_emb is None


@pytest.mark.parametrize(
    ("depth", "heads", "keras", "torch_count"),
    [(4, 8, 1_962_433, 1_961_537), (8, 8, 3_150_529, 3_149_633), (12, 6, 4_338_625, 4_337_729)],
)
def test_ablation_counts(depth, heads, keras, torch_count):
    # spec §3.4 Keras counts minus the 896 BN moving stats; also = 6x8 +- n x 297 024.
    assert torch_count == keras - KERAS_BN_MOVING == 2_555_585 + (depth - 6) * PER_BLOCK
    model = build_model(variant(vit__depth=depth, vit__heads=heads))
    assert count_trainable(model) == torch_count


def test_vit_only_baseline_count():
    # ViT 1 831 872 + Dense 192->192 (37 056) + Dense 192->1 (193): no BN, Keras == PyTorch.
    model = build_model(spec_only())
    assert model.inputs == ("spec",)
    assert count_trainable(model) == 1_869_121
    assert n_bn_running(model) == 0


def test_cnn_only_baseline_count():
    # Keras 687 745 = wave branch 675 072 (incl. 896 BN moving stats) + Dense 64->192 (12 480)
    # + Dense 192->1 (193). PyTorch keeps the moving stats as buffers: 687 745 - 896.
    model = build_model(wave_only())
    assert model.inputs == ("wave",)
    assert count_trainable(model) == 687_745 - KERAS_BN_MOVING == 686_849
    assert count_trainable(model) + n_bn_running(model) == 687_745


def test_mha_count_matches_keras():
    block = build_model(PAPER).backbone.vit.blocks[0]
    assert sum(p.numel() for p in block.attn.parameters()) == 148_224
    assert sum(p.numel() for p in block.parameters()) == PER_BLOCK


# --------------------------------------------------------------------------- structure
def _tiny_batch(b: int = 3, length: int = 256) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"spec": torch.rand(b, 32, 32, generator=g), "wave": torch.randn(b, length, generator=g)}


def test_forward_is_head_of_backbone_and_returns_logits():
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    x = _tiny_batch()
    z = model.backbone(x)
    assert z.shape == (3, 16 + 8)  # ViT width + wave GAP channels
    out = model(x)
    assert out.shape == (3,) and out.dtype == torch.float32
    assert torch.equal(out, model.head(z))
    assert model.inputs == ("spec", "wave")


def test_input_layouts_are_equivalent():
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    x = _tiny_batch()
    x4 = {"spec": x["spec"].unsqueeze(1), "wave": x["wave"].unsqueeze(1)}
    assert torch.allclose(model(x), model(x4))
    with pytest.raises(ValueError, match="spec input"):
        model({"spec": torch.rand(3, 32, 30), "wave": x["wave"]})
    with pytest.raises(KeyError, match="wave"):
        model({"spec": x["spec"]})


@pytest.mark.parametrize("branches", [["spec"], ["wave"]])
def test_single_branch_models(branches):
    cfg = spec_only(TINY) if branches == ["spec"] else wave_only(TINY)
    model = build_model(cfg).eval()
    x = {k: v for k, v in _tiny_batch().items() if k in model.inputs}
    assert model.inputs == tuple(branches)
    assert model(x).shape == (3,)


def test_head_holds_exactly_the_three_dense_layers():
    # PASCAL protocol (spec §3.6): wave Dense64, Dense192 and the output Dense = 6 tensors.
    model = build_model(PAPER)
    names = [n for n, _ in model.head.named_parameters()]
    assert names == ["wave_proj.weight", "wave_proj.bias", "fc.weight", "fc.bias",
                     "out.weight", "out.bias"]
    assert sum(p.numel() for p in model.head.parameters()) == 16_448 + 49_344 + 193


def test_frozen_pos_emb_is_deterministic_buffer():
    torch.manual_seed(7)
    a = build_model(TINY)
    torch.manual_seed(7)
    b = build_model(TINY)
    pos = a.backbone.vit.pos_emb
    assert "backbone.vit.pos_emb" in dict(a.named_buffers())
    assert "backbone.vit.pos_emb" in a.state_dict()
    assert all(p is not pos for p in a.parameters())
    assert pos.shape == (1, 16, 16) and pos.abs().max() <= 0.05
    assert torch.equal(pos, b.backbone.vit.pos_emb)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    learn = build_model(variant(TINY, vit__pos_emb="learnable"))
    assert isinstance(learn.backbone.vit.pos_emb, nn.Parameter)


def test_glorot_init_follows_keras():
    torch.manual_seed(0)
    model = build_model(PAPER)
    fc = model.head.fc
    assert torch.count_nonzero(fc.bias) == 0
    lim = math.sqrt(6 / (256 + 192))
    assert fc.weight.abs().max() <= lim and fc.weight.abs().max() > 0.95 * lim
    attn = model.backbone.vit.blocks[0].attn
    # Keras EinsumDense q kernel (192, 8, 24): fans 8*192 and 24*192.
    q_lim = math.sqrt(6 / (8 * 192 + 24 * 192))
    q = attn.in_proj_weight[:192]
    assert q.abs().max() <= q_lim and q.abs().max() > 0.95 * q_lim
    o_lim = math.sqrt(6 / (24 * 8 + 192 * 8))
    assert attn.out_proj.weight.abs().max() <= o_lim
    assert attn.out_proj.weight.abs().max() > 0.95 * o_lim
    assert torch.count_nonzero(attn.in_proj_bias) == 0
    conv = model.backbone.wave.convs[1]
    c_lim = math.sqrt(6 / (64 * 16 + 128 * 16))
    assert conv.weight.abs().max() <= c_lim and torch.count_nonzero(conv.bias) == 0
    torch_init = build_model(variant(TINY, init="torch"))
    assert torch.count_nonzero(torch_init.head.fc.bias) > 0


def test_keras_same_padding():
    assert keras_same_padding(110_250, 16, 1) == (7, 8)
    assert keras_same_padding(1000, 16, 4) == (6, 6)
    assert keras_same_padding(110_250, 16, 4) == (7, 7)
    for length in (100, 101, 102, 103):
        left, right = keras_same_padding(length, 16, 4)
        assert (length + left + right - 16) // 4 + 1 == math.ceil(length / 4)


@pytest.mark.parametrize("stride", [1, 4])
def test_wave_lengths_follow_keras_same(stride):
    cfg = wave_only(variant(TINY, wave_cnn__stride=stride))
    wave = build_model(cfg).backbone.wave
    x = torch.randn(2, 1, 1000)
    lengths = []
    for i, conv in enumerate(wave.convs):
        x = conv(nn.functional.pad(x, keras_same_padding(x.shape[-1], 16, stride)))
        lengths.append(x.shape[-1])
        if i < 2:
            x = wave.pool(x)
    if stride == 1:
        assert lengths == [1000, 250, 62]
    else:
        assert lengths == [250, 16, 1]


def test_head_output_stays_fp32_under_autocast():
    model = build_model(TINY).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_tiny_batch())
    assert out.dtype == torch.float32


def test_full_size_forward_shape():
    model = build_model(PAPER).eval()
    with torch.no_grad():
        out = model({"spec": torch.rand(2, 224, 224), "wave": torch.randn(2, 2048)})
    assert out.shape == (2,)
    assert model.backbone.vit.n_tokens == 196


# --------------------------------------------------------------------------- config checks
def test_registry():
    assert "audiofuse" in available_models()
    with pytest.raises(ValueError, match="unknown arch"):
        build_model(variant(TINY, arch="resnet"))
    with pytest.raises(KeyError, match="arch"):
        build_model({k: v for k, v in TINY.items() if k != "arch"})


@pytest.mark.parametrize("section,key", [("vit", "ln_eps"), ("wave_cnn", "bn_eps"),
                                         ("head", "dropout"), (None, "init")])
def test_missing_key_is_named(section, key):
    cfg = copy.deepcopy(TINY)
    del (cfg[section] if section else cfg)[key]
    with pytest.raises(KeyError, match=key):
        build_model(cfg)


def test_unknown_and_invalid_keys():
    with pytest.raises(ValueError, match="unknown key.*cls_token"):
        build_model(variant(TINY, vit__cls_token=True))
    with pytest.raises(ValueError, match="unknown key.*wave_cnn"):
        build_model(variant(TINY, branches=["spec"]))  # block of an unused branch
    with pytest.raises(ValueError, match="pos_emb"):
        build_model(variant(TINY, vit__pos_emb="sinusoidal"))
    with pytest.raises(ValueError, match="branches"):
        build_model(variant(TINY, branches=["spec", "mfcc"]))
    with pytest.raises(ValueError, match="divisible"):
        build_model(variant(TINY, vit__heads=3))
    with pytest.raises(ValueError, match="init"):
        build_model(variant(TINY, init="he"))
