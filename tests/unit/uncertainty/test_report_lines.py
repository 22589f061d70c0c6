"""report.html's calibration section: the before curve and the ECE/Brier before -> after line, and the coverage line
(also for regression, which has no reliability diagram)."""

from __future__ import annotations

from medrnn.report.curves import plot_reliability
from medrnn.report.sections import _calibration, _uncertainty_lines

CURVE = {"predicted": [0.1, 0.5, 0.9], "observed": [0.2, 0.5, 0.8], "strategy": "quantile", "n_bins": 3}
BEFORE = {"ece": 0.12, "brier": 0.2, "reliability": {"predicted": [0.05, 0.5, 0.95], "observed": [0.2, 0.5, 0.7]}}


def test_before_after_and_coverage_lines() -> None:
    metrics = {"output_kind": "binary", "calibration": {"ece": 0.03, "brier": 0.15, "reliability": CURVE, "n": 100, "of": "x"},
               "calibration_before": BEFORE, "calibrator": {"method": "platt"},
               "conformal": {"coverage_target": 0.9, "coverage": 0.91, "mean_set_size": 1.2, "class_conditional": True,
                             "per_class_coverage": {"no": 0.9, "yes": 0.93}}}  # fmt: skip
    text = _uncertainty_lines(metrics, BEFORE)
    assert "ECE 0.120 → 0.0300" in text and "Brier 0.200 → 0.150" in text and "--coverage 0.9`" in text
    assert "test coverage 0.910" in text and "yes 0.930" in text
    section = _calibration(metrics, None)
    assert section is not None and "platt" in section.html and section.figures
    fig = plot_reliability(CURVE, 0.03, 0.15, "x", before=BEFORE["reliability"])
    legends = list(fig.legends) + [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    labels = [t.get_text() for leg in legends for t in leg.get_texts()]
    assert any("before calibration" in label for label in labels)


def test_regression_gets_the_interval_line() -> None:
    metrics = {"output_kind": "regression", "calibration": None,
               "conformal": {"coverage_target": 0.9, "coverage": 0.88, "mean_width": 2.5, "class_conditional": True}}  # fmt: skip
    section = _calibration(metrics, None)
    assert section is not None and "mean interval width 2.50" in section.html and "Conformal intervals" in section.html
