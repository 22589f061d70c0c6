"""Multi-label coding metrics: hand-computed MAP, P@k and both macro-F1s, threshold tuning, buckets, CIs, round trip."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    label_ranking_average_precision_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from medrnn.errors import ConfigError, ShapeError
from medrnn.metrics import MetricReport
from medrnn.metrics.codes import evaluate_codes, tune_threshold
from medrnn.metrics.ranking import auroc_columns, average_precision_rows

NAMES5 = ["a", "b", "c", "d", "e"]
# Document A ranks a > b > c > d > e with gold {a, c}: AP = (1/1 + 2/3) / 2 = 5/6.
# Document B ranks b > d > c > e > a with gold {e} (rank 4): AP = 1/4.
# Document C has no gold code: left out of MAP and P@k.
Y_MAP = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])
S_MAP = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.9, 0.3, 0.8, 0.2], [0.5, 0.4, 0.3, 0.2, 0.1]])

# Four labels over four documents, predicted where the score is 0.9 (threshold 0.5):
#   L0 gold {0, 1}, predicted {0, 1}:       TP 2, FP 0, FN 0 -> P 1,    R 1, F1 1
#   L1 gold {0},    predicted {0, 1, 2, 3}: TP 1, FP 3, FN 0 -> P 1/4,  R 1, F1 2/5
#   L2 gold {2, 3}, predicted none:         TP 0, FP 0, FN 2 -> P 0/0,  R 0, F1 0
#   L3 gold none,   predicted {1}:          TP 0, FP 1, FN 0 -> absent from the test set
Y_F1 = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]])
PRED_F1 = np.array([[1, 1, 0, 0], [1, 1, 0, 1], [0, 1, 0, 0], [0, 1, 0, 0]])
S_F1 = np.where(PRED_F1 == 1, 0.9, 0.1)
NAMES4 = ["L0", "L1", "L2", "L3"]


def test_map_matches_hand_computed_two_document_example():
    report = evaluate_codes(Y_MAP, S_MAP, NAMES5, threshold=0.5, ks=(2, 3, 9), n_boot=0)
    assert report.overall["map"] == pytest.approx((5 / 6 + 1 / 4) / 2)
    assert report.headline == "map" and report.headline_value == pytest.approx(13 / 24)
    assert report.n_samples == report.n_units == 3 and report.extras["n_docs_with_codes"] == 2
    # P@2: A's top 2 {a, b} hold 1 gold code, B's {b, d} none; P@3: A's {a, b, c} hold 2, B's {b, d, c} none.
    assert report.overall["p@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert report.overall["p@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert report.overall["p@9"] == pytest.approx((2 / 5 + 1 / 5) / 2)  # k beyond the 5 labels: all of them


def test_map_is_per_document_ap_and_differs_from_lrap_only_on_documents_without_codes():
    with_codes = Y_MAP.any(axis=1)
    per_doc = [average_precision_score(Y_MAP[i], S_MAP[i]) for i in np.flatnonzero(with_codes)]
    report = evaluate_codes(Y_MAP, S_MAP, NAMES5, threshold=0.5, n_boot=0)
    assert report.overall["map"] == pytest.approx(np.mean(per_doc))
    # sklearn's LRAP is the same number on documents with codes but scores the code-less document C as 1.
    assert label_ranking_average_precision_score(Y_MAP[with_codes], S_MAP[with_codes]) == pytest.approx(13 / 24)
    assert label_ranking_average_precision_score(Y_MAP, S_MAP) == pytest.approx((5 / 6 + 1 / 4 + 1) / 3)


def test_vectorised_ap_and_auroc_agree_with_sklearn_including_ties():
    rng = np.random.default_rng(0)
    y = (rng.random((40, 25)) < 0.2).astype(int)
    y[:, 0], y[0, 1] = 1, 0  # keep every row with a gold code below, and column 0 all-positive
    s = np.round(rng.random((40, 25)), 1)  # coarse scores: many ties
    rows = y.any(axis=1)
    expected_ap = [average_precision_score(y[i], s[i]) for i in np.flatnonzero(rows)]
    np.testing.assert_allclose(average_precision_rows(y[rows], s[rows]), expected_ap)
    both = (y.sum(0) > 0) & (y.sum(0) < y.shape[0])
    expected_auc = [roc_auc_score(y[:, j], s[:, j]) for j in np.flatnonzero(both)]
    np.testing.assert_allclose(auroc_columns(y[:, both], s[:, both]), expected_auc)
    report = evaluate_codes(y, s, [f"c{j}" for j in range(25)], threshold=0.5, n_boot=0)
    assert report.overall["macro_auroc"] == pytest.approx(np.mean(expected_auc))
    assert report.overall["micro_auroc"] == pytest.approx(roc_auc_score(y.ravel(), s.ravel()))
    assert report.extras["n_auroc_skipped"] == 25 - int(both.sum())


def test_micro_and_both_macro_f1_on_hand_computed_case():
    report = evaluate_codes(Y_F1, S_F1, NAMES4, threshold=0.5, n_boot=0)
    o = report.overall
    # micro: TP 3, FP 4, FN 2
    assert o["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 4 + 2))
    assert o["micro_precision"] == pytest.approx(3 / 7) and o["micro_recall"] == pytest.approx(3 / 5)
    # corrected (Edin et al.): mean F1 over the three labels present in the test set
    assert o["macro_f1"] == pytest.approx((1 + 2 / 5 + 0) / 3)
    assert o["macro_f1"] == pytest.approx(f1_score(Y_F1, PRED_F1, labels=[0, 1, 2], average="macro", zero_division=0))
    # old CAML way: F1 of mean precision (1 + 1/4 + 0 + 0) / 4 and mean recall (1 + 1 + 0 + 0) / 4 over all labels
    p, r = 1.25 / 4, 2 / 4
    assert o["macro_f1_caml"] == pytest.approx(2 * p * r / (p + r))
    assert o["macro_f1_caml"] != pytest.approx(o["macro_f1"])
    assert o["micro_f1"] == pytest.approx(f1_score(Y_F1, PRED_F1, average="micro"))
    assert o["micro_precision"] == pytest.approx(precision_score(Y_F1, PRED_F1, average="micro"))
    assert o["micro_recall"] == pytest.approx(recall_score(Y_F1, PRED_F1, average="micro"))
    assert report.extras["n_labels_in_test"] == 3


def test_frequency_buckets_count_labels_and_score_them():
    report = evaluate_codes(Y_F1, S_F1, NAMES4, threshold=0.5, train_counts=[1, 2, 5, 100], n_boot=0)
    b = report.extras["buckets"]
    assert list(b) == ["0", "1-2", "3-10", "11-50", ">50"]
    assert [b[k]["n_labels"] for k in b] == [0, 2, 1, 0, 1]
    assert [b[k]["n_labels_in_test"] for k in b] == [0, 2, 1, 0, 0]
    assert b["1-2"]["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 3 + 0))  # L0 + L1: TP 3, FP 3, FN 0
    assert b["1-2"]["macro_f1"] == pytest.approx((1 + 2 / 5) / 2)
    assert b["3-10"]["micro_f1"] == 0.0 and b["3-10"]["macro_f1"] == 0.0
    assert b["0"]["micro_f1"] is None and b["0"]["macro_f1"] is None  # empty bucket: undefined, not 0
    assert b[">50"]["micro_f1"] == 0.0 and b[">50"]["macro_f1"] is None  # only a false positive, no gold
    assert evaluate_codes(Y_F1, S_F1, NAMES4, threshold=0.5, n_boot=0).extras["buckets"] == {}
    with pytest.raises(ShapeError):
        evaluate_codes(Y_F1, S_F1, NAMES4, threshold=0.5, train_counts=[1, 2], n_boot=0)


def test_threshold_tuner_picks_the_micro_f1_maximiser_on_dev():
    # positives score 0.8, 0.6, 0.35; negatives 0.5, 0.2, 0.1 -> best F1 6/7 for thresholds in (0.2, 0.35]
    y_dev = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    s_dev = np.array([[0.8, 0.5], [0.2, 0.6], [0.35, 0.0], [0.1, 0.0]])
    assert tune_threshold(y_dev, s_dev) == pytest.approx(0.21)
    grid = [0.1, 0.3, 0.55, 0.7]
    best = tune_threshold(y_dev, s_dev, grid=grid)
    f1s = [f1_score(y_dev, (s_dev >= t).astype(int), average="micro") for t in grid]
    assert best == grid[int(np.argmax(f1s))] == 0.3


def test_threshold_tuner_api_takes_dev_arrays_only():
    assert list(inspect.signature(tune_threshold).parameters) == ["y_dev", "scores_dev", "grid"]
    with pytest.raises(TypeError):
        tune_threshold(y_test=Y_F1, scores_test=S_F1)  # type: ignore[call-arg]
    with pytest.raises(ConfigError):
        tune_threshold(np.zeros((2, 2)), np.zeros((2, 2)), grid=[0.5])  # no gold code, nothing predicted


def test_edge_cases_give_none_not_nan():
    # Nothing predicted (threshold above every score) and a label never seen in test: no crash, None where undefined.
    report = evaluate_codes(Y_MAP, S_MAP, NAMES5, threshold=1.0, n_boot=50)
    o = report.overall
    assert o["micro_precision"] is None and o["micro_f1"] == 0.0 and o["macro_f1"] == 0.0
    assert o["micro_recall"] == 0.0
    # No gold code anywhere: MAP, P@k, recall and AUROC are undefined.
    empty = evaluate_codes(np.zeros((3, 5), dtype=int), S_MAP, NAMES5, threshold=0.5, n_boot=50)
    e = empty.to_dict()["overall"]
    assert e["map"] is None and e["p@5"] is None and e["macro_f1"] is None and e["micro_auroc"] is None
    assert e["micro_recall"] is None and e["micro_f1"] == 0.0  # predictions exist, all false positives
    assert empty.headline == "map" and np.isnan(empty.headline_value)
    assert empty.ci["overall.map"] is None
    assert "n/a" in empty.table()


def _random_case(n_docs: int = 150, n_labels: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Skewed label frequencies and informative but imperfect probabilities."""
    rng = np.random.default_rng(seed)
    freq = np.linspace(0.02, 0.4, n_labels)
    y = (rng.random((n_docs, n_labels)) < freq).astype(int)
    s = np.clip(0.45 * y + 0.55 * rng.random((n_docs, n_labels)), 0, 1)
    return y, s


