"""Metrics: pure functions on (y_true, y_score) returning one MetricReport, with bootstrap CIs over the split unit."""

from medrnn.metrics.classification import confusion, evaluate, scores_from_confusion
from medrnn.metrics.codes import evaluate_codes, tune_threshold
from medrnn.metrics.outputs import evaluate_outputs, headline_score
from medrnn.metrics.report import MetricReport, format_estimate

__all__ = [
    "MetricReport",
    "confusion",
    "evaluate",
    "evaluate_codes",
    "evaluate_outputs",
    "format_estimate",
    "headline_score",
    "scores_from_confusion",
    "tune_threshold",
]
