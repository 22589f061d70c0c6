"""Brier/reliability and accuracy@k on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from medrnn.errors import ShapeError
from medrnn.metrics.calibration import calibration_report
from medrnn.tasks.ehr_visits.metrics import accuracy_at_k


def test_calibration_report_brier_and_curve() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.3, 0.6, 0.9])
    out = calibration_report(y, p, n_bins=2)
    assert out["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert out["reliability"]["observed"] == [0.0, 1.0] and out["reliability"]["predicted"] == pytest.approx([0.2, 0.75])
    with pytest.raises(ShapeError):
        calibration_report([0, 2], [0.1, 0.2])


def test_accuracy_at_k_counts_true_codes_in_the_top_k() -> None:
    y = np.array([[1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=float)  # the empty row is ignored
    s = np.array([[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5]])
    assert accuracy_at_k(y, s, 1) == pytest.approx((1 / 1 + 1 / 1) / 2)
    assert accuracy_at_k(y, s, 2) == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert accuracy_at_k(y, s, 3) == pytest.approx((2 / 2 + 1 / 1) / 2)
