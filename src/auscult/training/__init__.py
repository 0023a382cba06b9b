"""Training: seeding, the binary training loop with exact resume, prediction.

Imports only torch, numpy, pandas, tqdm and the standard library (plus auscult.atomic and
auscult.evaluation), so it runs on a GPU machine without the audio stack.
"""

from .loop import (
    HISTORY_COLUMNS,
    TRAIN_KEYS,
    predict_logits,
    predict_scores,
    train_binary,
    validate_train_cfg,
)
from .seeding import get_rng_state, seed_everything, set_rng_state

__all__ = [
    "HISTORY_COLUMNS",
    "TRAIN_KEYS",
    "get_rng_state",
    "predict_logits",
    "predict_scores",
    "seed_everything",
    "set_rng_state",
    "train_binary",
    "validate_train_cfg",
]
