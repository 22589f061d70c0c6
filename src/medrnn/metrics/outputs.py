"""Per-output metrics of binary, multilabel and regression outputs with missing labels, and bootstrap CIs over units.

One column per output (a MoleculeNet task, an ICU outcome, a next-visit code); NaN in y_true marks a missing label:
each output is scored only on its labelled samples. Binary/multilabel outputs get AUROC and AUPRC (MoleculeNet's
headline: mean ROC-AUC over outputs); regression outputs get RMSE, MAE and R² in the original units (headline: mean
RMSE). scikit-learn computes every point estimate; the bootstrap resamples the units of the samples (molecules,
scaffolds, stays, patients) with medrnn.metrics.bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from medrnn.errors import ConfigError, InvalidRecordError, ShapeError
from medrnn.metrics.bootstrap import check_options, percentile_interval, resample_counts, unit_index
from medrnn.metrics.report import MetricReport

OUTPUT_KINDS = ("binary", "multilabel", "regression")
TASK_TYPES = ("classification", "regression")  # headline_score's names: binary and multilabel are "classification"
TASK_METRICS = {"classification": ("auroc", "auprc"), "regression": ("rmse", "mae", "r2")}
# overall key -> per-output metric it averages
OVERALL_METRICS = {
    "classification": {"roc_auc": "auroc", "prc_auc": "auprc"},
    "regression": {"rmse": "rmse", "mae": "mae", "r2": "r2"},
}
HEADLINE = {"classification": "roc_auc", "regression": "rmse"}


def evaluate_outputs(
    y_true: Any,
    y_score: Any,
    label_names: Sequence[str],
    output_kind: str,
    units: Sequence[Any] | np.ndarray | None = None,
    unit: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> MetricReport:
    """Score (n, n_outputs) predictions per output on labelled samples only, with bootstrap CIs over units.

    Parameters
    ----------
    y_true : (n, n_outputs) or (n,) labels; NaN = missing. 0/1 for binary/multilabel, original units for regression.
    y_score : same shape; probabilities (binary/multilabel) or predictions in original units (regression).
    output_kind : "binary", "multilabel" (several binary outputs, scored one by one) or "regression".
    units : one id per sample (the split unit: scaffold, patient, stay): whole units are resampled, so that samples of
        one unit, which are not independent, do not make the intervals too narrow. None resamples samples.
    unit : what a unit is, in words, for the report ("scaffolds"); default "samples" or "groups".
    n_boot : resamples of the units (with replacement); 0 skips the CIs.
    """
    if output_kind not in OUTPUT_KINDS:
        raise ConfigError(f"output_kind {output_kind!r} is not one of {list(OUTPUT_KINDS)}")
    task_type = "regression" if output_kind == "regression" else "classification"
    check_options(n_boot, ci_level)
    y, s, names = _check_inputs(y_true, y_score, label_names, task_type)
    per_label: dict[str, dict[str, float | int | None]] = {}
    skipped: dict[str, str] = {}
    for t, name in enumerate(names):
        per_label[name], reason = _score_output(y[:, t], s[:, t], task_type)
        if reason is not None:
            skipped[name] = reason
    overall = {
        key: _mean([per_label[n][metric] for n in names if n not in skipped])
        for key, metric in OVERALL_METRICS[task_type].items()
    }
    index, n_units = unit_index(units, y.shape[0])
    ci = _bootstrap(y, s, names, task_type, skipped, int(n_boot), seed, ci_level, index, n_units) if n_boot > 0 else {}
    return MetricReport(
        output_kind=output_kind,
        label_names=names,
        per_label=per_label,
        overall=overall,
        ci=ci,
        headline=HEADLINE[task_type],
        n_samples=int(y.shape[0]),
        n_units=n_units,
        unit=unit or ("samples" if units is None else "groups"),
        n_boot=int(n_boot),
        ci_level=float(ci_level),
        extras={"skipped": skipped},
    )


def headline_score(y_true: Any, y_score: Any, task_type: str) -> float:
    """MoleculeNet headline without bootstrap: mean AUROC (one-class outputs skipped) or mean RMSE over outputs.

    task_type: "classification" (or "binary"/"multilabel") or "regression". Every model of a benchmark is scored by
    this one function; NaN when no output can be scored.
    """
    kinds = (*TASK_TYPES, "binary", "multilabel")
    if task_type not in kinds:
        raise ConfigError(f"task_type {task_type!r} is not one of {list(kinds)}")
    task_type = "regression" if task_type == "regression" else "classification"
    y, s, names = _check_inputs(y_true, y_score, None, task_type)
    metric = "auroc" if task_type == "classification" else "rmse"
    values = [_score_output(y[:, t], s[:, t], task_type)[0][metric] for t in range(len(names))]
    mean = _mean(values)
    return float("nan") if mean is None else mean


def _check_inputs(
    y_true: Any, y_score: Any, label_names: Sequence[str] | None, task_type: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate shapes, labels and scores; return float64 (n, n_outputs) arrays and the output names."""
    try:
        y = np.asarray(y_true, dtype=np.float64)
        s = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidRecordError(f"y_true and y_score must be numeric arrays (NaN = missing label): {err}") from err
    y = y[:, None] if y.ndim == 1 else y
    s = s[:, None] if s.ndim == 1 else s
    if y.ndim != 2 or s.shape != y.shape:
        raise ShapeError(
            f"y_true has shape {np.shape(y_true)} and y_score {np.shape(y_score)}; expected the same "
            "(n_samples, n_outputs) shape for both (1-D for a single output)"
        )
    n, n_outputs = y.shape
    if n == 0 or n_outputs == 0:
        raise ShapeError(f"y_true has shape {np.shape(y_true)}; nothing to evaluate")
    names = [f"output_{t}" for t in range(n_outputs)] if label_names is None else [str(t) for t in label_names]
    if len(names) != n_outputs:
        raise ShapeError(f"label_names has {len(names)} entries {names[:5]}, but y_true has {n_outputs} output columns")
    if len(set(names)) != len(names):
        dupes = sorted({t for t in names if names.count(t) > 1})
        raise ConfigError(f"label_names must be unique; {dupes} occur more than once")
    for t, name in enumerate(names):
        bad = ~np.isfinite(s[:, t])
        if bad.any():
            raise InvalidRecordError(
                f"y_score column {t} ({name!r}) holds {int(bad.sum())} NaN/inf values (first at row "
                f"{int(np.flatnonzero(bad)[0])}); expected a finite score for every sample"
            )
        labels = y[:, t][~np.isnan(y[:, t])]
        if np.isinf(labels).any():
            raise InvalidRecordError(f"y_true column {t} ({name!r}) holds inf; use NaN for a missing label")
        if task_type == "classification" and not np.isin(labels, (0.0, 1.0)).all():
            odd = np.unique(labels[~np.isin(labels, (0.0, 1.0))])[:5].tolist()
            raise InvalidRecordError(
                f"y_true column {t} ({name!r}) holds values {odd}; classification labels must be 0, 1 or NaN (missing)"
            )
    return y, s, names


