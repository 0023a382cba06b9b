"""Audio Spectrogram Transformer for ICBHI cycles (paper P3): HF ``ASTModel`` + mean pooling.

Architecture, as the AST+SAM paper's ``CustomAST`` (official repo Atakanisik/ICBHI-AST-SAM): the Hugging Face
``ASTModel`` encoder, the **mean of ``last_hidden_state`` over all tokens** (cls and
distillation tokens included; not the (cls + dist)/2 pooler of the original AST, which is
``pooling: cls_dist`` here), ``Dropout(head_dropout)``, ``Linear(hidden, n_classes)``.
Input: the cached ``fbank`` (B, frames, mel bins), see ``auscult.papers.ast_sam.features``.

Model config: ``ast_sam.model`` in params.yaml with a variant's overrides, checked against
the params schema's ``$defs/ast_model`` (every key required, unknown keys rejected).
``dropout`` is the hidden and attention dropout inside the encoder, ``pooling`` ``mean`` (the
paper) or ``cls_dist`` (the original AST pooler), ``max_length`` counts frames;
``pretrained: true`` loads the AudioSet weights (``CHECKPOINT``).

Pretrained weights are machine state: the checkpoint folder (HF hub layout, config.json +
model.safetensors or pytorch_model.bin) is looked up as
``$AUSCULT_WEIGHTS_DIR/MIT/ast-finetuned-audioset-10-10-0.4593/`` and downloaded from the
HF hub into it when allowed (:func:`auscult.models.weights.resolve_weights`). The
checkpoint has 1024 frames (12 x 101 patches); :func:`adapt_position_embeddings` maps its
position embeddings to this model's grid as the original AST does: centre-crop the time
axis when shorter (798 frames -> 79 patches = columns 11..89), bilinear interpolation when
longer; the same on the frequency axis. The classifier of the checkpoint is dropped. When
no checkpoint can be had, the model stays random (``weights.status == 'scratch'``, with
the reason) and the caller must report it; a scratch model gets truncated-normal (std 0.02)
position/cls/dist embeddings instead of HF's zeros.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from auscult import configcheck

from .weights import (
    LoadReport,
    WeightsError,
    WeightsInfo,
    load_state_dict_into,
    resolve_weights,
    weights_dir,
)

CHECKPOINT = "MIT/ast-finetuned-audioset-10-10-0.4593"
_PREFIX = "audio_spectrogram_transformer."
_POS = "embeddings.position_embeddings"


def validate_config(cfg: Mapping) -> None:
    """Check an AST config (the schema's ``ast_model``, then the shape rules)."""
    configcheck.check("ast model config", cfg, "ast_model")
    if cfg["hidden_size"] % cfg["num_heads"]:
        raise ValueError("ast model config: hidden_size must be divisible by num_heads")
    if cfg["max_length"] < cfg["patch_size"] or cfg["num_mel_bins"] < cfg["patch_size"]:
        raise ValueError("ast model config: max_length and num_mel_bins must be >= patch_size")


def hf_config(cfg: Mapping):
    from transformers import ASTConfig

    return ASTConfig(
        hidden_size=cfg["hidden_size"], num_hidden_layers=cfg["num_layers"],
        num_attention_heads=cfg["num_heads"], intermediate_size=cfg["intermediate_size"],
        patch_size=cfg["patch_size"], frequency_stride=cfg["fstride"], time_stride=cfg["tstride"],
        max_length=cfg["max_length"], num_mel_bins=cfg["num_mel_bins"],
        hidden_dropout_prob=float(cfg["dropout"]), attention_probs_dropout_prob=float(cfg["dropout"]),
    )


def patch_grid(num_mel_bins: int, max_length: int, patch: int, fstride: int, tstride: int) -> tuple[int, int]:
    """(frequency, time) patch counts, as ASTEmbeddings.get_shape."""
    return (num_mel_bins - patch) // fstride + 1, (max_length - patch) // tstride + 1


def _fit_axis(x: Tensor, axis: int, n: int) -> Tensor:
    """Centre-crop axis ``axis`` (2 = freq, 3 = time) of (1, D, F, T) to ``n``, or interpolate."""
    have = x.shape[axis]
    if n == have:
        return x
    if n < have:
        start = have // 2 - n // 2
        return x.narrow(axis, start, n)
    size = (n, x.shape[3]) if axis == 2 else (x.shape[2], n)
    return nn.functional.interpolate(x, size=size, mode="bilinear")


def adapt_position_embeddings(pos: Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int]) -> Tensor:
    """Map (1, 2 + Fs*Ts, D) position embeddings to (1, 2 + Fd*Td, D), original-AST style.

    The 2 token embeddings are kept; the patch part is reshaped to (D, Fs, Ts), the time axis
    centre-cropped (``[Ts//2 - Td//2, + Td)``) or bilinearly interpolated, then the frequency
    axis the same way, and flattened back frequency-major (HF's patch order).
    """
    (fs, ts), (fd, td) = src_grid, dst_grid
    if pos.shape[1] != 2 + fs * ts:
        raise WeightsError(f"position embeddings hold {pos.shape[1]} tokens, expected 2 + {fs}x{ts}")
    tokens, grid = pos[:, :2], pos[:, 2:]
    d = pos.shape[2]
    grid = grid.reshape(1, fs, ts, d).permute(0, 3, 1, 2)
    grid = _fit_axis(grid, 3, td)
    grid = _fit_axis(grid, 2, fd)
    grid = grid.permute(0, 2, 3, 1).reshape(1, fd * td, d)
    return torch.cat([tokens, grid], dim=1).contiguous()


