"""ICU preprocessing: fitted on training stays only; model input layout; static missing indicators; labels; split."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from medrnn import paths
from medrnn.errors import ConfigError
from medrnn.io.physionet2012 import VARIABLES, read_physionet2012_record
from medrnn.records import IcuStay
from medrnn.tasks.icu_mortality.config import IcuDataConfig, IcuRunConfig
from medrnn.tasks.icu_mortality.data import IcuStays, make_icu_split, outcome_labels, split_info
from medrnn.tasks.icu_mortality.pipeline import IcuPipeline
from medrnn.transforms.irregular import bin_stay, with_indicators


@pytest.fixture(scope="module")
def stays() -> list[IcuStay]:
    folder = paths.dataset_dir("physionet2012") / "set-a"
    if not folder.is_dir():
        pytest.skip(f"PhysioNet 2012 set A not found under the data root ({folder}); run `medrnn data fetch physionet2012`")
    return [read_physionet2012_record(p) for p in sorted(folder.glob("*.txt"))[:40]]


def _samples(stays: list[IcuStay]) -> IcuStays:
    return IcuStays(stays, np.full(len(stays), np.nan, dtype=np.float32))


def test_features_are_fitted_on_training_stays_only(stays: list[IcuStay]) -> None:
    config = IcuDataConfig()
    before = IcuPipeline.fit(_samples(stays[:30]), config)
    wild = [dataclasses.replace(s, values=s.values * 1000.0) if i >= 30 else s for i, s in enumerate(stays)]
    after = IcuPipeline.fit(_samples(wild[:30]), config)
    assert np.array_equal(before.series_scaler.mean_, after.series_scaler.mean_)
    assert np.array_equal(before.static_scaler.mean_, after.static_scaler.mean_)
    x_before, _ = before.features(_samples(stays))
    x_after, _ = after.features(_samples(wild))
    assert np.array_equal(x_before[:30], x_after[:30]) and not np.array_equal(x_before[30:], x_after[30:])


def test_model_input_layout(stays: list[IcuStay]) -> None:
    pipeline = IcuPipeline.fit(_samples(stays[:30]), IcuDataConfig())
    x, static = pipeline.features(_samples(stays))
    v = len(VARIABLES)
    assert pipeline.input_size == 3 * v and pipeline.label_names == ["In-hospital_death"] and pipeline.output_kind == "binary"
    assert x.shape == (40, 48, 3 * v) and x.dtype == np.float32 and np.isfinite(x).all()
    values, mask, delta = x[..., :v], x[..., v : 2 * v], x[..., 2 * v :]
    assert set(np.unique(mask)) <= {0.0, 1.0} and (values[mask == 0] == 0).all() and (delta >= 0).all()
    assert static.shape == (40, len(pipeline.static_names)) and np.isfinite(static).all()


def test_binned_cache_is_used_only_on_its_grid(stays: list[IcuStay]) -> None:
    binned = [bin_stay(s, hours=48, bin_minutes=60) for s in stays]
    cached = IcuStays(stays, np.zeros(len(stays), dtype=np.float32), binned, (48.0, 60))
    pipeline = IcuPipeline.fit(cached, IcuDataConfig())
    assert np.array_equal(pipeline.features(cached)[0], pipeline.features(_samples(stays))[0])
    coarse = IcuPipeline.fit(_samples(stays), IcuDataConfig(bin_minutes=120))
    assert coarse.features(cached)[0].shape[1] == 24  # another grid: the stays are binned again, not the cache reused


def test_pipeline_state_round_trip_keeps_the_old_artifact_keys(stays: list[IcuStay]) -> None:
    pipeline = IcuPipeline.fit(_samples(stays[:30]), IcuDataConfig())
    state = pipeline.state_dict()
    assert {"variables", "hours", "bin_minutes", "series_scaler", "static_scaler", "static_names", "outcome", "layout"} <= set(state)
    again = IcuPipeline.from_state_dict(state)
    assert np.array_equal(again.features(_samples(stays))[1], pipeline.features(_samples(stays))[1])
    assert again.compatibility() == pipeline.compatibility()


def test_missing_indicators_follow_the_training_names() -> None:
    raw = np.array([[1.0, np.nan], [np.nan, 2.0]], dtype=np.float32)
    out = with_indicators(raw, ["Age", "Height"], ["Age", "Height", "Height_missing"])
    assert out.shape == (2, 3) and out[:, 2].tolist() == [1.0, 0.0]


def test_outcome_missing_is_a_clear_error(stays: list[IcuStay]) -> None:
    with pytest.raises(ConfigError, match="outcome 'In-hospital_death' missing for 40 stays"):
        outcome_labels(stays, "In-hospital_death")  # records read alone carry no outcome


def test_outcome_not_binary_is_a_clear_error(stays: list[IcuStay]) -> None:
    scored = [dataclasses.replace(s, outcome={"SAPS-I": 17.0}) for s in stays[:3]]
    with pytest.raises(ConfigError, match="outcome 'SAPS-I' is not 0/1 for 3 stays"):
        outcome_labels(scored, "SAPS-I")


def test_split_is_stratified_and_counts_deaths() -> None:
    y = np.array([1.0] * 20 + [0.0] * 180, dtype=np.float32)
    config = IcuRunConfig()
    split = make_icu_split(y, config, seed=3)
    assert sorted(np.concatenate(split).tolist()) == list(range(200))
    info = split_info(y, split, config, 3)
    assert info["deaths"] == {"train": 16, "val": 2, "test": 2} and info["protocol"] == "split"
    cv = IcuRunConfig.model_validate({"data": {"protocol": "cv", "fold": 4}})
    fold = make_icu_split(y, cv, seed=0)
    assert len(fold.test) == 40 and y[fold.test].sum() == 4 and split_info(y, fold, cv, 0)["fold"] == 4
    with pytest.raises(ConfigError, match="fold 5 out of range for 5 folds"):
        make_icu_split(y, IcuRunConfig.model_validate({"data": {"protocol": "cv", "fold": 5}}), seed=0)
