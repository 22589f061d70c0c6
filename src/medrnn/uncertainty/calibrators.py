"""Post-hoc probability calibration fitted on validation scores only: temperature scaling, Platt and isotonic.

`Scores.values` are probabilities already (softmax or sigmoid), so the logits a calibrator works on are log p
(multiclass) or logit p (binary, multilabel). Every calibrator's fitted state is JSON (`state_dict` /
`calibrator_from_state`) and lives in the artifact, so the Predictor applies exactly what the run measured.

- temperature: one T > 0; multiclass softmax(log p / T) (never changes the argmax), binary/multilabel sigmoid(logit p / T).
- platt: per label sigmoid(a logit p + b), a logistic regression on logit p.
- isotonic: per label a monotone step map stored as its thresholds, applied with linear interpolation.
Multilabel labels with fewer than `min_count` validation positives or negatives share one pooled fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medrnn.errors import ConfigError, NotFittedError, ShapeError

METHODS = ("auto", "temperature", "platt", "isotonic", "none")
EPS = 1e-7


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), numerically stable."""
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def softmax_of_log(p: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) row-wise."""
    z = np.log(np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def resolve_method(method: str, output_kind: str) -> str:
    """The calibrator a config's `train.calibration` gives for an output kind; a combination that does not fit is refused."""
    if method not in METHODS:
        raise ConfigError(f"train.calibration {method!r}: expected one of {', '.join(METHODS)}")
    if output_kind == "regression":
        if method not in ("auto", "none"):
            raise ConfigError(f"train.calibration {method!r}: regression outputs are values, not probabilities; use 'auto' or 'none' "
                              "(conformal intervals are still fitted)")  # fmt: skip
        return "none"
    if method == "auto":
        return "temperature" if output_kind == "multiclass" else "platt"
    if output_kind == "multiclass" and method in ("platt", "isotonic"):
        raise ConfigError(f"train.calibration {method!r} is per label (binary, multilabel); multiclass outputs use 'temperature' "
                          "(or 'auto'), which keeps the predicted class")  # fmt: skip
    return method


class Calibrator:
    """Base: maps probabilities (n, outputs) to calibrated probabilities of the same shape."""

    method = "none"

    def fit(self, values: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on validation probabilities and labels ((n,) int multiclass; (n, outputs) float, NaN = missing, otherwise)."""
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        return np.asarray(values)

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready fitted state (with "method")."""
        return {"method": self.method}

    def summary(self) -> dict[str, Any]:
        """What was fitted, short, for metrics.json."""
        return {"method": self.method}


class TemperatureScaling(Calibrator):
    """One temperature T > 0 minimising the validation NLL; multiclass (softmax of log p) or per-label sigmoid of logit p."""

    method = "temperature"

    def __init__(self, multiclass: bool = True) -> None:
        self.multiclass = multiclass
        self.temperature_: float | None = None

    def _apply(self, values: np.ndarray, t: float) -> np.ndarray:
        return softmax_of_log(values, t) if self.multiclass else sigmoid(logit(values) / t)

    def _nll(self, values: np.ndarray, y: np.ndarray, t: float) -> float:
        p = np.clip(self._apply(values, t), EPS, 1 - EPS)
        if self.multiclass:
            return float(-np.mean(np.log(p[np.arange(len(y)), y])))
        keep = ~np.isnan(y)
        return float(-np.mean(y[keep] * np.log(p[keep]) + (1 - y[keep]) * np.log(1 - p[keep])))

    def fit(self, values: np.ndarray, y: np.ndarray) -> TemperatureScaling:
        from scipy.optimize import minimize_scalar

        values = np.asarray(values, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64).ravel() if self.multiclass else np.asarray(y, dtype=np.float64).reshape(values.shape)
        if len(values) == 0:
            raise ShapeError("temperature scaling: no validation samples to fit on")
        best = minimize_scalar(lambda log_t: self._nll(values, y, float(np.exp(log_t))), bounds=(np.log(0.05), np.log(20.0)),
                               method="bounded", options={"xatol": 1e-4})  # fmt: skip
        t = float(np.exp(best.x))
        self.temperature_ = t if self._nll(values, y, t) <= self._nll(values, y, 1.0) else 1.0
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        if self.temperature_ is None:
            raise NotFittedError("temperature scaling used before fit")
        return self._apply(values, self.temperature_)  # float64: a float32 cast could tie two classes and move the argmax

    def state_dict(self) -> dict[str, Any]:
        return {"method": self.method, "multiclass": self.multiclass, "temperature": self.temperature_}

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "temperature": self.temperature_}