def _score_output(y: np.ndarray, s: np.ndarray, task_type: str) -> tuple[dict[str, float | int | None], str | None]:
    """Point estimates of one output on its labelled samples, and why it was skipped (None if scored)."""
    labelled = ~np.isnan(y)
    y, s = y[labelled], s[labelled]
    n = int(labelled.sum())
    if task_type == "classification":
        n_pos = int(y.sum())
        row: dict[str, float | int | None] = {"auroc": None, "auprc": None, "n": n, "n_pos": n_pos}
        if n == 0:
            return row, "no labelled test samples: AUROC undefined"
        if n_pos in (0, n):
            return row, f"only one class ({int(y[0])}) among {n} labelled test samples: AUROC undefined"
        row["auroc"] = float(roc_auc_score(y, s))
        row["auprc"] = float(average_precision_score(y, s))
        return row, None
    row = {"rmse": None, "mae": None, "r2": None, "n": n}
    if n == 0:
        return row, "no labelled test samples: RMSE undefined"
    row["rmse"] = float(root_mean_squared_error(y, s))
    row["mae"] = float(mean_absolute_error(y, s))
    row["r2"] = float(r2_score(y, s)) if n >= 2 else None  # R² needs at least two labelled samples
    return row, None


def _bootstrap(
    y: np.ndarray,
    s: np.ndarray,
    names: list[str],
    task_type: str,
    skipped: dict[str, str],
    n_boot: int,
    seed: int,
    ci_level: float,
    index: np.ndarray,
    n_units: int,
) -> dict[str, list[float] | None]:
    """Percentile CIs from resampling units with replacement (a sample is drawn as often as its unit); an output's value
    in a resample uses only its labelled samples, and resamples where it is undefined (one class, no labels) are left
    out for that output."""
    metrics = TASK_METRICS[task_type]
    scored = [t for t, name in enumerate(names) if name not in skipped]
    # per output: the labelled samples (sorted by descending score for the curves) and the scorer's other arguments
    prepared = [prepare_output(y[:, t], s[:, t], task_type) for t in scored]
    draws: list[list[np.ndarray]] = [[] for _ in scored]
    score = weighted_curves if task_type == "classification" else weighted_regression
    per_sample = n_units == len(index)  # unit_index numbers distinct units 0..n-1 in sample order
    for counts in resample_counts(np.random.default_rng(seed), n_units, n_boot):
        if not per_sample:
            counts = counts[:, index]  # a sample is drawn as often as its unit
        for k, (rows, args) in enumerate(prepared):
            draws[k].append(np.vstack(score(counts[:, rows], *args)))  # (n_metrics, b)
    values = {names[t]: np.hstack(d) for t, d in zip(scored, draws)}  # output -> (n_metrics, n_boot)
    out: dict[str, list[float] | None] = {}
    for name, matrix in values.items():
        for i, m in enumerate(metrics):
            out[f"{name}.{m}"] = percentile_interval(matrix[i], ci_level)
    for key, m in OVERALL_METRICS[task_type].items():
        if not values:
            break
        per_output = np.vstack([matrix[metrics.index(m)] for matrix in values.values()])  # (outputs, n_boot)
        defined = ~np.isnan(per_output)  # mean over the outputs defined in each resample
        means = np.where(defined.any(0), np.nansum(per_output, 0) / np.maximum(defined.sum(0), 1), np.nan)
        out[f"overall.{key}"] = percentile_interval(means, ci_level)
    return out


