"""Metrics: pure functions on (y_true, y_score) with bootstrap CIs over records."""

from medrnn.metrics.classification import (
    MetricReport,
    confusion,
    evaluate,
    format_estimate,
    scores_from_confusion,
)
from medrnn.metrics.molecules import (
    MoleculeMetricReport,
    evaluate_molecules,
    headline_score,
)

__all__ = [
    "MetricReport",
    "MoleculeMetricReport",
    "confusion",
    "evaluate",
    "evaluate_molecules",
    "format_estimate",
    "headline_score",
    "scores_from_confusion",
]
