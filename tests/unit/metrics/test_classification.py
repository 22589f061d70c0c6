"""Metrics: exact values on a hand-computed confusion matrix, group bootstrap, input validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medrnn.errors import ConfigError, ShapeError
from medrnn.metrics import MetricReport, confusion, evaluate, scores_from_confusion

NAMES = ["N", "S", "V"]
# rows true, columns predicted
CM = np.array([[50, 3, 2], [4, 10, 1], [1, 2, 27]])


def _labels_from(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand a confusion matrix into (y_true, y_pred) sample vectors."""
    pairs = [(i, j) for i in range(cm.shape[0]) for j in range(cm.shape[1]) for _ in range(cm[i, j])]
    y_true, y_pred = zip(*pairs)
    return np.array(y_true), np.array(y_pred)


def test_confusion_counts_rows_true_cols_pred():
    y_true, y_pred = _labels_from(CM)
    np.testing.assert_array_equal(confusion(y_true, y_pred, 3), CM)
    # an absent class still gets its row and column
    np.testing.assert_array_equal(confusion([0, 0], [0, 1], 4), [[1, 1, 0, 0], [0] * 4, [0] * 4, [0] * 4])


def test_scores_match_hand_computation():
    # N=100. Class S: TP=10, FN=5, FP=5, TN=80.  Class V: TP=27, FN=3, FP=3, TN=67.  Class N: TP=50, FN=5, FP=5, TN=40.
    s = scores_from_confusion(CM, NAMES)
    pc, ov = s["per_class"], s["overall"]
    assert pc["S"]["se"] == pytest.approx(10 / 15)
    assert pc["S"]["ppv"] == pytest.approx(10 / 15)
    assert pc["S"]["f1"] == pytest.approx(2 * 10 / (2 * 10 + 5 + 5))
    assert pc["S"]["spec"] == pytest.approx(80 / 85)
    assert pc["V"]["se"] == pytest.approx(27 / 30)
    assert pc["V"]["ppv"] == pytest.approx(27 / 30)
    assert pc["V"]["spec"] == pytest.approx(67 / 70)
    assert pc["N"]["spec"] == pytest.approx(40 / 45)
    assert [pc[n]["support"] for n in NAMES] == [55, 15, 30]
    assert ov["accuracy"] == pytest.approx(87 / 100)
    f1 = [100 / 110, 20 / 30, 54 / 60]
    assert ov["macro_f1"] == pytest.approx(sum(f1) / 3)
    # kappa = (po - pe) / (1 - pe); row sums 55, 15, 30; column sums 55, 15, 30
    po, pe = 0.87, (55 * 55 + 15 * 15 + 30 * 30) / 100**2
    kappa = (po - pe) / (1 - pe)
    assert ov["kappa"] == pytest.approx(kappa)
    j = 10 / 15 + 10 / 15 + 27 / 30 + 27 / 30
    assert ov["jkappa"] == pytest.approx(kappa / 2 + j / 8)


def test_asymmetric_se_and_ppv():
    cm = np.array([[8, 2], [0, 5]])  # class 1: TP 5, FP 2, FN 0
    pc = scores_from_confusion(cm, ["N", "S"], jkappa_classes=("S", "V"))
    assert pc["per_class"]["S"]["se"] == pytest.approx(1.0)
    assert pc["per_class"]["S"]["ppv"] == pytest.approx(5 / 7)
    assert pc["per_class"]["N"]["spec"] == pytest.approx(1.0)
    assert pc["overall"]["jkappa"] is None  # V is not a class


def test_macro_f1_skips_class_absent_from_truth_and_predictions():
    cm = np.zeros((4, 4), dtype=int)
    cm[:3, :3] = CM  # Q (index 3) never occurs, never predicted
    s = scores_from_confusion(cm, NAMES + ["Q"])
    assert s["overall"]["macro_f1"] == pytest.approx((100 / 110 + 20 / 30 + 54 / 60) / 3)
    assert s["per_class"]["Q"]["se"] == 0.0 and s["per_class"]["Q"]["support"] == 0


def test_kappa_undefined_when_single_class():
    s = scores_from_confusion(np.array([[5, 0], [0, 0]]), ["N", "S"])
    assert s["overall"]["kappa"] is None and s["overall"]["accuracy"] == 1.0


def _grouped_data(seed: int = 0):
    """10 records of 100 beats each; half are classified almost perfectly, half mostly wrongly."""
    rng = np.random.default_rng(seed)
    y_true, y_score, groups = [], [], []
    for g in range(10):
        y = rng.integers(0, 3, 100)
        correct = rng.random(100) < (0.97 if g % 2 == 0 else 0.35)
        pred = np.where(correct, y, (y + 1) % 3)
        score = rng.dirichlet(np.ones(3), 100) * 0.5
        score[np.arange(100), pred] += 0.5
        y_true.append(y), y_score.append(score), groups.append(np.full(100, f"rec{g:03d}"))
    return np.concatenate(y_true), np.concatenate(y_score), np.concatenate(groups)


