"""Irregular ICU time series -> the regular-grid tensors GRU-D needs (values, mask, time since observed), numpy only.

GRU-D (Che et al. 2018, Sci Rep 8:6085) reads, at each step t, the observed values x_t, the mask m_t and the time
delta_t since each variable was last observed. Binning, standardisation and the layout below produce exactly those.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from medrnn.errors import ConfigError, InvalidRecordError, NotFittedError, ShapeError
from medrnn.records import IcuStay

SUMMARY_STATS: tuple[str, ...] = ("first", "last", "min", "max", "mean", "count")
GENDER_LEVELS: dict[float, str] = {0.0: "female", 1.0: "male"}  # PhysioNet 2012 coding
ICU_TYPES: dict[float, str] = {1.0: "CCU", 2.0: "CSRU", 3.0: "MICU", 4.0: "SICU"}  # coronary, cardiac surgery, medical, surgical


def _n_bins(hours: float, bin_minutes: float) -> int:
    """Number of bins covering [0, hours]; raises on a non-positive window or bin width."""
    if hours <= 0 or bin_minutes <= 0:
        raise ConfigError(f"hours={hours} and bin_minutes={bin_minutes} must both be > 0 (e.g. hours=48, bin_minutes=60)")
    return math.ceil(hours * 60 / bin_minutes)


def n_after_window(stay: IcuStay, hours: float = 48) -> int:
    """How many of the stay's observations fall after `hours` (what `bin_stay` leaves out)."""
    return int((stay.times_min > hours * 60).sum())


