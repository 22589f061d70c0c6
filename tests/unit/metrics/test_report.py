"""One MetricReport shape for every evaluator, and a bootstrap that resamples units (a unit's samples move together)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from medrnn.errors import ConfigError, ShapeError
from medrnn.metrics import MetricReport, evaluate, evaluate_codes, evaluate_outputs
from medrnn.metrics.bootstrap import resample_counts, unit_index

FIELDS = [f.name for f in dataclasses.fields(MetricReport)]


def _multiclass(n_units: int = 12, per_unit: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    units = np.repeat(np.arange(n_units), per_unit)
    y = rng.integers(0, 3, units.size)
    score = rng.dirichlet(np.ones(3), units.size) * 0.6
    score[np.arange(units.size), y] += 0.4 * (rng.random(units.size) < 0.8)
    return y, score, units


def _outputs(n_units: int = 40, per_unit: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    units = np.repeat(np.arange(n_units), per_unit)
    y = (rng.random((units.size, 2)) < 0.4).astype(float)
    score = np.clip(0.4 * y + 0.6 * rng.random(y.shape), 0, 1)
    y[rng.random(y.shape) < 0.1] = np.nan
    return y, score, units


def _codes(n_units: int = 30, per_unit: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    units = np.repeat(np.arange(n_units), per_unit)
    y = (rng.random((units.size, 15)) < np.linspace(0.05, 0.4, 15)).astype(int)
    score = np.clip(0.45 * y + 0.55 * rng.random(y.shape), 0, 1)
    return y, score, units


def _reports(k: int = 1) -> list[MetricReport]:
    """One report per evaluator, every sample repeated k times inside its own unit."""
    out = []
    y, s, u = _multiclass()
    out.append(evaluate(np.repeat(y, k), np.repeat(s, k, 0), ["N", "S", "V"], units=np.repeat(u, k), unit="records", n_boot=40))
    y, s, u = _outputs()
    out.append(evaluate_outputs(np.repeat(y, k, 0), np.repeat(s, k, 0), ["a", "b"], "multilabel", units=np.repeat(u, k),
                                unit="scaffolds", n_boot=40))  # fmt: skip
    y, s, u = _codes()
    out.append(evaluate_codes(np.repeat(y, k, 0), np.repeat(s, k, 0), [f"c{j}" for j in range(15)], 0.5,
                              train_counts=np.arange(15) * 4, units=np.repeat(u, k), unit="patients", n_boot=40))  # fmt: skip
    return out


def test_every_evaluator_returns_the_same_shape_and_round_trips_json() -> None:
    for report in _reports():
        data = report.to_dict()
        assert list(data) == FIELDS
        back = MetricReport.from_dict(json.loads(json.dumps(data, allow_nan=False)))
        assert back == report and back.table() == report.table()
        assert report.headline in report.overall and report.headline_value == report.overall[report.headline]
        assert f"overall.{report.headline}" in report.ci and f"{report.n_units} {report.unit}" in report.table()
    kinds = [r.output_kind for r in _reports()]
    assert kinds == ["multiclass", "multilabel", "multilabel"]
    with pytest.raises(ConfigError, match=r"missing keys \['headline'"):
        MetricReport.from_dict({k: v for k, v in _reports()[0].to_dict().items() if k != "headline"})


def test_duplicating_every_sample_of_a_unit_changes_only_the_sample_counts() -> None:
    # units are resampled whole: k copies of each sample inside its unit leave every rate, AUROC, MAP and every CI as
    # they were (the same unit draws, each weighting k times the samples); only counts (support, n, n_pos) scale by k
    counts = ("support", "n", "n_pos")
    for one, three in zip(_reports(1), _reports(3)):
        assert three.n_samples == 3 * one.n_samples and three.n_units == one.n_units
        assert three.overall == pytest.approx(one.overall)
        for name, row in one.per_label.items():
            for metric, value in row.items():
                expected = 3 * value if metric in counts else value
                assert three.per_label[name][metric] == pytest.approx(expected), (name, metric)
        assert three.ci.keys() == one.ci.keys()
        for key, interval in one.ci.items():
            assert (three.ci[key] is None) == (interval is None), key
            if interval is not None:
                assert three.ci[key] == pytest.approx(interval), key


def test_unit_index_and_counts_draw_whole_units() -> None:
    index, n_units = unit_index(["b", "a", "b", "c", "a"], 5)
    assert n_units == 3 and index.tolist() == [1, 0, 1, 2, 0]
    assert unit_index(["x", "y", "z"], 3)[0].tolist() == [0, 1, 2]  # distinct units: the sample bootstrap
    assert unit_index(None, 4) == (pytest.approx(np.arange(4)), 4)
    block = next(resample_counts(np.random.default_rng(0), n_units, 50))
    assert block.shape == (50, 3) and (block.sum(axis=1) == 3).all()
    weights = block[:, index]  # per-sample draw counts: samples of one unit always share theirs
    assert (weights[:, 0] == weights[:, 2]).all() and (weights[:, 1] == weights[:, 4]).all()
    with pytest.raises(ShapeError, match="one unit id per sample"):
        unit_index(["a"], 2)
