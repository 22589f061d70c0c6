"""Feature standardisation fitted on the training split only; state is saved in the artifact."""

from __future__ import annotations

import numpy as np

from medrnn.errors import NotFittedError, ShapeError


class Standardizer:
    """Per-column (x - mean) / scale; sklearn's StandardScaler would do, but its state must live in JSON."""

    def __init__(self, eps: float = 1e-6) -> None:
        self.eps = eps

    def fit(self, x: np.ndarray) -> Standardizer:
        if x.ndim != 2:
            raise ShapeError(f"Standardizer.fit expects (n, features), got {x.shape}")
        if np.isnan(x).all(axis=0).any():
            raise ShapeError(f"Standardizer.fit: column(s) {np.flatnonzero(np.isnan(x).all(axis=0)).tolist()} have no value")
        self.mean_ = np.nanmean(x, axis=0).astype(np.float32)  # NaN = missing label (multi-task targets)
        std = np.nanstd(x, axis=0)
        # a column constant in training keeps scale 1: dividing by eps would turn an unseen value into 1e6
        self.scale_ = np.where(std > self.eps, std, 1.0).astype(np.float32)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise NotFittedError("Standardizer used before fit()")
        if x.ndim != 2 or x.shape[1] != self.mean_.shape[0]:
            raise ShapeError(f"expected (n, {self.mean_.shape[0]}) features, got {x.shape}")
        return ((x - self.mean_) / self.scale_).astype(np.float32)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Back to original units (e.g. model outputs -> log solubility)."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("Standardizer used before fit()")
        return (np.asarray(z) * self.scale_ + self.mean_).astype(np.float64)

    def state_dict(self) -> dict[str, list[float]]:
        if not hasattr(self, "mean_"):
            raise NotFittedError("Standardizer has no state before fit()")
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, list[float]]) -> Standardizer:
        obj = cls()
        obj.mean_ = np.asarray(state["mean"], dtype=np.float32)
        obj.scale_ = np.asarray(state["scale"], dtype=np.float32)
        return obj
