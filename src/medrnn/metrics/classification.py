"""Multiclass metrics with bootstrap CIs over units (records): Se, +P, F1, Spec, kappa, jkappa, AUROC, AUPRC.

Conventions follow the ECG literature (AAMI EC57): Se = recall, +P = precision (positive
predictivity), Spec = TN / (TN + FP), all one-vs-rest per class. scikit-learn does the arithmetic.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    cohen_kappa_score,
    confusion_matrix,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from medrnn.errors import ConfigError, ShapeError
from medrnn.metrics.bootstrap import check_options, percentile_interval, resample_counts, unit_index
from medrnn.metrics.bootstrap import to_number as _num
from medrnn.metrics.report import MetricReport, format_estimate

CLASS_METRICS = ("se", "ppv", "f1", "spec", "auroc", "auprc")
OVERALL_METRICS = ("accuracy", "macro_f1", "kappa", "jkappa", "macro_auroc", "macro_auprc")
# AUROC/AUPRC sort all scores on every resample; 200 resamples keep a 50k-beat test set to seconds.
MAX_CURVE_BOOT = 200


def confusion(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """Confusion matrix (num_classes, num_classes): rows true, columns predicted, labels 0..num_classes-1."""
    y_true = _labels(y_true, "y_true", num_classes)
    y_pred = _labels(y_pred, "y_pred", num_classes)
    if len(y_true) != len(y_pred):
        raise ShapeError(
            f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; pass one prediction per sample"
        )
    return confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))


def scores_from_confusion(
    cm: Any, class_names: Sequence[str], jkappa_classes: Sequence[str] = ("S", "V")
) -> dict[str, Any]:
    """Per-class se/ppv/f1/spec/support and overall accuracy/macro_f1/kappa/jkappa from a confusion matrix.

    Returns {"per_class": {name: {...}}, "overall": {...}}; undefined values (kappa when only one
    class occurs, jkappa when a jkappa class is not in `class_names`) are None. Per-class values with a
    zero denominator are 0 (scikit-learn's zero_division=0). macro_f1 averages only the classes that
    occur in y_true or y_pred, so a class absent from the test set (e.g. AAMI Q) does not add a 0.
    """
    names = [str(n) for n in class_names]
    arr = _scores_arrays(_check_cm(cm, len(names)), _jkappa_index(names, jkappa_classes))
    per_class = {
        name: {
            "se": float(arr["se"][k]),
            "ppv": float(arr["ppv"][k]),
            "f1": float(arr["f1"][k]),
            "spec": float(arr["spec"][k]),
            "support": int(arr["support"][k]),
        }
        for k, name in enumerate(names)
    }
    overall = {m: _num(arr[m]) for m in ("accuracy", "macro_f1", "kappa", "jkappa")}
    return {"per_class": per_class, "overall": overall}


def evaluate(
    y_true: Any,
    y_score: Any,
    class_names: Sequence[str],
    units: Any = None,
    unit: str | None = None,
    n_boot: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    y_pred: Any = None,
    jkappa_classes: Sequence[str] = ("S", "V"),
    headline: str = "macro_f1",
) -> MetricReport:
    """Score multiclass predictions with percentile bootstrap CIs that resample whole units (records, patients).

    Parameters
    ----------
    y_true : (n,) int labels in 0..C-1.
    y_score : (n, C) class probabilities (any monotone score works for AUROC/AUPRC).
    units : (n,) unit id per sample (record or patient: the split unit); None resamples samples, which
        understates the CI width when samples of one record are correlated (beats are).
    unit : what a unit is, in words, for the report ("records"); default "samples" or "groups".
    n_boot : resamples for confusion-derived metrics; AUROC/AUPRC use min(n_boot, 200). 0 = no CIs.
    y_pred : (n,) predicted labels; default argmax of y_score.
    headline : the key of `overall` the task is ranked by.
    """
    names = [str(n) for n in class_names]
    num_classes = len(names)
    if num_classes < 2:
        raise ConfigError(f"class_names has {num_classes} entries; need at least 2 classes")
    check_options(n_boot, ci_level)
    y_true = _labels(y_true, "y_true", num_classes)
    n = len(y_true)
    if n == 0:
        raise ShapeError("y_true is empty; nothing to evaluate")
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_score.shape != (n, num_classes):
        raise ShapeError(
            f"y_score has shape {y_score.shape}, expected (n_samples, num_classes) = ({n}, {num_classes}) "
            f"to match y_true and class_names {names}"
        )
    if not np.isfinite(y_score).all():
        raise ConfigError(f"y_score holds {int((~np.isfinite(y_score)).sum())} NaN/inf values; check the model outputs")
    y_pred = y_score.argmax(axis=1) if y_pred is None else _labels(y_pred, "y_pred", num_classes)
    if len(y_pred) != n:
        raise ShapeError(f"y_pred has {len(y_pred)} labels but y_true has {n}")
    index, num_units = unit_index(units, n)

    jk = _jkappa_index(names, jkappa_classes)
    cm = confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))
    point = _scores_arrays(cm, jk)
    auroc, auprc = _curve_scores(y_true, y_score)
    per_class = {
        name: {
            "se": _num(point["se"][k]),
            "ppv": _num(point["ppv"][k]),
            "f1": _num(point["f1"][k]),
            "spec": _num(point["spec"][k]),
            "auroc": _num(auroc[k]),
            "auprc": _num(auprc[k]),
            "support": int(cm[k].sum()),
        }
        for k, name in enumerate(names)
    }
    overall = {m: _num(point[m]) for m in ("accuracy", "macro_f1", "kappa", "jkappa")}
    overall["macro_auroc"] = _nanmean(auroc)
    overall["macro_auprc"] = _nanmean(auprc)
    intervals = _bootstrap(y_true, y_pred, y_score, index, num_units, names, jk, int(n_boot), ci_level, seed) if n_boot > 0 else {}
    return MetricReport(
        output_kind="multiclass",
        label_names=names,
        per_label=per_class,
        overall=overall,
        ci=intervals,
        headline=headline,
        n_samples=n,
        n_units=num_units,
        unit=unit or ("samples" if units is None else "groups"),
        n_boot=int(n_boot),
        ci_level=float(ci_level),
        extras={"confusion": cm.astype(int).tolist()},
    )


def _bootstrap(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray,
    index: np.ndarray,
    num_units: int,
    names: list[str],
    jk: list[int] | None,
    n_boot: int,
    ci_level: float,
    seed: int,
) -> dict[str, list[float] | None]:
    """Percentile CIs from resampling units with replacement; a resample's confusion matrix is a count-weighted
    sum of per-unit matrices, so confusion-derived metrics cost no pass over the samples."""
    c = len(names)
    cell = index * c * c + y_true * c + y_pred
    cm_units = np.bincount(cell, minlength=num_units * c * c).reshape(num_units, c * c)
    sample_range = np.arange(len(y_true))
    draws: dict[str, list[float]] = defaultdict(list)
    done = 0
    for block in resample_counts(np.random.default_rng(seed), num_units, n_boot):
        for counts, cm_flat in zip(block, block @ cm_units):
            cm_b = cm_flat.reshape(c, c)
            s = _scores_arrays(cm_b, jk)
            # A class absent from a resample has no Se (no positives) or +P (no predictions): leave it out of
            # that resample instead of counting a 0, so rare classes (F, Q) do not get a CI dragged to 0.
            support, predicted, total = cm_b.sum(axis=1), cm_b.sum(axis=0), cm_b.sum()
            defined = {
                "se": support > 0,
                "ppv": predicted > 0,
                "f1": (support > 0) | (predicted > 0),
                "spec": total - support > 0,
            }
            for key, ok in defined.items():
                for k, name in enumerate(names):
                    draws[f"{name}.{key}"].append(float(s[key][k]) if ok[k] else np.nan)
            for key in ("accuracy", "macro_f1", "kappa", "jkappa"):
                draws[f"overall.{key}"].append(s[key])
            if done < MAX_CURVE_BOOT:
                # the curves need the resampled samples themselves (sorted by score); their order does not matter
                idx = np.repeat(sample_range, counts.astype(np.int64)[index])
                auroc, auprc = _curve_scores(y_true[idx], y_score[idx])
                for k, name in enumerate(names):
                    draws[f"{name}.auroc"].append(auroc[k])
                    draws[f"{name}.auprc"].append(auprc[k])
                draws["overall.macro_auroc"].append(np.nan if np.isnan(auroc).all() else float(np.nanmean(auroc)))
                draws["overall.macro_auprc"].append(np.nan if np.isnan(auprc).all() else float(np.nanmean(auprc)))
            done += 1
    keys = [f"{name}.{m}" for name in names for m in CLASS_METRICS] + [f"overall.{m}" for m in OVERALL_METRICS]
    return {key: percentile_interval(draws[key], ci_level) for key in keys}


def _scores_arrays(cm: np.ndarray, jk: list[int] | None) -> dict[str, Any]:
    """scikit-learn metrics on the confusion matrix expanded into its cells, weighted by the counts."""
    c = cm.shape[0]
    labels = np.arange(c)
    y_true, y_pred, weight = np.repeat(labels, c), np.tile(labels, c), cm.ravel().astype(np.float64)
    keep = weight > 0
    y_true, y_pred, weight = y_true[keep], y_pred[keep], weight[keep]
    ppv, se, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, sample_weight=weight, zero_division=0
    )
    mcm = multilabel_confusion_matrix(y_true, y_pred, labels=labels, sample_weight=weight)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    spec = np.divide(tn, tn + fp, out=np.zeros(c), where=(tn + fp) > 0)
    with warnings.catch_warnings():  # kappa is undefined (NaN) when only one class occurs
        warnings.simplefilter("ignore")
        kappa = float(cohen_kappa_score(y_true, y_pred, labels=labels, sample_weight=weight))
    accuracy = float(accuracy_score(y_true, y_pred, sample_weight=weight))
    active = (cm.sum(axis=1) > 0) | (cm.sum(axis=0) > 0)
    macro_f1 = float(f1[active].mean())
    jkappa = np.nan
    if jk is not None:
        # Mondejar-Guerra et al. 2019: j = Se_S + +P_S + Se_V + +P_V in [0, 4]; jkappa = kappa/2 + j/8.
        j = float(se[jk].sum() + ppv[jk].sum())
        jkappa = kappa / 2 + j / (4 * len(jk))
    return {
        "se": se, "ppv": ppv, "f1": f1, "spec": spec, "support": cm.sum(axis=1),
        "accuracy": accuracy, "macro_f1": macro_f1, "kappa": kappa, "jkappa": jkappa,
    }  # fmt: skip


def _curve_scores(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest AUROC and AUPRC per class; NaN where a class is absent (or the only class present)."""
    c = y_score.shape[1]
    auroc, auprc = np.full(c, np.nan), np.full(c, np.nan)
    for k in range(c):
        positive = y_true == k
        if positive.any() and not positive.all():
            auroc[k] = roc_auc_score(positive, y_score[:, k])
            auprc[k] = average_precision_score(positive, y_score[:, k])
    return auroc, auprc


def _labels(y: Any, name: str, num_classes: int) -> np.ndarray:
    """Validate a 1-D vector of integer labels in 0..num_classes-1."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ShapeError(f"{name} has shape {arr.shape}, expected a 1-D vector of class indices")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ConfigError(
                f"{name} has dtype {arr.dtype} with non-integer values; expected class indices 0..{num_classes - 1}"
            )
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= num_classes)
    if bad.any():
        raise ConfigError(
            f"{name} holds {int(bad.sum())} labels outside 0..{num_classes - 1} (e.g. {int(arr[bad][0])}); "
            f"map labels to class indices first"
        )
    return arr


def _check_cm(cm: Any, num_classes: int) -> np.ndarray:
    """Validate a square, non-negative, non-empty confusion matrix matching the class names."""
    arr = np.asarray(cm)
    if arr.shape != (num_classes, num_classes):
        raise ShapeError(
            f"confusion matrix has shape {arr.shape}, expected ({num_classes}, {num_classes}) for the class names"
        )
    if (arr < 0).any() or arr.sum() == 0:
        raise ConfigError("confusion matrix must hold non-negative counts and at least one sample")
    return arr


def _jkappa_index(names: list[str], jkappa_classes: Sequence[str]) -> list[int] | None:
    """Indices of the jkappa classes, or None when one of them is not among the class names."""
    if not jkappa_classes or any(c not in names for c in jkappa_classes):
        return None
    return [names.index(c) for c in jkappa_classes]


def _nanmean(x: np.ndarray) -> float | None:
    """Mean over defined entries, None when none is defined."""
    return None if np.isnan(x).all() else float(np.nanmean(x))


__all__ = ["CLASS_METRICS", "OVERALL_METRICS", "confusion", "evaluate", "format_estimate", "scores_from_confusion"]
