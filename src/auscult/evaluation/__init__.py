"""Evaluation: metrics, threshold selection and the cross-dataset table job (intervals:
auscult.stats.paired).

Importing the package loads only :mod:`.metrics`, which needs numpy and the standard
library, so metrics run anywhere. :mod:`.cross_dataset` (the cross-dataset table job) is
not imported here: it needs pandas and the feature store, and torch to score a model.
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