def bin_stay(stay: IcuStay, *, hours: float = 48, bin_minutes: float = 60) -> tuple[np.ndarray, np.ndarray]:
    """Put a stay on a regular grid: values (T, V) float32 with NaN where missing, and mask (T, V) bool.

    Bin k holds times [k * bin_minutes, (k + 1) * bin_minutes); the last bin is closed on the right so that an
    observation at exactly `hours` (the challenge's 48:00) is kept. Observations after `hours` are left out; count
    them with `n_after_window`. When a variable has several observations in a bin the **last** one is kept (ties in
    time: the later file row): it is the patient's state at the end of the bin, which is what a model stepping
    through bins would have seen, and it matches GRU-D's last-observation carry-forward. T = ceil(hours*60/bin_minutes).
    """
    n_bins, n_vars = _n_bins(hours, bin_minutes), len(stay.variable_names)
    values = np.full((n_bins, n_vars), np.nan, dtype=np.float32)
    mask = np.zeros((n_bins, n_vars), dtype=bool)
    inside = stay.times_min <= hours * 60
    if not inside.any():
        return values, mask
    order = np.argsort(stay.times_min[inside], kind="stable")  # IcuStay is time-sorted; stay safe for hand-built ones
    t, var, x = stay.times_min[inside][order], stay.variables[inside][order], stay.values[inside][order]
    step = np.minimum((t // bin_minutes).astype(np.int64), n_bins - 1)
    cell = step * n_vars + var
    # last occurrence of each cell: first occurrence in the reversed order (fancy assignment order is not guaranteed)
    _, first_rev = np.unique(cell[::-1], return_index=True)
    last = cell.size - 1 - first_rev
    values.reshape(-1)[cell[last]] = x[last]
    mask.reshape(-1)[cell[last]] = True
    return values, mask


def time_since_observed(mask: np.ndarray, bin_minutes: float = 60, *, times_h: np.ndarray | None = None) -> np.ndarray:
    """delta (..., T, V) float32, in hours, as in GRU-D (Che et al. 2018, eq. 2); mask may carry a leading batch axis.

    delta_0 = 0; delta_t = s_t - s_{t-1} + delta_{t-1} when m_{t-1} = 0, else s_t - s_{t-1}. The time stamps s_t are
    the bin starts t * bin_minutes / 60 h, or `times_h` (T,) when given (irregular steps, as in the paper's example).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim < 2:
        raise ShapeError(f"time_since_observed expects mask (..., time, variables), got shape {mask.shape}")
    n_steps = mask.shape[-2]
    if times_h is None:
        s = np.arange(n_steps, dtype=np.float64) * (bin_minutes / 60)
    else:
        s = np.asarray(times_h, dtype=np.float64)
        if s.shape != (n_steps,):
            raise ShapeError(f"times_h has shape {s.shape}, expected ({n_steps},) to match mask {mask.shape}")
    delta = np.zeros(mask.shape, dtype=np.float64)
    gaps = np.diff(s)
    for t in range(1, n_steps):  # a recurrence over time; T is small (48), batch and variables are vectorised
        delta[..., t, :] = gaps[t - 1] + np.where(mask[..., t - 1, :], 0.0, delta[..., t - 1, :])
    return delta.astype(np.float32)


class IrregularStandardizer:
    """Per-variable (x - mean) / std over observed values only; NaN (missing) stays NaN.

    Fit on the training stays only. A variable never observed in training gets mean 0 and std 1 (`n_observed_`
    says which), and one with (near) zero spread gets std 1, so that transform never divides by zero. Standardised
    values have mean 0: that is GRU-D's empirical mean towards which its input decay pulls.
    """

    def __init__(self, eps: float = 1e-6) -> None:
        self.eps = eps

    def fit(self, values: Sequence[np.ndarray]) -> IrregularStandardizer:
        """Learn mean and std per variable from a list of (T, V) arrays (NaN = missing)."""
        if len(values) == 0:
            raise ShapeError("IrregularStandardizer.fit got no arrays; pass the binned values of the training stays")
        widths = {np.shape(v)[-1] if np.ndim(v) == 2 else None for v in values}
        if len(widths) != 1 or None in widths:
            raise ShapeError(f"IrregularStandardizer.fit expects (time, variables) arrays with one width, got widths {widths}")
        x = np.concatenate([np.asarray(v, dtype=np.float64) for v in values], axis=0)
        observed = ~np.isnan(x)
        n = observed.sum(axis=0)
        total = np.where(observed, x, 0.0).sum(axis=0)
        mean = np.divide(total, n, out=np.zeros(x.shape[1]), where=n > 0)
        var = np.divide(np.where(observed, (x - mean) ** 2, 0.0).sum(axis=0), n, out=np.ones(x.shape[1]), where=n > 0)
        std = np.sqrt(var)
        self.mean_ = mean.astype(np.float32)
        self.std_ = np.where(std > self.eps, std, 1.0).astype(np.float32)
        self.n_observed_ = n.astype(np.int64)
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardise (..., V) values as float32; NaN stays NaN."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("IrregularStandardizer used before fit(); fit it on the training stays first")
        values = np.asarray(values)
        if values.shape[-1] != self.mean_.shape[0]:
            raise ShapeError(f"expected (..., {self.mean_.shape[0]}) variables, got shape {values.shape}")
        return ((values - self.mean_) / self.std_).astype(np.float32)

    def state_dict(self) -> dict[str, list[float] | list[int] | float]:
        """Fitted state as plain lists (JSON-ready), for the model artifact."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("IrregularStandardizer has no state before fit()")
        return {"mean": self.mean_.tolist(), "std": self.std_.tolist(), "n_observed": self.n_observed_.tolist(), "eps": self.eps}

    @classmethod
    def from_state_dict(cls, state: dict) -> IrregularStandardizer:
        """Rebuild a fitted standardiser from `state_dict()` output."""
        obj = cls(eps=float(state.get("eps", 1e-6)))
        obj.mean_ = np.asarray(state["mean"], dtype=np.float32)
        obj.std_ = np.asarray(state["std"], dtype=np.float32)
        obj.n_observed_ = np.asarray(state.get("n_observed", [0] * len(obj.mean_)), dtype=np.int64)
        if obj.mean_.shape != obj.std_.shape:
            raise ShapeError(f"state has {obj.mean_.shape[0]} means but {obj.std_.shape[0]} stds")
        return obj


def to_grud_input(values_std: np.ndarray, mask: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """GRU-D input (T, 3V) float32 laid out as [x | m | delta].

    Columns 0..V-1: standardised values, 0 where missing (0 = the training mean after standardisation);
    V..2V-1: mask, 1.0 where observed; 2V..3V-1: hours since last observed. The model recovers the last observed
    value (for its decay towards the mean) by carrying x forward where m = 1.
    """
    values_std, mask, delta = np.asarray(values_std), np.asarray(mask, dtype=bool), np.asarray(delta)
    if not (values_std.shape == mask.shape == delta.shape) or values_std.ndim != 2:
        raise ShapeError(f"values {values_std.shape}, mask {mask.shape} and delta {delta.shape} must be the same (time, variables)")
    if np.isnan(values_std[mask]).any():
        raise InvalidRecordError("to_grud_input: the mask marks NaN values as observed; pass the mask returned with the values")
    x = np.where(mask, values_std, 0.0)
    return np.concatenate([x, mask, delta], axis=1).astype(np.float32)


def summary_features(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-variable first, last, min, max, mean and count of observed values -> (V * 6,) float32, variable-major.

    NaN where a variable is never observed (count is 0 there). Names: `summary_feature_names`.
    """
    values, mask = np.asarray(values, dtype=np.float64), np.asarray(mask, dtype=bool)
    if values.shape != mask.shape or values.ndim != 2:
        raise ShapeError(f"values {values.shape} and mask {mask.shape} must be the same (time, variables)")
    n_steps, n_vars = values.shape
    count = mask.sum(axis=0)
    seen = count > 0
    cols = np.arange(n_vars)
    first = np.where(seen, values[mask.argmax(axis=0), cols], np.nan)
    last = np.where(seen, values[n_steps - 1 - mask[::-1].argmax(axis=0), cols], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for never-observed variables, replaced by NaN
        lo = np.where(seen, np.where(mask, values, np.inf).min(axis=0), np.nan)
        hi = np.where(seen, np.where(mask, values, -np.inf).max(axis=0), np.nan)
        mean = np.where(seen, np.where(mask, values, 0.0).sum(axis=0) / count, np.nan)
    return np.stack([first, last, lo, hi, mean, count.astype(np.float64)], axis=1).reshape(-1).astype(np.float32)


def summary_feature_names(variable_names: Sequence[str]) -> list[str]:
    """Names of `summary_features` columns, e.g. "HR_first", in the same variable-major order."""
    return [f"{v}_{s}" for v in variable_names for s in SUMMARY_STATS]


def static_features(stay: IcuStay) -> tuple[np.ndarray, list[str]]:
    """Admission descriptors as float32 features with their names.

    Age, Height and Weight are kept in their units with NaN where missing (impute after the split); Gender is
    one-hot with a missing column; ICUType is one-hot over CCU/CSRU/MICU/SICU (all zeros if missing).
    """
    get = lambda name: float(stay.static.get(name, np.nan))  # noqa: E731
    gender, icu = get("Gender"), get("ICUType")
    names = ["Age", *(f"Gender_{g}" for g in GENDER_LEVELS.values()), "Gender_missing", "Height", "Weight"]
    names += [f"ICUType_{u}" for u in ICU_TYPES.values()]
    row = [get("Age"), *(float(gender == g) for g in GENDER_LEVELS), float(gender not in GENDER_LEVELS), get("Height"), get("Weight")]
    row += [float(icu == u) for u in ICU_TYPES]
    return np.array(row, dtype=np.float32), names


def raw_static(stays: list[IcuStay]) -> tuple[np.ndarray, list[str]]:
    """(n, descriptors) float32 with NaN where missing, and the descriptor feature names."""
    rows, names = zip(*(static_features(s) for s in stays))
    return np.stack(rows).astype(np.float32), list(names[0])


def with_indicators(raw: np.ndarray, base_names: list[str], names: list[str]) -> np.ndarray:
    """Append the `<name>_missing` columns listed in `names` (fixed at training time) to the raw descriptors."""
    extra = [np.isnan(raw[:, base_names.index(n[: -len("_missing")])]) for n in names[len(base_names) :]]
    return np.concatenate([raw, np.stack(extra, axis=1).astype(np.float32)], axis=1) if extra else raw


def grud_inputs(
    stays: list[IcuStay], scaler: IrregularStandardizer, hours: float, bin_minutes: int, binned: list | None = None
) -> np.ndarray:
    """(n, time, 3V) model input of read stays with a fitted standardiser (`binned`: the stays already on the grid)."""
    binned = binned or [bin_stay(s, hours=hours, bin_minutes=bin_minutes) for s in stays]
    return np.stack([to_grud_input(scaler.transform(v), m, time_since_observed(m, bin_minutes)) for v, m in binned]).astype(np.float32)
