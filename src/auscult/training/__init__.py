"""Training: seeding, the training engine with exact resume, the shared trainers, prediction.

``engine`` runs every paper's epochs (selection, early stopping, LR plateau, AMP, SAM,
samplers, BatchNorm recalibration, checkpoints); ``binary.train_binary`` is the binary
heart-sound trainer on it (each paper's ``papers/<name>/train.py`` holds its protocol and its
``run_training``), ``jobs.run_job`` the body of the papers' training scripts. Imports only
torch, numpy, pandas, tqdm and the standard library (plus auscult.atomic, auscult.splits,
auscult.configcheck and auscult.evaluation.metrics), so it runs on a GPU machine without the
audio stack. The names below are loaded lazily, so that the torch-free ``floor`` (numpy,
scikit-learn) imports without torch.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "HISTORY_COLUMNS": "binary",
    "Selection": "engine",
    "Settings": "engine",
    "Task": "engine",
    "fit": "engine",
    "predict_logits": "engine",
    "predict_scores": "engine",
    "run_job": "jobs",
    "train_binary": "binary",
    "validate_train_cfg": "binary",
    "validation_scores": "binary",
    "get_rng_state": "seeding",
    "seed_everything": "seeding",
    "set_rng_state": "seeding",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
