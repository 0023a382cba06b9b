"""Training: seeding, the binary training loop with exact resume, prediction.

Imports only torch, numpy, pandas, tqdm and the standard library (plus auscult.atomic and
auscult.evaluation), so it runs on a GPU machine without the audio stack. The names below
are loaded lazily, so that torch-free modules of this package (the protocol splits of
``audiofuse`` and ``koike``, the classical ``floor``) import without torch.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "HISTORY_COLUMNS": "loop",
    "TRAIN_KEYS": "loop",
    "predict_logits": "loop",
    "predict_scores": "loop",
    "train_binary": "loop",
    "validate_train_cfg": "loop",
    "get_rng_state": "seeding",
    "seed_everything": "seeding",
    "set_rng_state": "seeding",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