def prepare_output(y: np.ndarray, s: np.ndarray, task_type: str) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Labelled row indices of one output and the arrays its weighted scorer needs (computed once per output)."""
    rows = np.flatnonzero(~np.isnan(y))
    if task_type == "regression":
        return rows, (y[rows], s[rows])
    order = np.argsort(-s[rows], kind="stable")
    rows, scores = rows[order], s[rows][order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # one threshold per distinct score
    return rows, (y[rows], last_of_tie)


# Scoring every resample with scikit-learn costs ~2 ms of input validation per call (27 SIDER outputs x 200
# resamples > 10 s), so resamples are scored at once as count-weighted sums; tests check them against sklearn.
def weighted_curves(w: np.ndarray, y: np.ndarray, last_of_tie: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and average precision (sklearn's definitions, ties included) for each row of weights w (b, m).

    y (m,) and the columns of w are sorted by descending score; last_of_tie indexes the last row of each score.
    """
    tps = np.cumsum(w * y, axis=1)[:, last_of_tie]
    fps = np.cumsum(w, axis=1)[:, last_of_tie] - tps
    pos, neg = tps[:, -1:], fps[:, -1:]
    ok = (pos[:, 0] > 0) & (neg[:, 0] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = np.hstack([np.zeros_like(pos), tps / pos])
        fpr = np.hstack([np.zeros_like(neg), fps / neg])
        auroc = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
        predicted = tps + fps
        precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted > 0)
        auprc = np.sum(np.diff(tpr, axis=1) * precision, axis=1)
    return np.where(ok, auroc, np.nan), np.where(ok, auprc, np.nan)


def weighted_regression(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RMSE, MAE and R² (sklearn's definitions) for each row of weights w (b, m); NaN where undefined."""
    total = w.sum(axis=1)
    err = y - p
    centred = y - y.mean()  # centring before squaring keeps the total sum of squares accurate
    with np.errstate(divide="ignore", invalid="ignore"):
        sse = w @ err**2
        rmse = np.sqrt(sse / total)
        mae = (w @ np.abs(err)) / total
        sst = w @ centred**2 - (w @ centred) ** 2 / total
        r2 = 1 - sse / sst
    defined = total > 0
    r2_ok = defined & (sst > 1e-12 * (w @ centred**2))  # a resample with one distinct value has no R²
    return np.where(defined, rmse, np.nan), np.where(defined, mae, np.nan), np.where(r2_ok, r2, np.nan)


def _mean(values: Sequence[float | int | None]) -> float | None:
    """Mean of the defined values, None when none is defined."""
    defined = [float(v) for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


__all__ = ["OUTPUT_KINDS", "evaluate_outputs", "headline_score", "prepare_output", "weighted_curves", "weighted_regression"]