def test_bootstrap_cis_bracket_the_point_estimate_and_are_seeded():
    # macro_f1 gets no CI: with many single-positive codes its resamples are off-centre (documented in codes._bootstrap)
    y, s = _random_case()
    assert y.sum(axis=0).min() >= 3
    names = [f"c{j}" for j in range(y.shape[1])]
    report = evaluate_codes(y, s, names, threshold=0.5, n_boot=200, seed=3)
    assert "overall.macro_f1" not in report.ci
    for metric in ("map", "micro_f1"):
        lo, hi = report.ci[f"overall.{metric}"]
        assert lo < report.overall[metric] < hi, metric
        assert hi - lo < 0.3
    again = evaluate_codes(y, s, names, threshold=0.5, n_boot=200, seed=3)
    assert again.ci == report.ci
    assert evaluate_codes(y, s, names, threshold=0.5, n_boot=0).ci == {}


def test_round_trip_through_json():
    y, s = _random_case(n_docs=60, n_labels=8, seed=1)
    names = [f"c{j}" for j in range(8)]
    report = evaluate_codes(y, s, names, threshold=0.4, train_counts=np.arange(8) * 9, n_boot=30)
    data = json.loads(json.dumps(report.to_dict()))
    back = MetricReport.from_dict(data)
    assert back.to_dict() == report.to_dict()
    assert back == report and back.output_kind == "multilabel" and back.unit == "documents"
    text = back.table()
    assert "macro_f1_caml" in text and "11-50" in text and "30 resamples" in text
    with pytest.raises(ConfigError):
        MetricReport.from_dict({"overall": {}})


