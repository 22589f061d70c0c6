"""Metrics: pure functions on (y_true, y_score) with bootstrap CIs over records."""

from medrnn.metrics.classification import (
    MetricReport,
    confusion,
    evaluate,
    format_estimate,
    scores_from_confusion,
)

__all__ = ["MetricReport", "confusion", "evaluate", "format_estimate", "scores_from_confusion"]
