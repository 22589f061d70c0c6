"""ICU preprocessing: fitted on training stays only; model input layout; static missing indicators."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from medrnn import paths
from medrnn.errors import ConfigError
from medrnn.io.physionet2012 import VARIABLES, read_physionet2012_record
from medrnn.records import IcuStay
from medrnn.tasks.icu_mortality.config import IcuRunConfig
from medrnn.train.icu import build_features, outcome_labels
from medrnn.transforms.irregular import with_indicators


@pytest.fixture(scope="module")
def stays() -> list[IcuStay]:
    folder = paths.dataset_dir("physionet2012") / "set-a"
    if not folder.is_dir():
        pytest.skip(f"PhysioNet 2012 set A not found under the data root ({folder}); run `medrnn data fetch physionet2012`")
    return [read_physionet2012_record(p) for p in sorted(folder.glob("*.txt"))[:40]]


def test_features_are_fitted_on_training_stays_only(stays: list[IcuStay]) -> None:
    train = np.arange(30)
    before = build_features(stays, train, IcuRunConfig())
    wild = [dataclasses.replace(s, values=s.values * 1000.0) if i >= 30 else s for i, s in enumerate(stays)]
    after = build_features(wild, train, IcuRunConfig())
    assert np.array_equal(before.series_scaler.mean_, after.series_scaler.mean_)
    assert np.array_equal(before.static_scaler.mean_, after.static_scaler.mean_)
    assert np.array_equal(before.x[:30], after.x[:30]) and not np.array_equal(before.x[30:], after.x[30:])


def test_model_input_layout(stays: list[IcuStay]) -> None:
    feats = build_features(stays, np.arange(30), IcuRunConfig())
    v = len(VARIABLES)
    assert feats.x.shape == (40, 48, 3 * v) and np.isfinite(feats.x).all()
    values, mask, delta = feats.x[..., :v], feats.x[..., v : 2 * v], feats.x[..., 2 * v :]
    assert set(np.unique(mask)) <= {0.0, 1.0} and (values[mask == 0] == 0).all() and (delta >= 0).all()
    assert feats.static.shape[0] == 40 and np.isfinite(feats.static).all()


def test_missing_indicators_follow_the_training_names() -> None:
    raw = np.array([[1.0, np.nan], [np.nan, 2.0]], dtype=np.float32)
    out = with_indicators(raw, ["Age", "Height"], ["Age", "Height", "Height_missing"])
    assert out.shape == (2, 3) and out[:, 2].tolist() == [1.0, 0.0]


def test_outcome_missing_is_a_clear_error(stays: list[IcuStay]) -> None:
    with pytest.raises(ConfigError, match="outcome 'In-hospital_death' missing for 40 stays"):
        outcome_labels(stays, "In-hospital_death")  # records read alone carry no outcome