class AST(nn.Module):
    """HF ASTModel + pooling + dropout + linear head; ``forward({'fbank': (B, T, F)})``."""

    inputs = ("fbank",)

    def __init__(self, cfg: Mapping):
        super().__init__()
        from transformers import ASTModel

        validate_config(cfg)
        self.cfg = dict(cfg)
        config = hf_config(cfg)
        self.ast = ASTModel(config)
        emb = self.ast.embeddings
        with torch.no_grad():  # HF initialises these to zero; a scratch ViT needs them random
            for p in (emb.position_embeddings, emb.cls_token, emb.distillation_token):
                nn.init.trunc_normal_(p, std=0.02)
        self.grid = patch_grid(cfg["num_mel_bins"], cfg["max_length"], cfg["patch_size"],
                               cfg["fstride"], cfg["tstride"])
        self.dropout = nn.Dropout(float(cfg["head_dropout"]))
        self.head = nn.Linear(cfg["hidden_size"], cfg["n_classes"])
        self.weights = WeightsInfo(None, "scratch", "none", None, name="ast_audioset",
                                   reason="pretrained: false in the model config")
        self.load_report: LoadReport | None = None

    def embed(self, fbank: Tensor) -> Tensor:
        hidden = self.ast(input_values=fbank).last_hidden_state
        if self.cfg["pooling"] == "mean":
            return hidden.mean(dim=1)
        return (hidden[:, 0] + hidden[:, 1]) / 2

    def forward(self, batch: Mapping[str, Tensor] | Tensor) -> Tensor:
        x = batch["fbank"] if isinstance(batch, Mapping) else batch
        return self.head(self.dropout(self.embed(x.float())))


# --------------------------------------------------------------------------- weights
def checkpoint_files(folder: Path) -> tuple[Path, Path] | None:
    """(config.json, weights file) of an HF checkpoint folder, or None."""
    config = folder / "config.json"
    for name in ("model.safetensors", "pytorch_model.bin"):
        if config.is_file() and (folder / name).is_file():
            return config, folder / name
    return None


def read_checkpoint(folder: str | os.PathLike) -> tuple[dict, dict[str, Tensor]]:
    """(config dict, encoder state_dict in this transformers version's module names) of an
    HF AST checkpoint folder (``ASTModel`` or ``ASTForAudioClassification``; the classifier
    is dropped). Loading goes through ``ASTModel.from_pretrained`` so the library's own key
    conversion applies (transformers 5 renamed ``encoder.layer.N.attention.attention.query``
    to ``layers.N.attention.q_proj``; checkpoints on the hub keep the old names)."""
    from transformers import ASTModel
    from transformers.utils import logging as hf_logging

    folder = Path(folder)
    files = checkpoint_files(folder)
    if files is None:
        raise WeightsError(f"{folder}: not an HF checkpoint folder (config.json + model.safetensors "
                           f"or pytorch_model.bin)")
    config = json.loads(files[0].read_text())
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the unused classifier is expected, not news
    try:
        encoder = ASTModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{folder}: cannot load the AST checkpoint ({e})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    return config, {k: v.detach().clone() for k, v in encoder.state_dict().items()}


def load_checkpoint_into(model: AST, folder: str | os.PathLike) -> LoadReport:
    """Load an HF AST checkpoint into ``model.ast`` (strict), adapting the position grid."""
    config, state = read_checkpoint(folder)
    src_grid = patch_grid(int(config.get("num_mel_bins", 128)), int(config.get("max_length", 1024)),
                          int(config.get("patch_size", 16)), int(config.get("frequency_stride", 10)),
                          int(config.get("time_stride", 10)))
    for key, want in (("frequency_stride", "fstride"), ("time_stride", "tstride"), ("patch_size", "patch_size")):
        if int(config.get(key, 10 if key != "patch_size" else 16)) != model.cfg[want]:
            raise WeightsError(f"{folder}: checkpoint {key} {config.get(key)} != model {want} "
                               f"{model.cfg[want]}; the patch grid cannot be mapped")
    adapted = []
    if _POS in state and src_grid != model.grid:
        state[_POS] = adapt_position_embeddings(state[_POS], src_grid, model.grid)
        adapted.append(f"{_POS}: {src_grid[0]}x{src_grid[1]} -> {model.grid[0]}x{model.grid[1]}")
    report = load_state_dict_into(model.ast, state, source=str(folder))
    report.adapted += adapted
    return report


def resolve_ast_weights(*, download: bool | None = None) -> WeightsInfo:
    """Find (or fetch) the AudioSet AST checkpoint folder; status pretrained or scratch.

    ``WeightsInfo.path`` is the checkpoint folder. A local ``pytorch_model.bin`` is accepted
    in place of ``model.safetensors``; downloads fetch config.json and model.safetensors.
    """
    folder = weights_dir() / CHECKPOINT
    files = checkpoint_files(folder)
    if files is not None and files[1].name == "pytorch_model.bin":
        from .weights import _sha256

        return WeightsInfo(folder, "pretrained", f"local:{folder}", _sha256(files[1]), name="ast_audioset")
    cfg_info = resolve_weights("ast_audioset_config", download=download)
    if cfg_info.status != "pretrained":
        return WeightsInfo(None, "scratch", "none", None, name="ast_audioset", reason=cfg_info.reason)
    info = resolve_weights("ast_audioset", download=download)
    if info.status != "pretrained":
        return info
    return WeightsInfo(folder, "pretrained", info.source, info.sha256, name="ast_audioset")


def build_ast(cfg: Mapping) -> AST:
    """Build the model; with ``pretrained: true`` load the AudioSet checkpoint if one can be
    had, else keep random weights. ``model.weights`` says which (never silently)."""
    model = AST(cfg)
    if cfg["pretrained"]:
        info = resolve_ast_weights()
        if info.status == "pretrained":
            model.load_report = load_checkpoint_into(model, info.path)
        model.weights = info
    return model
