"""AudioFuse (Siddiqui & Saha 2025): ViT spectrogram branch + 1D-CNN waveform branch, late fusion.

Reconstruction of the official Keras model, (parameters: ``audiofuse.model`` in params.yaml,
sliced per variant by ``auscult.papers.audiofuse``).
The model is split into ``backbone`` (everything up to the pooled branch vectors) and ``head``
(wave projection Dense(64)+ReLU, Dense(hidden)+ReLU, Dropout, Dense(1)), so that the PASCAL
head-retraining protocol can freeze the backbone: in the Keras original exactly these three
Dense layers (6 tensors) were trainable (the official model).

Configuration: the variant's model (``auscult.papers.audiofuse.variant_model``: ``audiofuse.model``
with the variant's overrides), checked against the params schema's ``$defs/audiofuse_model``
(every key required; unknown keys rejected). ``branches`` is ``[spec, wave]`` (fusion),
``[spec]`` (ViT-only baseline) or ``[wave]`` (1D-CNN-only); ``vit`` is required only when
``spec`` is a branch and ``wave_cnn`` only when ``wave`` is; a block for an unused branch is
rejected, so a config never carries dead settings.

Parameter counts with the paper config (PyTorch ``count_trainable``). Keras ``count_params``
also counts the 896 BatchNorm moving statistics of the wave branch (2 x (64 + 128 + 256)),
which are buffers in PyTorch, so PyTorch = Keras - 896 whenever the wave branch is used:

- fusion 6x8, frozen pos-emb: 2 555 585 (Keras 2 556 481) = ViT 1 831 872 + wave 675 072
  + head 49 537 - 896
- fusion 6x8, learnable pos-emb: 2 593 217 (+ 196 x 192 = 37 632)
- fusion 4x8 / 8x8 / 12x6: 1 961 537 / 3 149 633 / 4 337 729 (Keras 1 962 433 / 3 150 529 /
  4 338 625): +- 297 024 per block; heads do not change the count since key_dim = width/heads
- ViT-only 6x8: 1 869 121 (= Keras; no BN) = 1 831 872 + Dense 192->192 (37 056) + 193
- CNN-only: 686 849 (Keras 687 745) = 675 072 + Dense 64->192 (12 480) + 193 - 896
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from auscult import configcheck
from auscult.papers.audiofuse import BRANCH_SECTIONS  # the config block each branch needs

BRANCHES = ("spec", "wave")  # canonical order

# Keras Embedding default initialiser: RandomUniform(-0.05, 0.05).
POS_EMB_LIMIT = 0.05


# --------------------------------------------------------------------------- config checks
def validate_config(cfg: Mapping) -> tuple[str, ...]:
    """Check an AudioFuse config (the schema's ``audiofuse_model``, then the blocks its
    branches need and the shapes); return the tuple of branches (in canonical order)."""
    what = "audiofuse config"
    configcheck.check(what, cfg, "audiofuse_model")
    branches = tuple(b for b in BRANCHES if b in cfg["branches"])
    missing = [block for b, block in BRANCH_SECTIONS.items() if b in branches and block not in cfg]
    if missing:
        raise KeyError(f"{what}: missing key(s) in '<top level>': {missing} (branches {list(branches)})")
    unused = [block for b, block in BRANCH_SECTIONS.items() if b not in branches and block in cfg]
    if unused:
        raise ValueError(f"{what}: unknown key(s) in '<top level>': {unused} (a block of a branch not in "
                         f"branches {list(branches)})")
    if "spec" in branches:
        v = cfg["vit"]
        if v["img_size"] % v["patch"]:
            raise ValueError(f"{what}: vit.img_size ({v['img_size']}) must be a multiple of vit.patch ({v['patch']})")
        if v["width"] % v["heads"]:
            raise ValueError(f"{what}: vit.width ({v['width']}) must be divisible by vit.heads ({v['heads']}) "
                             f"(key_dim = width / heads)")
    return branches


# --------------------------------------------------------------------------- ViT branch
class TransformerBlock(nn.Module):
    """Pre-norm block of the Keras ViT example.

    ``x + MHA(LN(x))`` then ``x + MLP(LN(x))`` where the MLP is
    ``Dropout(GELU(Linear(width->mlp))) -> Dropout(GELU(Linear(mlp->width)))``: the Keras
    example (and the AudioFuse diagram) puts GELU after *both* Dense layers (step 6 of the official model).
    """

    def __init__(self, width: int, heads: int, mlp_dim: int, dropout: float,
                 attn_dropout: float, ln_eps: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width, eps=ln_eps)
        self.attn = nn.MultiheadAttention(width, heads, dropout=attn_dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(width, eps=ln_eps)
        self.fc1 = nn.Linear(width, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, width)
        self.act = nn.GELU()  # exact (erf) GELU, as Keras 3 "gelu"
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        a = self.ln1(x)
        a, _ = self.attn(a, a, a, need_weights=False)
        x = x + a
        m = self.ln2(x)
        m = self.drop(self.act(self.fc1(m)))
        m = self.drop(self.act(self.fc2(m)))
        return x + m


class SpecViT(nn.Module):
    """Patch embedding -> (+ positional embedding) -> pre-norm blocks -> LN -> token mean."""

    def __init__(self, v: Mapping) -> None:
        super().__init__()
        self.img_size = int(v["img_size"])
        patch, width = int(v["patch"]), int(v["width"])
        self.n_tokens = (self.img_size // patch) ** 2
        self.out_dim = width
        self.patch_embed = nn.Conv2d(1, width, kernel_size=patch, stride=patch)
        self.pos_emb_kind = v["pos_emb"]
        if self.pos_emb_kind != "none":
            # Drawn from the global torch generator: seed it (seed_everything) before building.
            pos = torch.empty(1, self.n_tokens, width).uniform_(-POS_EMB_LIMIT, POS_EMB_LIMIT)
            if self.pos_emb_kind == "learnable":
                self.pos_emb = nn.Parameter(pos)
            else:  # frozen_random: a persistent buffer, saved in state_dict, never trained
                self.register_buffer("pos_emb", pos)
        else:
            self.pos_emb = None
        self.blocks = nn.ModuleList(
            TransformerBlock(width, int(v["heads"]), int(v["mlp_dim"]), float(v["dropout"]),
                             float(v["attn_dropout"]), float(v["ln_eps"]))
            for _ in range(int(v["depth"]))
        )
        self.norm = nn.LayerNorm(width, eps=float(v["ln_eps"]))

    def forward(self, spec: Tensor) -> Tensor:
        if spec.dim() == 3:
            spec = spec.unsqueeze(1)
        s = self.img_size
        if spec.dim() != 4 or tuple(spec.shape[1:]) != (1, s, s):
            raise ValueError(
                f"spec input must be (B, {s}, {s}) or (B, 1, {s}, {s}), got {tuple(spec.shape)}"
            )
        x = self.patch_embed(spec).flatten(2).transpose(1, 2)  # (B, N, width), row-major grid
        if self.pos_emb is not None:
            x = x + self.pos_emb.to(x.dtype)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x).mean(dim=1)


# --------------------------------------------------------------------------- wave branch
def keras_same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """(left, right) padding of Keras/TF ``padding='same'`` for an input of ``length``.

    TF pads ``total = max((ceil(L/s) - 1) * s + k - L, 0)`` with the extra element on the
    right: left = total // 2. For stride 1 this is ((k-1)//2, k//2) for any L (7 / 8 for
    k=16), which is what PyTorch ``padding='same'`` does.
    """
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class WaveCNN(nn.Module):
    """[Conv1d -> ReLU -> BatchNorm1d -> MaxPool1d] x (n-1) -> Conv1d -> ReLU -> BN -> GAP.

    Order and pooling follow the official diagram (ReLU before BN, no pool after the last
    conv). Every conv uses Keras 'same' padding, applied explicitly (left 7 / right 8 for
    k=16, stride 1, identical to PyTorch ``padding='same'``; computed from the input length
    for strided convs).
    """

    def __init__(self, w: Mapping) -> None:
        super().__init__()
        chans = [int(c) for c in w["channels"]]
        self.kernel, self.stride = int(w["kernel"]), int(w["stride"])
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        c_in = 1
        for c in chans:
            self.convs.append(nn.Conv1d(c_in, c, self.kernel, stride=self.stride, padding=0))
            self.bns.append(nn.BatchNorm1d(c, eps=float(w["bn_eps"]),
                                           momentum=float(w["bn_momentum"])))
            c_in = c
        self.pool = nn.MaxPool1d(int(w["pool"]))
        self.out_dim = chans[-1]

    def forward(self, wave: Tensor) -> Tensor:
        if wave.dim() == 3 and wave.shape[1] == 1:
            wave = wave.squeeze(1)
        if wave.dim() != 2:
            raise ValueError(f"wave input must be (B, L) or (B, 1, L), got {tuple(wave.shape)}")
        x = wave.unsqueeze(1)
        last = len(self.convs) - 1
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            x = nn.functional.pad(x, keras_same_padding(x.shape[-1], self.kernel, self.stride))
            x = bn(torch.relu(conv(x)))
            if i < last:
                x = self.pool(x)
        return x.mean(dim=-1)


# --------------------------------------------------------------------------- assembly
class Backbone(nn.Module):
    """Feature extractor: ``batch dict -> (B, D)``, concat of [ViT pooled, wave GAP]."""

    def __init__(self, cfg: Mapping, branches: tuple[str, ...]) -> None:
        super().__init__()
        self.inputs = branches
        self.vit = SpecViT(cfg["vit"]) if "spec" in branches else None
        self.wave = WaveCNN(cfg["wave_cnn"]) if "wave" in branches else None
        self.spec_dim = self.vit.out_dim if self.vit is not None else 0
        self.wave_dim = self.wave.out_dim if self.wave is not None else 0
        self.out_dim = self.spec_dim + self.wave_dim

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        missing = [k for k in self.inputs if k not in batch]
        if missing:
            raise KeyError(f"AudioFuse batch lacks input(s) {missing}; needs {list(self.inputs)}")
        parts = []
        if self.vit is not None:
            parts.append(self.vit(batch["spec"]))
        if self.wave is not None:
            parts.append(self.wave(batch["wave"]))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class Head(nn.Module):
    """``z (B, spec_dim + wave_dim) -> logits (B,)``.

    The wave part goes through the wave projection Dense(out_dim)+ReLU first; then
    concat [spec, wave'] -> Linear(hidden) -> ReLU -> Dropout -> Linear(1). The output layer
    runs in fp32 even under autocast (keep the final Linear and the loss in fp32).
    """

    def __init__(self, spec_dim: int, wave_dim: int, wave_out: int | None, hidden: int,
                 dropout: float) -> None:
        super().__init__()
        self.spec_dim, self.wave_dim = spec_dim, wave_dim
        self.wave_proj = nn.Linear(wave_dim, wave_out) if wave_dim else None
        fused = spec_dim + (wave_out if wave_dim else 0)
        self.fc = nn.Linear(fused, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 1)

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.spec_dim + self.wave_dim:
            raise ValueError(
                f"head input must be (B, {self.spec_dim + self.wave_dim}), got {tuple(z.shape)}"
            )
        parts = []
        if self.spec_dim:
            parts.append(z[:, : self.spec_dim])
        if self.wave_proj is not None:
            parts.append(torch.relu(self.wave_proj(z[:, self.spec_dim:])))
        h = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        h = self.drop(torch.relu(self.fc(h)))
        with torch.autocast(device_type=h.device.type, enabled=False):
            return self.out(h.float()).squeeze(-1)


class AudioFuse(nn.Module):
    """``forward(batch) = head(backbone(batch))``; raw logits of shape (B,)."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        branches = validate_config(cfg)
        self.inputs: tuple[str, ...] = branches
        self.backbone = Backbone(cfg, branches)
        wave_out = int(cfg["wave_cnn"]["out_dim"]) if "wave" in branches else None
        self.head = Head(self.backbone.spec_dim, self.backbone.wave_dim, wave_out,
                         int(cfg["head"]["hidden"]), float(cfg["head"]["dropout"]))
        if cfg["init"] == "glorot":
            keras_init_(self)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.head(self.backbone(batch))


# --------------------------------------------------------------------------- initialisation
def _glorot_(t: Tensor, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        t.uniform_(-limit, limit)


@torch.no_grad()
def keras_init_(model: nn.Module) -> None:
    """Keras defaults: Glorot-uniform kernels, zero biases; LN/BN gamma 1, beta 0.

    Linear and Conv kernels use the same fans in Keras and in ``xavier_uniform_``. Keras MHA
    kernels are EinsumDense tensors: query/key/value (width, heads, key_dim) give fans
    (heads*width, key_dim*width); output (heads, key_dim, width) gives (key_dim*heads,
    width*heads) (``keras.initializers.compute_fans``). They are reproduced here on the
    packed PyTorch matrices. The positional embedding keeps its U(-0.05, 0.05) draw.
    """
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    # Second pass: MHA's out_proj is an nn.Linear and was visited above; override it here.
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            e, h = m.embed_dim, m.num_heads
            kd = e // h
            for i in range(3):  # q, k, v blocks of the packed in_proj_weight
                _glorot_(m.in_proj_weight[i * e:(i + 1) * e], h * e, kd * e)
            nn.init.zeros_(m.in_proj_bias)
            _glorot_(m.out_proj.weight, kd * h, e * h)
            nn.init.zeros_(m.out_proj.bias)


def build_audiofuse(cfg: Mapping) -> AudioFuse:
    return AudioFuse(cfg)
