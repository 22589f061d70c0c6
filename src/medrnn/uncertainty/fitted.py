"""The calibrator and conformal scores of one run: fitted on validation by the training run, stored in the artifact
(artifact.json field "uncertainty"), applied by the Predictor; and their metrics.json entries on test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.errors import ConfigError
from medrnn.metrics.calibration import calibration_summary
from medrnn.uncertainty.calibrators import Calibrator, calibrator_from_state, make_calibrator
from medrnn.uncertainty.conformal import SplitConformal

COVERAGE = 0.9  # the coverage metrics.json and the benchmark report


@dataclass
class Uncertainty:
    """A fitted calibrator (possibly the identity) and split-conformal validation scores (None when too few to fit)."""

    calibrator: Calibrator
    conformal: SplitConformal | None

    def calibrate(self, scores: Any) -> Any:
        """The same Scores with calibrated values (extras kept)."""
        from medrnn.tasks.base import Scores

        return Scores(np.asarray(self.calibrator.transform(scores.values)), scores.extras)

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state for artifact.json."""
        return {"calibrator": self.calibrator.state_dict(), "conformal": self.conformal.state_dict() if self.conformal else None}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Uncertainty:
        """Inverse of `state_dict`; a malformed state is a ConfigError naming the field."""
        if not isinstance(state, dict) or "calibrator" not in state:
            raise ConfigError("field 'uncertainty': expected {'calibrator': ..., 'conformal': ...}")
        try:
            calibrator = calibrator_from_state(state["calibrator"])
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"field 'uncertainty.calibrator': {type(err).__name__}: {err}") from err
        conformal = state.get("conformal")
        return cls(calibrator, SplitConformal.from_state_dict(conformal) if conformal else None)


def fit_uncertainty(method: str, output_kind: str, label_names: list[str], val_values: np.ndarray, y_val: np.ndarray) -> Uncertainty:
    """Fit the calibrator on validation scores, then conformal on the calibrated validation scores."""
    calibrator = make_calibrator(method, output_kind).fit(val_values, y_val)
    calibrated = calibrator.transform(val_values)
    conformal = SplitConformal(output_kind, list(label_names)).fit(calibrated, y_val)
    return Uncertainty(calibrator, conformal)


def run_metrics(unc: Uncertainty, output_kind: str, y_test: np.ndarray, before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    """metrics.json entries: calibration (calibrated test), calibration_before, calibrator, conformal at 0.9 on test."""
    conformal: dict[str, Any] | None = None
    if unc.conformal is not None:
        try:
            conformal = unc.conformal.evaluate(after, y_test, COVERAGE)
        except ConfigError as err:  # too few validation scores for 0.9 in some group: said, not hidden
            conformal = {"coverage_target": COVERAGE, "error": str(err)}
    return {"calibration": calibration_summary(y_test, after, output_kind),
            "calibration_before": calibration_summary(y_test, before, output_kind),
            "calibrator": {**unc.calibrator.summary(), "fitted_on": "validation"}, "conformal": conformal}  # fmt: skip
