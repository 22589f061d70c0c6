"""Calibrated probabilities and conformal uncertainty for every task: fitted on validation, stored in the artifact,
applied by the Predictor (see docs/uncertainty.md)."""

from medrnn.uncertainty.calibrators import METHODS, Calibrator, calibrator_from_state, make_calibrator, resolve_method
from medrnn.uncertainty.conformal import ConformalOutput, SplitConformal, check_coverage
from medrnn.uncertainty.fitted import Uncertainty, fit_uncertainty, run_metrics
from medrnn.uncertainty.rows import conformal_columns, conformal_fields, in_set, with_coverage

__all__ = ["METHODS", "Calibrator", "ConformalOutput", "SplitConformal", "Uncertainty", "calibrator_from_state", "check_coverage",
           "conformal_columns", "conformal_fields", "fit_uncertainty", "in_set", "make_calibrator", "resolve_method", "run_metrics",
           "with_coverage"]  # fmt: skip
