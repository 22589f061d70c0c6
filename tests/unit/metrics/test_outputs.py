"""Per-output metrics: missing labels, one-class outputs, sklearn agreement, seeded CIs over units, validation, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from medrnn.errors import ConfigError, InvalidRecordError, ShapeError
from medrnn.metrics import MetricReport, evaluate_outputs, headline_score
from medrnn.metrics.outputs import prepare_output, weighted_curves, weighted_regression


def _classification(n: int = 200, n_tasks: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Informative but imperfect scores for n_tasks binary tasks, with ~15% missing labels."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_tasks)) < 0.4).astype(float)
    score = np.clip(0.35 * y + 0.65 * rng.random((n, n_tasks)), 0, 1)
    y[rng.random((n, n_tasks)) < 0.15] = np.nan
    return y, score


def test_missing_labels_are_ignored():
    y, score = _classification(n=120, n_tasks=1)
    labelled = ~np.isnan(y[:, 0])
    expected_auroc = roc_auc_score(y[labelled, 0], score[labelled, 0])
    expected_auprc = average_precision_score(y[labelled, 0], score[labelled, 0])
    # Molecules behind missing labels get scores that would be perfect (or perfectly wrong) if counted.
    y_nan = np.vstack([y, np.full((40, 1), np.nan)])
    score_nan = np.vstack([score, np.r_[np.ones(20), np.zeros(20)][:, None]])
    report = evaluate_outputs(y_nan, score_nan, ["active"], "multilabel", n_boot=0)
    row = report.per_label["active"]
    assert row["auroc"] == pytest.approx(expected_auroc)
    assert row["auprc"] == pytest.approx(expected_auprc)
    assert row["n"] == int(labelled.sum()) and row["n_pos"] == int(np.nansum(y))
    assert report.n_samples == 160
    assert headline_score(y_nan, score_nan, "classification") == pytest.approx(expected_auroc)


def test_nan_rows_differ_per_task():
    y, score = _classification(n=150, n_tasks=3, seed=1)
    report = evaluate_outputs(y, score, ["a", "b", "c"], "multilabel", n_boot=0)
    for t, name in enumerate("abc"):
        keep = ~np.isnan(y[:, t])
        assert report.per_label[name]["auroc"] == pytest.approx(roc_auc_score(y[keep, t], score[keep, t]))
    mean = np.mean([report.per_label[n]["auroc"] for n in "abc"])
    assert report.overall["roc_auc"] == pytest.approx(mean)
    assert report.headline == "roc_auc" and report.headline_value == pytest.approx(mean)


def test_one_class_task_is_skipped_with_reason():
    y, score = _classification(n=60, n_tasks=2)
    y[:, 1] = np.where(np.isnan(y[:, 1]), np.nan, 0.0)
    report = evaluate_outputs(y, score, ["ok", "all_negative"], "multilabel", n_boot=50)
    n_lab = int((~np.isnan(y[:, 1])).sum())
    assert report.extras["skipped"] == {
        "all_negative": f"only one class (0) among {n_lab} labelled test samples: AUROC undefined"
    }
    assert report.per_label["all_negative"]["auroc"] is None
    assert report.overall["roc_auc"] == pytest.approx(report.per_label["ok"]["auroc"])
    assert "all_negative.auroc" not in report.ci and "ok.auroc" in report.ci
    assert headline_score(y, score, "classification") == pytest.approx(report.per_label["ok"]["auroc"])
    assert "skipped all_negative" in report.table()
    # no task scorable at all: NaN headline, not an exception
    assert np.isnan(headline_score(np.zeros((5, 1)), np.ones((5, 1)), "classification"))


def test_regression_metrics_equal_sklearn_in_original_units():
    rng = np.random.default_rng(3)
    y = rng.normal(-3.0, 2.0, (80, 2))  # e.g. log-solubility in log mol/L
    pred = y + rng.normal(0, 0.7, y.shape)
    y[::7, 1] = np.nan
    report = evaluate_outputs(y, pred, ["logS", "logP"], "regression", n_boot=0)
    for t, name in enumerate(["logS", "logP"]):
        keep = ~np.isnan(y[:, t])
        row = report.per_label[name]
        assert row["rmse"] == pytest.approx(root_mean_squared_error(y[keep, t], pred[keep, t]))
        assert row["mae"] == pytest.approx(mean_absolute_error(y[keep, t], pred[keep, t]))
        assert row["r2"] == pytest.approx(r2_score(y[keep, t], pred[keep, t]))
        assert row["n"] == int(keep.sum())
    mean_rmse = (report.per_label["logS"]["rmse"] + report.per_label["logP"]["rmse"]) / 2
    assert report.headline == "rmse" and report.headline_value == pytest.approx(mean_rmse)
    assert headline_score(y, pred, "regression") == pytest.approx(mean_rmse)


def test_weighted_resample_scores_equal_sklearn_on_resampled_rows():
    rng = np.random.default_rng(4)
    m = 90
    y = (rng.random(m) < 0.3).astype(float)
    y[rng.random(m) < 0.2] = np.nan
    score = np.round(rng.random(m), 1)  # ties, as sklearn handles them
    draws = rng.integers(0, m, (15, m))
    counts = np.stack([np.bincount(d, minlength=m) for d in draws]).astype(float)
    rows, args = prepare_output(y, score, "classification")
    auroc, auprc = weighted_curves(counts[:, rows], *args)
    for b, d in enumerate(draws):
        yd, sd = y[d], score[d]
        keep = ~np.isnan(yd)
        assert auroc[b] == pytest.approx(roc_auc_score(yd[keep], sd[keep]))
        assert auprc[b] == pytest.approx(average_precision_score(yd[keep], sd[keep]))
    target = rng.normal(size=m)
    pred = target + rng.normal(size=m)
    rmse, mae, r2 = weighted_regression(counts, target, pred)
    for b, d in enumerate(draws):
        assert rmse[b] == pytest.approx(root_mean_squared_error(target[d], pred[d]))
        assert mae[b] == pytest.approx(mean_absolute_error(target[d], pred[d]))
        assert r2[b] == pytest.approx(r2_score(target[d], pred[d]))


@pytest.mark.parametrize("task_type", ["multilabel", "regression"])
def test_cis_contain_point_estimate_and_are_seeded(task_type):
    if task_type == "multilabel":
        y, score = _classification(n=300, n_tasks=2, seed=5)
    else:
        rng = np.random.default_rng(5)
        y = rng.normal(size=(300, 2))
        score = y + rng.normal(0, 0.5, y.shape)
    a = evaluate_outputs(y, score, ["t1", "t2"], task_type, n_boot=300, seed=7)
    b = evaluate_outputs(y, score, ["t1", "t2"], task_type, n_boot=300, seed=7)
    c = evaluate_outputs(y, score, ["t1", "t2"], task_type, n_boot=300, seed=8)
    assert a.ci == b.ci and a.ci != c.ci
    for name in ("t1", "t2"):
        for metric, value in a.per_label[name].items():
            if metric in ("n", "n_pos"):
                continue
            lo, hi = a.ci[f"{name}.{metric}"]
            assert lo <= value <= hi and lo < hi, (name, metric)
    for key, value in a.overall.items():
        lo, hi = a.ci[f"overall.{key}"]
        assert lo <= value <= hi, key


def test_one_dimensional_input_is_one_task():
    y, score = _classification(n=50, n_tasks=1)
    report = evaluate_outputs(y[:, 0], score[:, 0], ["p_np"], "binary", n_boot=0)
    assert report.label_names == ["p_np"] and report.per_label["p_np"]["auroc"] is not None


def test_shape_and_value_errors():
    y, score = _classification(n=30, n_tasks=2)
    with pytest.raises(ShapeError, match=r"\(30, 2\).*\(30, 3\)"):
        evaluate_outputs(y, np.zeros((30, 3)), ["a", "b"], "multilabel")
    with pytest.raises(ShapeError, match="label_names has 3"):
        evaluate_outputs(y, score, ["a", "b", "c"], "multilabel")
    with pytest.raises(ShapeError):
        headline_score(y, score[:20], "classification")
    with pytest.raises(ConfigError, match="'classify'.*binary"):
        evaluate_outputs(y, score, ["a", "b"], "classify")
    bad = score.copy()
    bad[4, 1] = np.nan
    with pytest.raises(InvalidRecordError, match=r"column 1 \('b'\).*row 4"):
        evaluate_outputs(y, bad, ["a", "b"], "multilabel")
    y2 = y.copy()
    y2[0, 0] = 2.0
    with pytest.raises(InvalidRecordError, match=r"\[2.0\].*0, 1 or NaN"):
        evaluate_outputs(y2, score, ["a", "b"], "multilabel")
    with pytest.raises(ConfigError, match="unique"):
        evaluate_outputs(y, score, ["a", "a"], "multilabel")


def test_to_dict_from_dict_round_trip():
    y, score = _classification(n=80, n_tasks=2)
    y[:, 1] = np.where(np.isnan(y[:, 1]), np.nan, 1.0)
    report = evaluate_outputs(y, score, ["a", "b"], "multilabel", n_boot=40)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["per_label"]["b"]["auroc"] is None and "b" in data["extras"]["skipped"]
    assert type(data["per_label"]["a"]["n"]) is int
    back = MetricReport.from_dict(data)
    assert back == report
    assert back.table() == report.table()
    with pytest.raises(ConfigError, match="missing keys"):
        MetricReport.from_dict({"output_kind": "regression"})


def test_group_bootstrap_resamples_patients_whole():
    y, score = _classification(n=120, n_tasks=1, seed=3)
    y[np.isnan(y)] = 0.0
    own = evaluate_outputs(y, score, ["t"], "binary", n_boot=400, seed=1, units=np.arange(120))
    rows = evaluate_outputs(y, score, ["t"], "binary", n_boot=400, seed=1)
    assert own.ci == rows.ci and own.n_units == rows.n_units == 120 and own.unit == "groups" and rows.unit == "samples"
    # five identical samples per patient: a row bootstrap treats them as independent and narrows the interval
    y5, s5, patients = np.repeat(y, 5, axis=0), np.repeat(score, 5, axis=0), np.repeat(np.arange(120), 5)
    by_row = evaluate_outputs(y5, s5, ["t"], "binary", n_boot=400, seed=1).ci["overall.roc_auc"]
    by_patient = evaluate_outputs(y5, s5, ["t"], "binary", n_boot=400, seed=1, units=patients).ci["overall.roc_auc"]
    assert by_patient[1] - by_patient[0] > 1.7 * (by_row[1] - by_row[0])
    with pytest.raises(ShapeError, match="one unit id per sample"):
        evaluate_outputs(y, score, ["t"], "binary", n_boot=10, units=np.arange(7))