def test_bootstrap_by_group_contains_point_and_is_deterministic():
    y_true, y_score, groups = _grouped_data()
    a = evaluate(y_true, y_score, NAMES, units=groups, n_boot=60, seed=3)
    b = evaluate(y_true, y_score, NAMES, units=groups, n_boot=60, seed=3)
    assert a.to_dict() == b.to_dict()
    assert a.unit == "groups" and a.n_units == 10 and a.n_samples == 1000 and a.output_kind == "multiclass"
    for name in NAMES:
        for m in ("se", "ppv", "f1", "spec", "auroc", "auprc"):
            lo, hi = a.ci[f"{name}.{m}"]
            assert lo <= a.per_label[name][m] <= hi, (name, m)
    for m in ("accuracy", "macro_f1", "kappa", "jkappa", "macro_auroc", "macro_auprc"):
        lo, hi = a.ci[f"overall.{m}"]
        assert lo <= a.overall[m] <= hi, m
    c = evaluate(y_true, y_score, NAMES, units=groups, n_boot=60, seed=4)
    assert c.ci["overall.accuracy"] != a.ci["overall.accuracy"]


def test_group_bootstrap_is_wider_than_sample_bootstrap():
    y_true, y_score, groups = _grouped_data()
    by_group = evaluate(y_true, y_score, NAMES, units=groups, n_boot=100)
    by_sample = evaluate(y_true, y_score, NAMES, n_boot=100)
    assert by_sample.unit == "samples" and by_sample.n_units == 1000
    width = lambda r: r.ci["overall.accuracy"][1] - r.ci["overall.accuracy"][0]  # noqa: E731
    assert width(by_group) > 2.5 * width(by_sample)


def test_point_estimates_and_auc_match_sklearn_on_samples():
    from sklearn.metrics import roc_auc_score

    y_true, y_score, _ = _grouped_data()
    r = evaluate(y_true, y_score, NAMES, n_boot=0)
    assert r.ci == {}
    assert r.per_label["S"]["auroc"] == pytest.approx(roc_auc_score(y_true == 1, y_score[:, 1]))
    np.testing.assert_array_equal(r.extras["confusion"], confusion(y_true, y_score.argmax(1), 3))


def test_absent_class_has_no_auc_and_report_round_trips():
    y_true, y_score, groups = _grouped_data()
    y_score = np.hstack([y_score, np.zeros((len(y_true), 1))])
    r = evaluate(y_true, y_score, NAMES + ["Q"], units=groups, n_boot=20)
    assert r.per_label["Q"]["auroc"] is None and r.ci["Q.auroc"] is None and r.ci["Q.se"] is None
    d = json.loads(json.dumps(r.to_dict()))
    assert MetricReport.from_dict(d) == r
    assert "Q" in r.table() and "jkappa" in r.table()


def test_explicit_y_pred_overrides_argmax():
    y_true, y_score, _ = _grouped_data()
    r = evaluate(y_true, y_score, NAMES, n_boot=0, y_pred=y_true)
    assert r.overall["accuracy"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"y_true": [0, 1, 2]}, ShapeError, "y_score has shape"),
        ({"y_score": np.full((4, 2), 0.5)}, ShapeError, "num_classes"),
        ({"y_true": [0, 1, 3, 0]}, ConfigError, "outside 0..2"),
        ({"y_true": [0, -1, 2, 0]}, ConfigError, "outside 0..2"),
        ({"y_true": [0.5, 1, 2, 0]}, ConfigError, "non-integer"),
        ({"y_score": np.array([[np.nan, 0.5, 0.5]] * 4)}, ConfigError, "NaN"),
        ({"units": ["a", "b"]}, ShapeError, "units"),
        ({"y_pred": [0, 1]}, ShapeError, "y_pred"),
        ({"ci_level": 95}, ConfigError, "between 0 and 1"),
        ({"n_boot": -1}, ConfigError, "n_boot"),
    ],
)
def test_bad_inputs_raise(kwargs, error, match):
    args = {"y_true": [0, 1, 2, 0], "y_score": np.full((4, 3), 1 / 3), "class_names": NAMES, "n_boot": 5}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        evaluate(**args)


def test_bad_confusion_inputs_raise():
    with pytest.raises(ShapeError):
        scores_from_confusion(np.ones((2, 3)), ["a", "b"])
    with pytest.raises(ConfigError):
        scores_from_confusion(np.zeros((2, 2)), ["a", "b"])
    with pytest.raises(ShapeError):
        confusion([0, 1], [0], 2)
    with pytest.raises(ConfigError):
        MetricReport.from_dict({"label_names": ["a"]})
