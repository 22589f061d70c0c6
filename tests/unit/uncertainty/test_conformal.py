"""Split conformal on synthetic exchangeable data: marginal, per-class (Mondrian), per-label and interval coverage
within binomial tolerance over repeated draws; the finite-sample quantile; clear errors for impossible coverage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medrnn.errors import ConfigError
from medrnn.uncertainty import SplitConformal, check_coverage
from medrnn.uncertainty.conformal import conformal_quantile


def _classes(rng: np.random.Generator, n: int, shares: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from Dirichlet-noisy probabilities (well specified: y ~ p)."""
    k = len(shares)
    logits = rng.normal(size=(n, k)) * 1.5 + np.log(shares)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return p, y


def _tolerance(n_test: int, repeats: int) -> float:
    # coverage of one draw has SD about sqrt(.09 / n_test) plus the calibration-draw spread; averaged over repeats
    return 4 * np.sqrt(0.09 / n_test + 0.09 / 500) / np.sqrt(repeats)


def test_marginal_coverage_on_exchangeable_data() -> None:
    rng = np.random.default_rng(1)
    covered = []
    for _ in range(30):
        p, y = _classes(rng, 1500, [0.4, 0.35, 0.25])
        conf = SplitConformal("multiclass", ["a", "b", "c"], class_conditional=False).fit(p[:500], y[:500])
        covered.append(conf.evaluate(p[500:], y[500:], 0.9)["coverage"])
    mean = float(np.mean(covered))
    assert 0.9 - 0.002 <= mean <= 0.9 + 1 / 501 + _tolerance(1000, 30), mean  # >= 1 - alpha, <= 1 - alpha + 1/(n+1)


def test_class_conditional_covers_each_class_including_a_rare_one() -> None:
    rng = np.random.default_rng(2)
    per: dict[str, list[float]] = {"N": [], "S": [], "V": []}
    for _ in range(20):
        p, y = _classes(rng, 12000, [0.85, 0.05, 0.10])
        conf = SplitConformal("multiclass", ["N", "S", "V"]).fit(p[:4000], y[:4000])  # auto: S holds 5 %
        assert conf.mondrian_ and len(conf.groups_) == 3
        result = conf.evaluate(p[4000:], y[4000:], 0.9)
        for name, value in result["per_class_coverage"].items():
            per[name].append(value)
    for name, values in per.items():
        assert abs(np.mean(values) - 0.9) < 0.02, (name, np.mean(values))
    # a marginal calibration on the same data leaves the rare class uncovered more often than the common one
    p, y = _classes(np.random.default_rng(3), 20000, [0.85, 0.05, 0.10])
    marginal = SplitConformal("multiclass", ["N", "S", "V"], class_conditional=False).fit(p[:8000], y[:8000])
    assert marginal.evaluate(p[8000:], y[8000:], 0.9)["per_class_coverage"]["S"] < 0.88


def test_binary_sets_are_two_class_and_cover() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=20000) - 2.2  # about 15 % positive: auto turns class-conditional on
    prob = 1 / (1 + np.exp(-z))
    y = (rng.random(20000) < prob).astype(float)[:, None]
    conf = SplitConformal("binary", ["death"]).fit(prob[:8000, None], y[:8000])
    assert conf.set_names == ["not death", "death"] and conf.mondrian_
    result = conf.evaluate(prob[8000:, None], y[8000:], 0.9)
    assert abs(result["per_class_coverage"]["death"] - 0.9) < 0.02 and abs(result["per_class_coverage"]["not death"] - 0.9) < 0.02


def test_multilabel_recall_coverage_per_label() -> None:
    rng = np.random.default_rng(5)
    p = rng.beta(0.5, 2, size=(8000, 5))
    y = (rng.random(p.shape) < p).astype(float)
    y[rng.random(p.shape) < 0.1] = np.nan  # missing labels are left out
    conf = SplitConformal("multilabel", list("abcde")).fit(p[:3000], y[:3000])
    out = conf.predict(p[3000:], 0.9)
    for k in range(5):
        pos = y[3000:, k] == 1
        assert abs(out.member[pos, k].mean() - 0.9) < 0.03
    assert abs(conf.evaluate(p[3000:], y[3000:], 0.9)["coverage"] - 0.9) < 0.02


def test_regression_intervals_cover_in_target_units() -> None:
    rng = np.random.default_rng(6)
    covered = []
    for _ in range(20):
        yhat = rng.normal(size=(1500, 2)) * [1, 100]
        y = yhat + rng.standard_t(4, size=yhat.shape) * [0.5, 20]
        conf = SplitConformal("regression", ["logS", "mass"]).fit(yhat[:500], y[:500])
        result = conf.evaluate(yhat[500:], y[500:], 0.9)
        covered.append([result["per_output"][n]["coverage"] for n in ("logS", "mass")])
        assert result["per_output"]["mass"]["width"] > 20 * result["per_output"]["logS"]["width"]
    assert np.all(np.abs(np.mean(covered, axis=0) - 0.9) < 0.015)


def test_finite_sample_quantile_and_refusals() -> None:
    scores = np.arange(1, 20, dtype=float)  # n = 19: coverage 0.9 needs ceil(20 * 0.9) = 18th
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(scores, 0.95) == 19.0
    with pytest.raises(ConfigError, match=r"needs at least 99 validation scores.*has 19 \(at most 0.950"):
        conformal_quantile(scores, 0.99, "S")
    for bad in (0, 1, 1.5, -0.1, 90, float("nan"), "x"):
        with pytest.raises(ConfigError, match="strictly between 0 and 1"):
            check_coverage(bad)
    assert check_coverage("0.8") == 0.8


def test_state_round_trip_keeps_sets(rng: np.random.Generator) -> None:
    p, y = _classes(rng, 2000, [0.7, 0.2, 0.1])
    conf = SplitConformal("multiclass", ["a", "b", "c"]).fit(p[:1000], y[:1000])
    again = SplitConformal.from_state_dict(json.loads(json.dumps(conf.state_dict())))
    for coverage in (0.5, 0.8, 0.9, 0.95):
        np.testing.assert_array_equal(again.predict(p[1000:], coverage).member, conf.predict(p[1000:], coverage).member)
    with pytest.raises(ConfigError, match="conformal state"):
        SplitConformal.from_state_dict({"names": ["a"]})


def test_small_classes_are_pooled() -> None:
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(4), size=600)
    y = np.r_[np.zeros(540), np.ones(20), np.full(20, 2), np.full(20, 3)].astype(int)  # b, c, d: 20 each, under min_group
    conf = SplitConformal("multiclass", list("abcd"), min_group=30).fit(p, y)
    assert len(conf.groups_) == 2 and conf.group_of_ == [0, 1, 1, 1]
    assert conf._group_name(1) == "pooled rare (b, c, d)" and len(conf.groups_[1]) == 60
    tiny = SplitConformal("multiclass", list("abcd"), min_group=100).fit(p, y)  # the pooled 60 cannot give 0.99: always in the set
    assert tiny._group_name(1) == "pooled rare (b, c, d)"
    np.testing.assert_array_equal(tiny.thresholds(0.99)[1:], [1.0, 1.0, 1.0])
    assert tiny.predict(p, 0.99).member[:, 1:].all()
    with pytest.raises(ConfigError, match="group a has 540"):
        tiny.thresholds(0.999)  # a class of its own is refused, never silently widened
