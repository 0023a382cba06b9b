"""Evaluation: metrics and threshold selection (intervals: auscult.stats.paired).

Only numpy (and the standard library) is imported here, so evaluation runs anywhere.
"""

from .metrics import (
    THRESHOLD_METRICS,
    THRESHOLD_RULES,
    DegenerateMetricWarning,
    binary_metrics,
    choose_threshold,
    metrics_from_confusion,
    relative_change,
    roc_auc,
    roc_points,
)

__all__ = [
    "THRESHOLD_METRICS",
    "THRESHOLD_RULES",
    "DegenerateMetricWarning",
    "binary_metrics",
    "choose_threshold",
    "metrics_from_confusion",
    "relative_change",
    "roc_auc",
    "roc_points",
]
