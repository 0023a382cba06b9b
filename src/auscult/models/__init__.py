"""Model registry: ``build_model(cfg)`` dispatches on ``cfg['arch']``.

Only torch/numpy (and the standard library) are imported under ``auscult.models`` so that
training runs on a machine without the audio stack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from auscult.registry import HookTable

from .ast import build_ast
from .cnn14 import build_cnn14
from .imagenet import build_imagenet

ModelBuilder = Callable[[Mapping], nn.Module]

# arch -> builder: the shared families below, plus a paper's own (its module's MODELS)
_REGISTRY: HookTable = HookTable("MODELS")


def register_model(arch: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: register ``builder(cfg) -> nn.Module`` under ``arch``."""

    def deco(builder: ModelBuilder) -> ModelBuilder:
        if arch in _REGISTRY and _REGISTRY[arch] is not builder:
            raise ValueError(f"model arch '{arch}' is already registered")
        _REGISTRY[arch] = builder
        return builder

    return deco


register_model("cnn14")(build_cnn14)  # PANNs CNN14
register_model("imagenet")(build_imagenet)  # torchvision ImageNet networks
register_model("ast")(build_ast)  # Audio Spectrogram Transformer


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def build_model(cfg: Mapping) -> nn.Module:
    """Build the model named by ``cfg['arch']``. Seed torch first: initialisation (and the
    frozen random positional embedding of AudioFuse) draws from the global generator."""
    if not isinstance(cfg, Mapping):
        raise ValueError(f"model config must be a mapping, got {type(cfg).__name__}")
    if "arch" not in cfg:
        raise KeyError(f"model config: missing key 'arch' (one of {available_models()})")
    arch = cfg["arch"]
    if arch not in _REGISTRY:
        raise ValueError(f"model config: unknown arch {arch!r}; known: {available_models()}")
    return _REGISTRY[arch](cfg)


def count_trainable(model: nn.Module) -> int:
    """Number of trainable parameter elements (buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "available_models",
    "build_model",
    "count_trainable",
    "register_model",
]
