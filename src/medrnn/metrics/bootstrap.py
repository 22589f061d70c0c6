"""The one bootstrap engine of every evaluator: number the units of the samples, draw per-unit counts in blocks,
percentile intervals, and the JSON helpers of the reports.

A resample is a vector of draw counts, one per unit (record, patient, document, scaffold): a metric that is a sum over
samples becomes a count-weighted sum, so whole blocks of resamples are scored with a few matrix products instead of
a pass over the samples per resample (scikit-learn's input checks alone cost ~2 ms a call). All samples of a unit
share its count, so they are drawn together. scipy.stats.bootstrap draws samples, not units, hence this module.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from medrnn.errors import ConfigError, ShapeError

# Resampled count matrices are drawn and scored in blocks of about this many cells to bound memory on large test sets.
BLOCK_CELLS = 2_000_000
PROGRESS_STEPS = 50  # with a progress bar, at least this many blocks, so the bar moves (the draws do not change)
_progress = {"enabled": True}


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Within the block, bootstrap progress bars are shown (on a terminal, after a second) only if `enabled`."""
    before, _progress["enabled"] = _progress["enabled"], bool(enabled)
    try:
        yield
    finally:
        _progress["enabled"] = before


def unit_index(units: Sequence[Any] | np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Unit number (0..U-1) of each of n samples, and U.

    None, or units that are all distinct, make sample i unit i (the plain sample bootstrap, same draws either way);
    otherwise units are numbered in sorted order (np.unique). A length mismatch raises.
    """
    if units is None:
        return np.arange(n, dtype=np.int64), n
    values = np.asarray(units)
    if values.shape != (n,):
        raise ShapeError(f"units has shape {values.shape}; expected one unit id per sample ({n},) (the split unit)")
    uniques, inverse = np.unique(values, return_inverse=True)
    if len(uniques) == n:
        return np.arange(n, dtype=np.int64), n
    return inverse.astype(np.int64).ravel(), len(uniques)


def resample_counts(rng: np.random.Generator, n_units: int, n_boot: int) -> Iterator[np.ndarray]:
    """Blocks of (b, n_units) float counts: how often each unit is drawn in each of n_boot resamples of n_units units.

    One rng.integers call per block gives the same draws as one call per resample (numpy fills arrays in order), so
    the progress bar (stderr a terminal, `progress_bars` not off, shown after a second) may cut smaller blocks.
    """
    block = max(1, BLOCK_CELLS // max(n_units, 1))
    show = _progress["enabled"] and sys.stderr.isatty()
    if show:
        block = min(block, max(1, -(-n_boot // PROGRESS_STEPS)))
    with tqdm(total=n_boot, desc="bootstrap", unit="resample", leave=False, delay=1.0, disable=not show) as bar:
        for start in range(0, n_boot, block):
            b = min(block, n_boot - start)
            draw = rng.integers(0, n_units, size=(b, n_units))
            flat = (np.arange(b)[:, None] * n_units + draw).ravel()
            yield np.bincount(flat, minlength=b * n_units).reshape(b, n_units).astype(np.float64)
            bar.update(b)


def sum_by_unit(values: np.ndarray, index: np.ndarray, n_units: int) -> np.ndarray:
    """Per-unit sums of per-sample values (n, ...) -> (n_units, ...); the identity when every sample is its own unit."""
    if n_units == len(index) and np.array_equal(index, np.arange(n_units)):
        return values
    out = np.zeros((n_units, *values.shape[1:]), dtype=np.result_type(values, np.float64))
    np.add.at(out, index, values)
    return out


def percentile_interval(values: Any, ci_level: float) -> list[float] | None:
    """[lo, hi] percentile interval over the defined (non-NaN) resample values; None when fewer than two are defined."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size < 2:
        return None
    tail = 100 * (1 - ci_level) / 2
    return [float(v) for v in np.percentile(values, [tail, 100 - tail])]


def check_options(n_boot: Any, ci_level: float) -> None:
    """Reject a negative or fractional n_boot and a CI level outside (0, 1)."""
    if int(n_boot) != n_boot or n_boot < 0:
        raise ConfigError(f"n_boot={n_boot} must be an integer >= 0 (0 skips the bootstrap)")
    if not 0 < ci_level < 1:
        raise ConfigError(f"ci_level={ci_level} must lie strictly between 0 and 1 (e.g. 0.95)")


def to_number(x: Any) -> float | None:
    """Python float, or None for NaN."""
    x = float(x)
    return None if np.isnan(x) else x


def jsonable(obj: Any) -> Any:
    """Recursively turn numpy scalars/arrays into Python types and NaN into None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, PurePath):
        return str(obj)
    return obj


__all__ = ["BLOCK_CELLS", "check_options", "jsonable", "percentile_interval", "progress_bars", "resample_counts",
           "sum_by_unit", "to_number", "unit_index"]  # fmt: skip