class PerLabel(Calibrator):
    """Base of Platt and isotonic: one map per output column; labels with too few positives or negatives share one pooled map."""

    def __init__(self, min_count: int = 10) -> None:
        self.min_count = min_count
        self.params_: list[Any] | None = None  # per label: its own map, or None = the pooled map
        self.pooled_: Any = None
        self.pooled_labels_: list[int] = []

    def _fit_one(self, p: np.ndarray, y: np.ndarray) -> Any:
        raise NotImplementedError

    def _apply_one(self, p: np.ndarray, params: Any) -> np.ndarray:
        raise NotImplementedError

    def fit(self, values: np.ndarray, y: np.ndarray) -> PerLabel:
        values = np.asarray(values, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(values.shape)
        params: list[Any] = []
        pooled_p: list[np.ndarray] = []
        pooled_y: list[np.ndarray] = []
        for k in range(values.shape[1]):
            keep = ~np.isnan(y[:, k])
            p, t = values[keep, k], y[keep, k]
            alone = values.shape[1] == 1 and 0 < t.sum() < t.size  # one output (binary): nothing to pool with
            if alone or min(int(t.sum()), int((1 - t).sum())) >= self.min_count:
                params.append(self._fit_one(p, t))
            else:
                params.append(None)
                self.pooled_labels_.append(k)
                pooled_p.append(p)
                pooled_y.append(t)
        if self.pooled_labels_:
            p, t = np.concatenate(pooled_p), np.concatenate(pooled_y)
            # a pooled group still lacking either outcome keeps its probabilities as they are (identity)
            self.pooled_ = self._fit_one(p, t) if t.size and 0 < t.sum() < t.size else None
        self.params_ = params
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        if self.params_ is None:
            raise NotFittedError(f"{self.method} calibration used before fit")
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.params_):
            raise ShapeError(f"{self.method} calibration: fitted on {len(self.params_)} outputs, got values of shape {values.shape}")
        out = values.copy()
        for k, params in enumerate(self.params_):
            params = params if params is not None else self.pooled_
            if params is not None:
                out[:, k] = self._apply_one(values[:, k], params)
        return out.astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"method": self.method, "min_count": self.min_count, "params": self.params_, "pooled": self.pooled_,
                "pooled_labels": self.pooled_labels_}  # fmt: skip

    def summary(self) -> dict[str, Any]:
        n = len(self.params_ or [])
        return {"method": self.method, "labels": n, "own_fit": n - len(self.pooled_labels_), "pooled": len(self.pooled_labels_),
                "min_count": self.min_count, **({"params": self.params_} if self.method == "platt" and n <= 20 else {})}  # fmt: skip


class Platt(PerLabel):
    """Per label p' = sigmoid(a logit p + b), fitted by (barely regularised) logistic regression on logit p."""

    method = "platt"

    def _fit_one(self, p: np.ndarray, y: np.ndarray) -> list[float]:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e4, max_iter=1000).fit(logit(p)[:, None], y.astype(np.int64))
        return [float(lr.coef_[0, 0]), float(lr.intercept_[0])]

    def _apply_one(self, p: np.ndarray, params: Any) -> np.ndarray:
        a, b = params
        return sigmoid(a * logit(p) + b)


class Isotonic(PerLabel):
    """Per label a monotone non-decreasing map (sklearn IsotonicRegression), stored as thresholds, applied with np.interp."""

    method = "isotonic"

    def _fit_one(self, p: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]}

    def _apply_one(self, p: np.ndarray, params: Any) -> np.ndarray:
        return np.interp(p, params["x"], params["y"])


def make_calibrator(method: str, output_kind: str) -> Calibrator:
    """An unfitted calibrator for `train.calibration` and the output kind ("auto" resolved)."""
    method = resolve_method(method, output_kind)
    if method == "temperature":
        return TemperatureScaling(multiclass=output_kind == "multiclass")
    return {"platt": Platt, "isotonic": Isotonic}.get(method, Calibrator)()


def calibrator_from_state(state: dict[str, Any]) -> Calibrator:
    """Inverse of `state_dict`."""
    method = state.get("method")
    if method == "temperature":
        cal = TemperatureScaling(bool(state["multiclass"]))
        cal.temperature_ = float(state["temperature"])
        return cal
    if method in ("platt", "isotonic"):
        per = Platt() if method == "platt" else Isotonic()
        per.min_count, per.params_, per.pooled_ = int(state["min_count"]), list(state["params"]), state["pooled"]
        per.pooled_labels_ = [int(k) for k in state["pooled_labels"]]
        return per
    if method == "none":
        return Calibrator()
    raise ConfigError(f"calibrator state: field 'method' is {method!r}; expected one of temperature, platt, isotonic, none")
