"""Calibrators: temperature scaling never moves a multiclass argmax and lowers validation NLL; Platt and isotonic
improve a miscalibrated binary score; every fitted state survives a JSON round trip; bad methods are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medrnn.errors import ConfigError
from medrnn.metrics.calibration import calibration_summary
from medrnn.uncertainty import calibrator_from_state, make_calibrator, resolve_method
from medrnn.uncertainty.calibrators import TemperatureScaling, softmax_of_log


def _multiclass(rng: np.random.Generator, n: int, k: int, sharpness: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels and overconfident probabilities: true logits scaled by `sharpness`."""
    logits = rng.normal(size=(n, k)) * 2
    true_p = softmax_of_log(np.exp(logits), 1.0)
    y = np.array([rng.choice(k, p=p) for p in true_p])
    return y, softmax_of_log(np.exp(logits * sharpness), 1.0)


@pytest.mark.parametrize("seed", range(40))
def test_temperature_keeps_the_argmax(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    y, p = _multiclass(rng, 200, k, float(rng.uniform(0.3, 4)))
    p = p.astype(np.float32)
    cal = make_calibrator("temperature", "multiclass").fit(p, y)
    test = rng.dirichlet(np.full(k, float(rng.uniform(0.05, 3))), size=500).astype(np.float32)
    test[:5] = np.float32(1.0 / k)  # exact ties stay ties
    out = cal.transform(test)
    np.testing.assert_array_equal(out.argmax(axis=1), test.argmax(axis=1))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-9)


def test_temperature_undoes_overconfidence(rng: np.random.Generator) -> None:
    y, p = _multiclass(rng, 4000, 4, 3.0)
    cal = make_calibrator("auto", "multiclass").fit(p[:2000], y[:2000])
    assert isinstance(cal, TemperatureScaling) and 2.0 < cal.temperature_ < 4.5  # the 3x sharpening, undone
    before = calibration_summary(y[2000:], p[2000:], "multiclass")["ece"]
    after = calibration_summary(y[2000:], cal.transform(p[2000:]), "multiclass")["ece"]
    assert after < before / 2


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_binary_calibrators_improve_and_round_trip(method: str, rng: np.random.Generator) -> None:
    z = rng.normal(size=6000)
    y = (rng.random(6000) < 1 / (1 + np.exp(-z))).astype(np.float64)[:, None]
    p = (1 / (1 + np.exp(-(3 * z + 1))))[:, None]  # overconfident and shifted
    cal = make_calibrator(method, "binary").fit(p[:3000], y[:3000])
    before = calibration_summary(y[3000:], p[3000:], "binary")
    after = calibration_summary(y[3000:], cal.transform(p[3000:]), "binary")
    assert after["ece"] < before["ece"] and after["brier"] < before["brier"]
    again = calibrator_from_state(json.loads(json.dumps(cal.state_dict())))
    np.testing.assert_allclose(again.transform(p[3000:]), cal.transform(p[3000:]), atol=1e-12)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_rare_labels_share_a_pooled_fit(method: str, rng: np.random.Generator) -> None:
    n = 500
    p = rng.uniform(0.01, 0.99, size=(n, 4))
    y = (rng.random((n, 4)) < p).astype(np.float64)
    y[:, 2] = 0.0
    y[:3, 2] = 1.0  # 3 positives: too few for its own fit
    y[10:, 3] = np.nan  # 10 labelled entries only
    cal = make_calibrator(method, "multilabel").fit(p, y)
    assert cal.pooled_labels_ == [2, 3] and cal.pooled_ is not None
    out = cal.transform(p)
    assert out.shape == p.shape and np.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()
    state = json.loads(json.dumps(cal.state_dict()))
    np.testing.assert_allclose(calibrator_from_state(state).transform(p), out, atol=1e-12)


def test_methods_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ConfigError, match="multiclass outputs use 'temperature'"):
        resolve_method("platt", "multiclass")
    with pytest.raises(ConfigError, match="regression"):
        resolve_method("isotonic", "regression")
    with pytest.raises(ConfigError, match="expected one of auto, temperature"):
        resolve_method("beta", "binary")
    assert resolve_method("auto", "regression") == "none" and resolve_method("auto", "multilabel") == "platt"
    with pytest.raises(ConfigError, match="field 'method'"):
        calibrator_from_state({"method": "beta"})


def test_none_is_the_identity(rng: np.random.Generator) -> None:
    p = rng.uniform(size=(20, 3))
    cal = make_calibrator("none", "multilabel").fit(p, (p > 0.5).astype(float))
    np.testing.assert_array_equal(cal.transform(p), p)
    assert calibrator_from_state(cal.state_dict()).method == "none"
