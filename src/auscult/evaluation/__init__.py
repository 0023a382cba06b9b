"""Evaluation: metrics, threshold selection and bootstrap confidence intervals.

Only numpy (and the standard library) is imported here, so evaluation runs anywhere.
"""

from .metrics import (
    THRESHOLD_METRICS,
    THRESHOLD_RULES,
    DegenerateMetricWarning,
    binary_metrics,
    bootstrap_ci,
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
    "bootstrap_ci",
    "choose_threshold",
    "metrics_from_confusion",
    "relative_change",
    "roc_auc",
    "roc_points",
]
