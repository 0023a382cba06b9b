"""The reference floor's rows in the paper tables (auscult.training.floor; not in any paper).

The floor is one more entry (variant ``floor``) in the results mappings the table builders
already loop over; this module names its row, its input label and its notes, and appends it
to the row lists of the tables it belongs in. No paper value is ever printed beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from auscult.layout import FLOOR

LABEL = "reference floor (not in the paper)"
INPUT_LABEL = "MFCC + log-mel statistics"


def with_floor(tables_cfg: Mapping[str, Sequence[str]], tables: Sequence[str]) -> dict[str, list[str]]:
    """``tables_cfg`` with the floor appended as the last row of each table in ``tables``."""
    return {t: [*rows, FLOOR] if t in tables and FLOOR not in rows else list(rows) for t, rows in tables_cfg.items()}


def note(model_cfg: Mapping, protocol: str) -> str:
    kind = model_cfg["kind"]
    clf = ("scikit-learn HistGradientBoostingClassifier" if kind == "hgb"
           else "scikit-learn StandardScaler + LogisticRegression")
    settings = ", ".join(f"{k} {v}" for k, v in model_cfg[kind].items())
    return (f"{LABEL}: a classical model, not from the paper: {clf} ({settings}; class_weight "
            f"{model_cfg['class_weight']}, random_state = seed) on summary statistics over time of MFCCs "
            f"and log-mel bands of the start of each recording (params features.floor_stats), run per seed "
            f"through {protocol}. A deep model below this row does not beat simple spectral statistics.")
