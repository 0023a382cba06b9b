"""Training: seeding, the training engine with exact resume, the papers' trainers, prediction.

``engine`` runs every paper's epochs (selection, early stopping, LR plateau, AMP, SAM,
samplers, BatchNorm recalibration, checkpoints); ``binary.train_binary`` (AudioFuse, Koike)
and ``ast_sam.train_cycles`` (AST+SAM) are its thin trainers, ``jobs.run_job`` the body of
the workflow's training scripts. Imports only torch, numpy, pandas, tqdm and the standard
library (plus auscult.atomic, auscult.splits and auscult.evaluation.metrics), so it runs on a
GPU machine without the audio stack. The names below are loaded lazily, so that torch-free
modules of this package (the protocol splits of ``audiofuse`` and ``koike``, the classical
``floor``) import without torch.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "HISTORY_COLUMNS": "binary",
    "TRAIN_KEYS": "binary",
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