def test_input_validation_says_what_is_wrong():
    with pytest.raises(ShapeError):
        evaluate_codes(Y_F1, S_F1[:, :3], NAMES4, threshold=0.5, n_boot=0)
    with pytest.raises(ShapeError):
        evaluate_codes(Y_F1, S_F1, NAMES4[:3], threshold=0.5, n_boot=0)
    with pytest.raises(ConfigError, match="0/1"):
        evaluate_codes(Y_F1 * 2, S_F1, NAMES4, threshold=0.5, n_boot=0)
    with pytest.raises(ConfigError, match="sigmoid"):
        evaluate_codes(Y_F1, S_F1 * 4 - 2, NAMES4, threshold=0.5, n_boot=0)
    with pytest.raises(ConfigError):
        evaluate_codes(Y_F1, S_F1, NAMES4, threshold=1.5, n_boot=0)
    with pytest.raises(ConfigError):
        evaluate_codes(Y_F1, S_F1, ["x"] * 4, threshold=0.5, n_boot=0)


def test_map_all_gold_counts_unseen_codes_as_misses():
    # A has one more gold code outside the label set: AP = (1/1 + 2/3) / 3; B as before 1/4; C has only an unseen
    # code: it joins the average with AP 0.
    report = evaluate_codes(Y_MAP, S_MAP, NAMES5, threshold=0.5, n_boot=0, gold_counts=np.array([3, 1, 1]))
    assert report.overall["map"] == pytest.approx(13 / 24)
    assert report.overall["map_all_gold"] == pytest.approx(((5 / 3) / 3 + 1 / 4 + 0) / 3)
    same = evaluate_codes(Y_MAP, S_MAP, NAMES5, threshold=0.5, n_boot=0, gold_counts=np.array([2, 1, 0]))
    assert same.overall["map_all_gold"] == pytest.approx(same.overall["map"])
    with pytest.raises(ConfigError, match=r"gold_counts\[0\]=1 is below"):
        evaluate_codes(Y_MAP, S_MAP, NAMES5, threshold=0.5, n_boot=0, gold_counts=np.array([1, 1, 0]))
