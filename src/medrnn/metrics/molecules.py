"""Multi-task molecular property metrics with missing labels and bootstrap CIs over test molecules.

NaN in y_true marks a missing label: each task is scored only on its labelled molecules. Classification
tasks get AUROC and AUPRC (MoleculeNet's headline: mean ROC-AUC over tasks); regression tasks get RMSE,
MAE and R² in the original units (headline: mean RMSE). scikit-learn computes every point estimate.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
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
from medrnn.metrics.classification import _jsonable, format_estimate

TASK_TYPES = ("classification", "regression")
TASK_METRICS = {"classification": ("auroc", "auprc"), "regression": ("rmse", "mae", "r2")}
# overall key -> per-task metric it averages
OVERALL_METRICS = {
    "classification": {"roc_auc": "auroc", "prc_auc": "auprc"},
    "regression": {"rmse": "rmse", "mae": "mae", "r2": "r2"},
}
METRIC_LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "rmse": "RMSE", "mae": "MAE", "r2": "R²"}
# Resampled count matrices are scored in blocks of about this many cells to bound memory on large test sets.
_BLOCK_CELLS = 2_000_000


@dataclass
class MoleculeMetricReport:
    """Per-task and mean-over-task scores of one test set, with percentile bootstrap CIs; JSON round-trips."""

    task_type: str
    task_names: list[str]
    per_task: dict[str, dict[str, float | int | None]]
    overall: dict[str, float | None]
    ci: dict[str, list[float]]
    skipped_tasks: dict[str, str]
    n_samples: int
    n_boot: int
    ci_level: float = 0.95
    unit: str = "rows"  # what the bootstrap resampled: "rows", or "groups (G)" for a cluster bootstrap (patients)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (Python floats and ints, None for undefined values)."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MoleculeMetricReport:
        """Rebuild a report from `to_dict()` output (e.g. the 'test' entry of a run's metrics.json)."""
        if not isinstance(data, dict):
            raise ConfigError(f"molecule metric report must be a dict, got {type(data).__name__}")
        required = ["task_type", "task_names", "per_task", "overall", "ci", "skipped_tasks", "n_samples", "n_boot"]
        missing = [k for k in required if k not in data]
        if missing:
            raise ConfigError(
                f"molecule metric report is missing keys {missing}; expected the output of "
                f"MoleculeMetricReport.to_dict() with keys {required} (+ ci_level)"
            )
        if data["task_type"] not in TASK_TYPES:
            raise ConfigError(f"task_type {data['task_type']!r} is not one of {list(TASK_TYPES)}")
        kwargs = {k: data[k] for k in required}
        return cls(**kwargs, ci_level=float(data.get("ci_level", 0.95)), unit=str(data.get("unit", "rows")))

    @property
    def headline(self) -> tuple[str, float]:
        """("roc_auc", mean AUROC) or ("rmse", mean RMSE), the MoleculeNet metric; NaN when no task was scored."""
        key = "roc_auc" if self.task_type == "classification" else "rmse"
        value = self.overall.get(key)
        return key, float("nan") if value is None else float(value)

    def table(self) -> str:
        """Plain-text per-task and overall table with CIs, for printing in a terminal."""
        metrics = TASK_METRICS[self.task_type]
        name_w = min(max([4, *(len(t) for t in self.task_names)]) + 2, 42)
        cell_w = 24
        counts = ("n", "n_pos") if self.task_type == "classification" else ("n",)
        head = f"{'task':<{name_w}}" + "".join(f"{c:>7}" for c in counts) + "  "
        head += "".join(f"{METRIC_LABELS[m]:<{cell_w}}" for m in metrics)
        lines = [head.rstrip(), "-" * len(head.rstrip())]
        for task in self.task_names:
            row = self.per_task.get(task, {})
            name = task if len(task) < name_w - 1 else task[: name_w - 3] + "…"
            cells = "".join(f"{_count(row.get(c)):>7}" for c in counts) + "  "
            cells += "".join(
                f"{format_estimate(row.get(m), self.ci.get(f'{task}.{m}'), dash='-'):<{cell_w}}" for m in metrics
            )
            lines.append(f"{name:<{name_w}}{cells}".rstrip())
        lines.append("")
        scored = len(self.task_names) - len(self.skipped_tasks)
        for key in OVERALL_METRICS[self.task_type]:
            value = format_estimate(self.overall.get(key), self.ci.get(f"overall.{key}"), dash="-")
            lines.append(f"{key:<9}{value}   (mean over {scored} of {len(self.task_names)} tasks)")
        for task, reason in self.skipped_tasks.items():
            lines.append(f"skipped {task}: {reason}")
        if self.n_boot > 0:
            drawn = "rows resampled with replacement" if self.unit == "rows" else f"{self.unit} resampled whole, with replacement"
            lines.append(
                f"{round(100 * self.ci_level)}% CIs: percentile bootstrap over {self.n_samples} test rows "
                f"({drawn}), {self.n_boot} resamples"
            )
        return "\n".join(lines)


def evaluate_molecules(
    y_true: Any,
    y_score: Any,
    task_names: Sequence[str],
    task_type: str,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
    groups: Sequence[Any] | None = None,
) -> MoleculeMetricReport:
    """Score (n, n_tasks) predictions per task on labelled rows only, with bootstrap CIs over molecules.

    Parameters
    ----------
    y_true : (n, n_tasks) or (n,) labels; NaN = missing. 0/1 for classification, original units for regression.
    y_score : same shape; probabilities (classification) or predictions in original units (regression).
    n_boot : resamples of the test molecules (rows, with replacement); 0 skips the CIs.
    groups : one id per row (e.g. the patient): resample whole groups instead of rows (cluster bootstrap), so that
        rows of one patient, which are not independent, do not make the intervals too narrow.
    """
    _check_options(task_type, n_boot, ci_level)
    y, s, names = _check_inputs(y_true, y_score, task_names, task_type)
    per_task: dict[str, dict[str, float | int | None]] = {}
    skipped: dict[str, str] = {}
    for t, name in enumerate(names):
        per_task[name], reason = _score_task(y[:, t], s[:, t], task_type)
        if reason is not None:
            skipped[name] = reason
    overall = {
        key: _mean([per_task[n][metric] for n in names if n not in skipped])
        for key, metric in OVERALL_METRICS[task_type].items()
    }
    group_index = _group_index(groups, y.shape[0])
    ci = _bootstrap(y, s, names, task_type, skipped, n_boot, seed, ci_level, group_index) if n_boot > 0 else {}
    return MoleculeMetricReport(
        task_type=task_type,
        task_names=names,
        per_task=per_task,
        overall=overall,
        ci=ci,
        skipped_tasks=skipped,
        n_samples=int(y.shape[0]),
        n_boot=int(n_boot),
        ci_level=float(ci_level),
        unit="rows" if group_index is None else f"groups ({int(group_index.max()) + 1 if len(group_index) else 0})",
    )


def _group_index(groups: Sequence[Any] | None, n: int) -> np.ndarray | None:
    """Dense group number (0..G-1) per row, or None for a row bootstrap; a length mismatch raises."""
    if groups is None:
        return None
    values = np.asarray(groups)
    if values.shape != (n,):
        raise ShapeError(f"groups has shape {values.shape}; one group id per test row expected ({n},)")
    return np.unique(values, return_inverse=True)[1].astype(np.int64)


def headline_score(y_true: Any, y_score: Any, task_type: str) -> float:
    """MoleculeNet headline without bootstrap: mean AUROC (one-class tasks skipped) or mean RMSE over tasks.

    Every model of a benchmark is scored by this one function; NaN when no task can be scored.
    """
    _check_options(task_type, 0, 0.95)
    y, s, names = _check_inputs(y_true, y_score, None, task_type)
    metric = "auroc" if task_type == "classification" else "rmse"
    values = [_score_task(y[:, t], s[:, t], task_type)[0][metric] for t in range(len(names))]
    mean = _mean(values)
    return float("nan") if mean is None else mean


def _check_options(task_type: str, n_boot: int, ci_level: float) -> None:
    """Reject an unknown task type, a negative n_boot or a CI level outside (0, 1)."""
    if task_type not in TASK_TYPES:
        raise ConfigError(f"task_type {task_type!r} is not one of {list(TASK_TYPES)}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ConfigError(f"n_boot={n_boot} must be an integer >= 0 (0 skips the bootstrap)")
    if not 0 < ci_level < 1:
        raise ConfigError(f"ci_level={ci_level} must lie strictly between 0 and 1 (e.g. 0.95)")


def _check_inputs(
    y_true: Any, y_score: Any, task_names: Sequence[str] | None, task_type: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate shapes, labels and scores; return float64 (n, n_tasks) arrays and the task names."""
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
            "(n_molecules, n_tasks) shape for both (1-D for a single task)"
        )
    n, n_tasks = y.shape
    if n == 0 or n_tasks == 0:
        raise ShapeError(f"y_true has shape {np.shape(y_true)}; nothing to evaluate")
    names = [f"task_{t}" for t in range(n_tasks)] if task_names is None else [str(t) for t in task_names]
    if len(names) != n_tasks:
        raise ShapeError(f"task_names has {len(names)} entries {names[:5]}, but y_true has {n_tasks} task columns")
    if len(set(names)) != len(names):
        dupes = sorted({t for t in names if names.count(t) > 1})
        raise ConfigError(f"task_names must be unique; {dupes} occur more than once")
    for t, name in enumerate(names):
        bad = ~np.isfinite(s[:, t])
        if bad.any():
            raise InvalidRecordError(
                f"y_score column {t} ({name!r}) holds {int(bad.sum())} NaN/inf values (first at row "
                f"{int(np.flatnonzero(bad)[0])}); expected a finite score for every molecule"
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


def _score_task(y: np.ndarray, s: np.ndarray, task_type: str) -> tuple[dict[str, float | int | None], str | None]:
    """Point estimates of one task on its labelled rows, and why the task was skipped (None if scored)."""
    labelled = ~np.isnan(y)
    y, s = y[labelled], s[labelled]
    n = int(labelled.sum())
    if task_type == "classification":
        n_pos = int(y.sum())
        row: dict[str, float | int | None] = {"auroc": None, "auprc": None, "n": n, "n_pos": n_pos}
        if n == 0:
            return row, "no labelled test molecules: AUROC undefined"
        if n_pos in (0, n):
            return row, f"only one class ({int(y[0])}) among {n} labelled test molecules: AUROC undefined"
        row["auroc"] = float(roc_auc_score(y, s))
        row["auprc"] = float(average_precision_score(y, s))
        return row, None
    row = {"rmse": None, "mae": None, "r2": None, "n": n}
    if n == 0:
        return row, "no labelled test molecules: RMSE undefined"
    row["rmse"] = float(root_mean_squared_error(y, s))
    row["mae"] = float(mean_absolute_error(y, s))
    row["r2"] = float(r2_score(y, s)) if n >= 2 else None  # R² needs at least two labelled molecules
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
    group_index: np.ndarray | None = None,
) -> dict[str, list[float]]:
    """Percentile CIs from resampling molecules (rows), or whole groups when `group_index` is given, with replacement;
    a task's value in a resample uses only its labelled rows, and resamples where it is undefined (one class, no
    labels) are left out for that task."""
    metrics = TASK_METRICS[task_type]
    scored = [t for t, name in enumerate(names) if name not in skipped]
    # per task: the labelled rows (sorted by descending score for the curves) and the scorer's other arguments
    prepared = [_prepare_task(y[:, t], s[:, t], task_type) for t in scored]
    draws: list[list[np.ndarray]] = [[] for _ in scored]
    score = _weighted_curves if task_type == "classification" else _weighted_regression
    rng = np.random.default_rng(seed)
    n_units = y.shape[0] if group_index is None else int(group_index.max()) + 1
    for counts in _resample_counts(rng, n_units, n_boot):
        if group_index is not None:
            counts = counts[:, group_index]  # a row is drawn as often as its group
        for k, (rows, args) in enumerate(prepared):
            draws[k].append(np.vstack(score(counts[:, rows], *args)))  # (n_metrics, b)
    values = {names[t]: np.hstack(d) for t, d in zip(scored, draws)}  # task -> (n_metrics, n_boot)
    tail = 100 * (1 - ci_level) / 2
    out: dict[str, list[float]] = {}
    for name, matrix in values.items():
        for i, m in enumerate(metrics):
            interval = _percentile(matrix[i], tail)
            if interval is not None:
                out[f"{name}.{m}"] = interval
    for key, m in OVERALL_METRICS[task_type].items():
        if not values:
            break
        per_task = np.vstack([matrix[metrics.index(m)] for matrix in values.values()])  # (tasks, n_boot)
        defined = ~np.isnan(per_task)  # mean over the tasks defined in each resample
        means = np.where(defined.any(0), np.nansum(per_task, 0) / np.maximum(defined.sum(0), 1), np.nan)
        interval = _percentile(means, tail)
        if interval is not None:
            out[f"overall.{key}"] = interval
    return out


def _prepare_task(y: np.ndarray, s: np.ndarray, task_type: str) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Labelled row indices of one task and the arrays its weighted scorer needs (computed once per task)."""
    rows = np.flatnonzero(~np.isnan(y))
    if task_type == "regression":
        return rows, (y[rows], s[rows])
    order = np.argsort(-s[rows], kind="stable")
    rows, scores = rows[order], s[rows][order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # one threshold per distinct score
    return rows, (y[rows], last_of_tie)


def _resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> Iterator[np.ndarray]:
    """Blocks of (b, n) counts: how often each molecule is drawn in each of n_boot resamples of n rows."""
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        draw = rng.integers(0, n, size=(b, n))
        flat = (np.arange(b)[:, None] * n + draw).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


# Scoring every resample with scikit-learn costs ~2 ms of input validation per call (27 SIDER tasks x 200
# resamples > 10 s), so resamples are scored at once as count-weighted sums; tests check them against sklearn.
def _weighted_curves(w: np.ndarray, y: np.ndarray, last_of_tie: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _weighted_regression(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _percentile(values: np.ndarray, tail: float) -> list[float] | None:
    """[lo, hi] percentile interval over the defined values; None when fewer than two are defined."""
    values = values[~np.isnan(values)]
    if values.size < 2:
        return None
    return [float(v) for v in np.percentile(values, [tail, 100 - tail])]


def _mean(values: Sequence[float | int | None]) -> float | None:
    """Mean of the defined values, None when none is defined."""
    defined = [float(v) for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def _count(value: Any) -> str:
    """An integer cell for the text table ('-' when absent)."""
    return "-" if value is None else f"{int(value)}"


__all__ = ["MoleculeMetricReport", "evaluate_molecules", "headline_score"]
