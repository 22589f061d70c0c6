"""Multi-label medical coding metrics (CodiEsp, MIMIC): MAP, micro/macro F1, P@k, AUROC, frequency buckets, CIs.

MAP is CodiEsp-D's official metric; the F1 and P@k family follows CAML/LAAT, with macro F1 reported both the
corrected way of Edin et al. (2023) and the old CAML way so results compare with either literature. Documents
(or the units given, e.g. patients) are the bootstrap unit. Predicted positives are `scores >= threshold`, here and in `tune_threshold`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.metrics import multilabel_confusion_matrix, roc_auc_score

from medrnn.errors import ConfigError, ShapeError
from medrnn.metrics.bootstrap import check_options, percentile_interval, resample_counts, sum_by_unit, unit_index
from medrnn.metrics.bootstrap import to_number as _num
from medrnn.metrics.ranking import auroc_columns, average_precision_rows, precision_at_k
from medrnn.metrics.report import MetricReport

# (name, lowest, highest) training-set count of a label; None = no upper bound.
FREQUENCY_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0),
    ("1-2", 1, 2),
    ("3-10", 3, 10),
    ("11-50", 11, 50),
    (">50", 51, None),
)
# macro_f1 gets no CI: with many codes that have one or two test positives, document resampling inflates those codes'
# true positives and the percentile interval can miss the point estimate (measured: 0.036 outside [0.044, 0.047])
CI_METRICS = ("map", "micro_f1")


def tune_threshold(y_dev: np.ndarray, scores_dev: np.ndarray, grid: Sequence[float] | None = None) -> float:
    """One global threshold maximising micro-F1 on the development set (the CAML/LAAT/Edin et al. practice).

    Pass dev (validation) arrays only, never test: a threshold tuned on test inflates every thresholded
    metric. The caller owns the split; this function sees no test data by construction. Predicted
    positives are `scores >= threshold`; ties go to the lowest threshold on the grid.

    Parameters
    ----------
    y_dev : (n_docs, n_labels) 0/1 gold codes of the development set.
    scores_dev : same shape, predicted probabilities in [0, 1].
    grid : candidate thresholds; default 0.01, 0.02, ..., 0.99.
    """
    y, s = _check_arrays(y_dev, scores_dev, "y_dev", "scores_dev")
    thresholds = np.round(np.arange(1, 100) / 100, 2) if grid is None else np.asarray(grid, dtype=np.float64).ravel()
    if thresholds.size == 0 or not np.isfinite(thresholds).all():
        raise ConfigError(f"grid must hold at least one finite threshold, got {list(thresholds[:5])}")
    thresholds = np.unique(thresholds)
    positive = y.astype(bool)
    pos_scores, neg_scores = np.sort(s[positive]), np.sort(s[~positive])
    # count of scores >= t among gold positives and gold negatives, for every t at once
    tp = pos_scores.size - np.searchsorted(pos_scores, thresholds, side="left")
    fp = neg_scores.size - np.searchsorted(neg_scores, thresholds, side="left")
    fn = pos_scores.size - tp
    f1 = _f1(tp, fp, fn)
    if np.isnan(f1).all():
        raise ConfigError("y_dev has no gold code and no threshold predicts one; micro-F1 is undefined, nothing to tune")
    return float(thresholds[np.nanargmax(f1)])


def evaluate_codes(
    y_true: np.ndarray,
    scores: np.ndarray,
    label_names: Sequence[str],
    threshold: float,
    train_counts: np.ndarray | None = None,
    ks: Sequence[int] = (5, 8, 15),
    n_boot: int = 1000,
    seed: int = 0,
    gold_counts: np.ndarray | None = None,
    units: Sequence[Any] | np.ndarray | None = None,
    unit: str = "documents",
    ci_level: float = 0.95,
) -> MetricReport:
    """Score multi-label code predictions: MAP, P@k, micro/macro F1 at `threshold`, AUROC, frequency buckets.

    MAP (CodiEsp-D's official metric) is the mean over documents with at least one gold code of the
    average precision of the document's full code ranking by score: AP = (1/|gold|) * sum over gold codes
    of precision at that code's rank. Documents without a gold code are left out of MAP and P@k (AP is
    undefined there), as the official script does: it averages over documents present in the gold file.
    It ranks the submitted list (top 1000 codes, in file order); we rank all labels by score, which is
    the same list when the whole ranking is submitted, except that (i) tied scores form one block at the
    lowest rank (scikit-learn's tie rule) and (ii) gold codes ranked below 1000 still count (< 0.001 each).
    scikit-learn's label_ranking_average_precision_score is this per-document AP, ties included, but it
    scores a document without gold codes as 1 and averages over all documents, so it inflates MAP
    whenever such documents exist; it also gives no per-document values to resample.

    macro_f1 (corrected, Edin et al. 2023, as their released code computes it): mean over labels with at
    least one gold positive in y_true of per-label F1 = 2TP / (2TP + FP + FN). Labels absent from the test
    set are left out whether predicted or not (their false positives still lower micro-F1).
    macro_f1_caml (old, CAML/LAAT code): 2PR / (P + R) of P = mean per-label precision and R = mean
    per-label recall over all labels, 0/0 counted as 0. It mixes labels and undercounts; report it only to
    compare with papers that used it.

    Parameters
    ----------
    y_true : (n_docs, n_labels) 0/1 gold codes.
    scores : same shape, predicted probabilities in [0, 1].
    threshold : decision threshold, tuned on dev with `tune_threshold` (never on this test set).
    train_counts : (n_labels,) training-set count of each label; enables the frequency buckets.
    ks : cut-offs for P@k = (gold codes among the k top-scored) / k, averaged like MAP.
    gold_counts : (n_docs,) number of gold codes of each document *including* codes outside the label set (codes
        never seen in training). Adds `map_all_gold`: MAP as the official CodiEsp script scores a system that can
        only rank its own labels, i.e. every unrepresentable gold code is a miss (AP divides by all gold codes,
        and a document whose gold codes are all unseen scores 0). This is the figure comparable with the
        published CodiEsp-D results; `map` covers the representable codes only.
    n_boot : bootstrap resamples of the units for CIs of map and micro_f1; 0 skips them. macro_f1 has none:
        its resampled values sit off-centre when many codes have one or two test positives (see `_bootstrap`).
    units : (n_docs,) unit of each document (e.g. the patient); None = each document is its own unit.
    unit : what a unit is, in words, for the report.

    Returns a MetricReport (output_kind "multilabel", headline "map", per_label empty); extras hold threshold, ks,
    the frequency buckets ({} without train_counts), n_docs_with_codes, n_labels_in_test, n_auroc_skipped and notes.
    """
    y, s = _check_arrays(y_true, scores, "y_true", "scores")
    n_docs, n_labels = y.shape
    names = [str(n) for n in label_names]
    if len(names) != n_labels:
        raise ShapeError(f"label_names has {len(names)} entries but y_true has {n_labels} label columns")
    if len(set(names)) != n_labels:
        dupes = sorted({n for n in names if names.count(n) > 1})[:5]
        raise ConfigError(f"label_names must be unique; {dupes} occur more than once")
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold={threshold} must lie in [0, 1] (scores are probabilities); tune it with tune_threshold")
    ks = [int(k) for k in ks]
    if any(k < 1 for k in ks):
        raise ConfigError(f"ks={ks} must be positive integers (e.g. (5, 8, 15))")
    check_options(n_boot, ci_level)
    index, n_units = unit_index(units, n_docs)
    counts = _check_train_counts(train_counts, n_labels)

    pred = s >= threshold
    mcm = multilabel_confusion_matrix(y, pred.astype(np.int8))  # (n_labels, 2, 2): [[tn, fp], [fn, tp]]
    tp, fp, fn = mcm[:, 1, 1], mcm[:, 0, 1], mcm[:, 1, 0]
    present = tp + fn > 0
    with_codes = y.any(axis=1)
    ap = average_precision_rows(y[with_codes], s[with_codes])

    overall: dict[str, float | None] = {"map": _mean(ap)}
    if gold_counts is not None:
        overall["map_all_gold"] = _map_all_gold(y, ap, with_codes, gold_counts)
    for k, values in zip(ks, precision_at_k(y[with_codes], s[with_codes], ks)):
        overall[f"p@{k}"] = _mean(values)
    overall["micro_f1"] = _num(_f1(tp.sum(), fp.sum(), fn.sum()))
    overall["micro_precision"] = _num(_ratio(tp.sum(), tp.sum() + fp.sum()))
    overall["micro_recall"] = _num(_ratio(tp.sum(), tp.sum() + fn.sum()))
    overall["macro_f1"] = _mean(_f1(tp[present], fp[present], fn[present]))
    precision = np.divide(tp, tp + fp, out=np.zeros(n_labels), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(n_labels), where=tp + fn > 0)
    p_mean, r_mean = precision.mean(), recall.mean()
    overall["macro_f1_caml"] = 0.0 if p_mean + r_mean == 0 else float(2 * p_mean * r_mean / (p_mean + r_mean))
    both = present & (tp + fn < n_docs)
    overall["micro_auroc"] = float(roc_auc_score(y.ravel(), s.ravel())) if 0 < y.sum() < y.size else None
    overall["macro_auroc"] = _mean(auroc_columns(y[:, both], s[:, both]))

    buckets: dict[str, dict[str, float | int | None]] = {}
    if counts is not None:
        for name, low, high in FREQUENCY_BUCKETS:
            member = (counts >= low) & (counts <= (np.inf if high is None else high))
            in_test = member & present
            buckets[name] = {
                "n_labels": int(member.sum()),
                "n_labels_in_test": int(in_test.sum()),
                "micro_f1": _num(_f1(tp[member].sum(), fp[member].sum(), fn[member].sum())),
                "macro_f1": _mean(_f1(tp[in_test], fp[in_test], fn[in_test])),
            }

    ci = _bootstrap(y, pred, with_codes, ap, present, int(n_boot), seed, ci_level, index, n_units) if n_boot > 0 else {}
    n_with, n_present, n_skipped = int(with_codes.sum()), int(present.sum()), int(n_labels - both.sum())
    notes = [
        f"threshold {threshold:.3f}; {n_docs} documents, {n_with} with a gold code (MAP and P@k average over these)",
        f"macro_f1: mean per-label F1 over the {n_present} labels present in the test set (Edin et al. 2023); "
        f"macro_f1_caml: F1 of macro precision and macro recall over all {n_labels} labels (CAML/LAAT code)",
        f"macro_auroc: {n_labels - n_skipped} labels with both classes in the test set, {n_skipped} skipped",
    ]
    return MetricReport(
        output_kind="multilabel",
        label_names=names,
        per_label={},
        overall=overall,
        ci=ci,
        headline="map",
        n_samples=int(n_docs),
        n_units=n_units,
        unit=unit,
        n_boot=int(n_boot),
        ci_level=float(ci_level),
        extras={"threshold": threshold, "ks": ks, "buckets": buckets, "n_docs_with_codes": n_with,
                "n_labels_in_test": n_present, "n_auroc_skipped": n_skipped, "notes": notes},  # fmt: skip
    )


def _bootstrap(
    y: np.ndarray, pred: np.ndarray, with_codes: np.ndarray, ap: np.ndarray, present: np.ndarray, n_boot: int, seed: int,
    ci_level: float, index: np.ndarray, n_units: int,
) -> dict[str, list[float] | None]:
    """Percentile CIs of map and micro_f1 from resampling units (documents) with replacement (macro_f1: none, see below).

    A resample is a vector of per-unit draw counts, so its TP/FP/FN totals and AP sums are count-weighted sums of
    per-unit sums of per-document values: one product per block of resamples instead of a pass per resample.
    A label enters a resample's macro_f1 only if one of its gold positives was drawn (Edin et al.'s rule).
    Caveat: a code with one test positive enters only when that document is drawn, then on average 1.6 times,
    so its resampled TP count is inflated; with many such codes the macro_f1 resamples sit off-centre (above
    the point estimate when false positives dominate, below when misses do) and the interval may not
    contain the point estimate. map and micro_f1 are document means/ratios and do not suffer from this.
    """
    cols = np.flatnonzero(present | pred.any(axis=0))  # other labels add nothing to any of the three metrics
    yb, pb = y[:, cols].astype(bool), pred[:, cols]
    per_label = {  # (n_docs, n_cols) sparse 0/1 indicators
        "tp": sparse.csr_matrix(yb & pb, dtype=np.float64),
        "fp": sparse.csr_matrix(~yb & pb, dtype=np.float64),
        "fn": sparse.csr_matrix(yb & ~pb, dtype=np.float64),
    }
    per_unit = {k: sum_by_unit(np.asarray(m.sum(axis=1)).ravel(), index, n_units) for k, m in per_label.items()}
    ap_full = np.zeros(y.shape[0])
    ap_full[with_codes] = ap
    ap_unit, scored_unit = sum_by_unit(ap_full, index, n_units), sum_by_unit(with_codes, index, n_units)
    draws: dict[str, list[np.ndarray]] = {m: [] for m in CI_METRICS}
    for w in resample_counts(np.random.default_rng(seed), n_units, n_boot):  # (b, n_units)
        scored = w @ scored_unit
        with np.errstate(invalid="ignore", divide="ignore"):
            draws["map"].append(np.where(scored > 0, (w @ ap_unit) / scored, np.nan))
        draws["micro_f1"].append(_f1(w @ per_unit["tp"], w @ per_unit["fp"], w @ per_unit["fn"]))
    return {f"overall.{metric}": percentile_interval(np.concatenate(parts), ci_level) for metric, parts in draws.items()}


def _map_all_gold(y: np.ndarray, ap: np.ndarray, with_codes: np.ndarray, gold_counts: Any) -> float | None:
    """MAP over documents with any gold code, unseen codes counted as never retrieved (see `evaluate_codes`)."""
    total = np.asarray(gold_counts, dtype=np.float64)
    if total.shape != (y.shape[0],):
        raise ShapeError(f"gold_counts has shape {total.shape}; one count per document expected ({y.shape[0]},)")
    in_set = y.sum(axis=1)
    if (total < in_set).any():
        row = int(np.flatnonzero(total < in_set)[0])
        raise ConfigError(f"gold_counts[{row}]={total[row]:.0f} is below the document's {in_set[row]:.0f} gold labels in y_true")
    scored = np.zeros(y.shape[0])
    scored[with_codes] = ap * in_set[with_codes] / total[with_codes]  # AP over all gold = AP over labels * share representable
    return _mean(scored[total > 0])


def _f1(tp: Any, fp: Any, fn: Any) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN), elementwise; NaN where there is neither a gold nor a predicted positive."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.full(np.broadcast(tp, denom).shape, np.nan), where=denom > 0)


def _ratio(num: Any, den: Any) -> float:
    """num / den, NaN when den is 0."""
    return float(num) / float(den) if den > 0 else float("nan")


def _check_arrays(y: Any, s: Any, y_name: str, s_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (n_docs, n_labels) 0/1 gold matrix and a same-shape probability matrix."""
    y_arr, s_arr = np.asarray(y), np.asarray(s, dtype=np.float64)
    if y_arr.ndim != 2 or s_arr.shape != y_arr.shape:
        raise ShapeError(
            f"{y_name} has shape {y_arr.shape} and {s_name} {s_arr.shape}; expected the same (n_docs, n_labels) shape for both"
        )
    if y_arr.size == 0:
        raise ShapeError(f"{y_name} has shape {y_arr.shape}; need at least one document and one label")
    if not np.isin(y_arr, (0, 1)).all():
        odd = np.unique(y_arr[~np.isin(y_arr, (0, 1))])[:5].tolist()
        raise ConfigError(f"{y_name} holds values {odd}; expected a 0/1 multi-hot matrix of gold codes")
    bad = ~np.isfinite(s_arr)
    if bad.any():
        raise ConfigError(f"{s_name} holds {int(bad.sum())} NaN/inf values; check the model outputs")
    if s_arr.min() < 0 or s_arr.max() > 1:
        raise ConfigError(
            f"{s_name} spans [{s_arr.min():.3g}, {s_arr.max():.3g}], expected probabilities in [0, 1]; apply a sigmoid to logits"
        )
    return y_arr.astype(np.int8), s_arr


def _check_train_counts(train_counts: Any, n_labels: int) -> np.ndarray | None:
    """Validate per-label training counts: (n_labels,) non-negative integers, or None."""
    if train_counts is None:
        return None
    counts = np.asarray(train_counts)
    if counts.shape != (n_labels,):
        raise ShapeError(f"train_counts has shape {counts.shape}, expected ({n_labels},): one training count per label")
    if not np.isfinite(counts).all() or (counts < 0).any() or not np.all(counts == np.round(counts)):
        raise ConfigError("train_counts must hold non-negative integer counts (how often each label occurs in training)")
    return counts.astype(np.int64)


def _mean(values: np.ndarray) -> float | None:
    """Mean of the defined (non-NaN) values, None when none is defined."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else None


__all__ = ["FREQUENCY_BUCKETS", "evaluate_codes", "tune_threshold"]
