"""Irregular-series transforms: last value per bin, GRU-D's delta, a standardiser fitted on train only, the input layout."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medrnn import paths
from medrnn.errors import ConfigError, InvalidRecordError, NotFittedError, ShapeError
from medrnn.io.physionet2012 import read_physionet2012_record
from medrnn.records import IcuStay
from medrnn.transforms.irregular import (
    IrregularStandardizer,
    bin_stay,
    n_after_window,
    static_features,
    summary_feature_names,
    summary_features,
    time_since_observed,
    to_grud_input,
)

NAMES = ("HR", "Temp", "pH")


def _stay(obs: list[tuple[float, int, float]], static: dict[str, float] | None = None) -> IcuStay:
    """An IcuStay from (minute, variable index, value) triples."""
    t, v, x = (np.array(c, dtype=d) for c, d in zip(zip(*obs), (np.float64, np.int64, np.float64))) if obs else (
        np.empty(0), np.empty(0, np.int64), np.empty(0))  # fmt: skip
    return IcuStay("1", t, v, x, NAMES, static or {})


def test_binning_keeps_the_last_value_per_bin_and_excludes_after_48_h() -> None:
    stay = _stay([(0, 0, 70), (30, 0, 75), (59, 0, 80), (60, 0, 90), (59, 1, 36.6), (59, 1, 36.9),  # same minute: later row
                  (2879, 2, 7.30), (2880, 2, 7.40), (2881, 2, 7.50), (3000, 0, 60)])  # fmt: skip
    values, mask = bin_stay(stay)
    assert values.shape == mask.shape == (48, 3) and values.dtype == np.float32 and mask.dtype == bool
    assert values[0, 0] == 80 and values[1, 0] == 90 and values[0, 1] == np.float32(36.9)
    assert values[47, 2] == np.float32(7.40)  # 48:00 is inside the window (last bin closed), 48:01 is not
    assert mask.sum() == 4 and np.isnan(values[~mask]).all() and not np.isnan(values[mask]).any()
    assert n_after_window(stay) == 2 and n_after_window(stay, hours=24) == 4
    v30, m30 = bin_stay(stay, hours=1, bin_minutes=30)
    assert v30.shape == (2, 3) and v30[0, 0] == 70 and v30[1, 0] == 90 and m30[:, 2].sum() == 0
    with pytest.raises(ConfigError, match="must both be > 0"):
        bin_stay(stay, bin_minutes=0)


def test_empty_stay_bins_to_all_missing() -> None:
    values, mask = bin_stay(_stay([]))
    assert np.isnan(values).all() and not mask.any()


def test_delta_matches_the_worked_example_of_che_et_al_2018() -> None:
    # GRU-D paper (Sci Rep 8:6085), Figure 2: two variables over time stamps s
    mask = np.array([[1, 1, 0, 1, 0, 1, 1], [0, 1, 1, 0, 0, 0, 1]], dtype=bool).T
    s = np.array([0, 0.1, 0.6, 1.6, 2.2, 2.5, 3.1])
    expected = np.array([[0.0, 0.1, 0.5, 1.5, 0.6, 0.9, 0.6], [0.0, 0.1, 0.5, 1.0, 1.6, 1.9, 2.5]]).T
    delta = time_since_observed(mask, times_h=s)
    assert delta.dtype == np.float32 and delta.shape == (7, 2)
    np.testing.assert_allclose(delta, expected, atol=1e-6)


def test_delta_on_a_regular_grid_is_in_hours() -> None:
    mask = np.array([[1], [0], [0], [1], [0]], dtype=bool)
    np.testing.assert_allclose(time_since_observed(mask, 60)[:, 0], [0, 1, 2, 3, 1])
    np.testing.assert_allclose(time_since_observed(mask, 30)[:, 0], [0, 0.5, 1.0, 1.5, 0.5])
    with pytest.raises(ShapeError, match=r"times_h has shape \(3,\)"):
        time_since_observed(mask, times_h=np.zeros(3))
    batch = np.random.default_rng(0).random((4, 6, 3)) < 0.3  # (stays, time, variables) in one call
    np.testing.assert_array_equal(time_since_observed(batch), np.stack([time_since_observed(m) for m in batch]))


def test_real_stay_bins_to_its_last_hourly_values() -> None:
    path = paths.dataset_dir("physionet2012") / "set-a" / "132539.txt"
    if not path.exists():
        pytest.skip(f"PhysioNet 2012 record not found under {path.parent}; run `medrnn data fetch physionet2012`")
    stay = read_physionet2012_record(path)
    values, mask = bin_stay(stay)
    hr = stay.variable_names.index("HR")
    assert values[0, hr] == 77 and values[1, hr] == 60  # 00:07 73 then 00:37 77 in hour 0; 01:37 60 in hour 1
    x = to_grud_input(values, mask, time_since_observed(mask))
    assert x.shape == (48, 3 * 37) and int(x[:, 37:74].sum()) == int(mask.sum()) > 0


def test_standardiser_is_fitted_on_train_only_and_keeps_nan() -> None:
    train = [np.array([[1.0, np.nan], [3.0, 10.0]]), np.array([[5.0, np.nan], [np.nan, 10.0]])]
    test = [np.array([[100.0, -50.0], [np.nan, 0.0]])]
    scaler = IrregularStandardizer().fit(train)
    np.testing.assert_allclose(scaler.mean_, [3.0, 10.0])  # over observed values only: NaN neither counts nor weighs
    np.testing.assert_allclose(scaler.std_, [np.sqrt(8 / 3), 1.0])  # zero spread -> std 1, no division by zero
    assert scaler.n_observed_.tolist() == [3, 2]
    out = scaler.transform(test[0])
    assert np.isnan(out[1, 0]) and out.dtype == np.float32 and out[1, 1] == -10.0
    np.testing.assert_allclose(scaler.mean_, [3.0, 10.0])  # transforming other stays leaves the fitted state alone
    assert not np.allclose(IrregularStandardizer().fit(train + test).mean_, scaler.mean_)  # so the check above can fail
    z = scaler.transform(np.concatenate(train))
    assert np.nanmean(z[:, 0]) == pytest.approx(0.0, abs=1e-6) and np.isnan(z).sum() == 3


def test_standardiser_state_round_trips_through_json() -> None:
    scaler = IrregularStandardizer().fit([np.array([[1.0, 2.0], [3.0, np.nan]])])
    clone = IrregularStandardizer.from_state_dict(json.loads(json.dumps(scaler.state_dict())))
    x = np.array([[2.0, np.nan], [0.0, 4.0]])
    np.testing.assert_array_equal(clone.transform(x), scaler.transform(x))
    with pytest.raises(NotFittedError):
        IrregularStandardizer().transform(x)
    with pytest.raises(ShapeError, match=r"expected \(\.\.\., 2\) variables"):
        scaler.transform(np.zeros((3, 5)))


def test_grud_input_layout_is_values_mask_delta() -> None:
    values = np.array([[0.5, np.nan], [np.nan, -1.0], [2.0, np.nan]], dtype=np.float32)
    mask = ~np.isnan(values)
    delta = time_since_observed(mask, 60)
    x = to_grud_input(values, mask, delta)
    assert x.shape == (3, 6) and x.dtype == np.float32 and not np.isnan(x).any()
    np.testing.assert_array_equal(x[:, :2], [[0.5, 0.0], [0.0, -1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(x[:, 2:4], mask.astype(np.float32))
    np.testing.assert_array_equal(x[:, 4:], [[0, 0], [1, 1], [2, 1]])
    with pytest.raises(ShapeError):
        to_grud_input(values, mask[:2], delta)
    with pytest.raises(InvalidRecordError, match="marks NaN values as observed"):
        to_grud_input(values, np.ones_like(mask), delta)


def test_summary_features_per_variable() -> None:
    values = np.array([[np.nan, 3.0, np.nan], [5.0, 1.0, np.nan], [2.0, np.nan, np.nan], [4.0, 6.0, np.nan]])
    feats = summary_features(values, ~np.isnan(values)).reshape(3, 6)
    np.testing.assert_allclose(feats[0], [5, 4, 2, 5, 11 / 3, 3], rtol=1e-6)  # first, last, min, max, mean, count
    np.testing.assert_allclose(feats[1], [3, 6, 1, 6, 10 / 3, 3], rtol=1e-6)
    assert np.isnan(feats[2, :5]).all() and feats[2, 5] == 0
    assert summary_feature_names(NAMES)[:2] == ["HR_first", "HR_last"] and len(summary_feature_names(NAMES)) == 18


def test_static_features_one_hot_with_missing() -> None:
    x, names = static_features(_stay([], {"Age": 54, "Gender": np.nan, "Height": np.nan, "ICUType": 4, "Weight": 80.5}))
    assert names == ["Age", "Gender_female", "Gender_male", "Gender_missing", "Height", "Weight",
                     "ICUType_CCU", "ICUType_CSRU", "ICUType_MICU", "ICUType_SICU"]  # fmt: skip
    assert x.dtype == np.float32 and x[0] == 54 and x[1:4].tolist() == [0, 0, 1] and np.isnan(x[4]) and x[5] == 80.5
    assert x[6:].tolist() == [0, 0, 0, 1]
    male, _ = static_features(_stay([], {"Age": 70, "Gender": 1, "Height": 180, "ICUType": 1, "Weight": 90}))
    assert male[1:4].tolist() == [0, 1, 0] and male[6:].tolist() == [1, 0, 0, 0]
