"""Stratified holdout and k-fold: disjoint, complete, label ratio kept, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from medrnn.data.stratified import stratified_fold, stratified_split
from medrnn.errors import ConfigError

Y = np.r_[np.zeros(862), np.ones(138)]  # 13.8 % positive, like PhysioNet 2012 set A


def test_holdout_is_a_partition_with_the_label_ratio_in_every_part() -> None:
    split = stratified_split(Y, (0.8, 0.1, 0.1), seed=0)
    joined = np.concatenate(split)
    assert sorted(joined.tolist()) == list(range(len(Y)))
    assert [len(p) for p in split] == [800, 100, 100]
    for part in split:
        assert Y[part].mean() == pytest.approx(Y.mean(), abs=0.01)


def test_holdout_depends_on_the_seed_only() -> None:
    assert np.array_equal(stratified_split(Y, seed=3).test, stratified_split(Y, seed=3).test)
    assert not np.array_equal(stratified_split(Y, seed=3).test, stratified_split(Y, seed=4).test)


def test_folds_cover_every_record_once_as_test() -> None:
    folds = [stratified_fold(Y, 5, k, seed=0) for k in range(5)]
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(len(Y)))
    for f in folds:
        assert not set(f.test) & (set(f.train) | set(f.val)) and not set(f.train) & set(f.val)
        assert len(f.train) + len(f.val) + len(f.test) == len(Y)
    with pytest.raises(ConfigError, match="fold 5 out of range"):
        stratified_fold(Y, 5, 5)
