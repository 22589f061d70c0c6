"""Inter-patient split: record lists, de Chazal's beat counts, cache, validation records by record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrnn.tasks.ecg_beats.config import BeatDataConfig
from medrnn.tasks.ecg_beats.data import DS1, DS2, PACED, load_beats, split_validation_records


def test_record_lists_are_de_chazals() -> None:
    assert len(DS1) == len(DS2) == 22
    assert not set(DS1) & set(DS2)
    assert not set(PACED) & (set(DS1) | set(DS2))
    assert len(set(DS1) | set(DS2) | set(PACED)) == 48


@pytest.mark.slow
def test_beat_counts_match_de_chazal(mitdb_dir: Path) -> None:
    """With the AAMI mapping the annotated beats are de Chazal's; only edge windows are dropped (and counted)."""
    cfg = BeatDataConfig()
    for records, expected in [(DS1, (45866, 944, 3788, 415, 8)), (DS2, (44259, 1837, 3221, 388, 7))]:
        beats, errors = load_beats(records, cfg, data_dir=mitdb_dir)
        assert not errors
        kept = np.array(list(beats.class_counts().values()))
        dropped = sum(beats.dropped.values())
        assert 0 < dropped < 25
        assert np.all(kept <= expected) and sum(expected) - kept.sum() == dropped


def test_cache_returns_identical_arrays_and_bad_records_are_reported(mitdb_dir: Path, tmp_path: Path) -> None:
    cfg = BeatDataConfig()
    first, _ = load_beats(["119"], cfg, data_dir=mitdb_dir)
    again, _ = load_beats(["119"], cfg, data_dir=mitdb_dir)
    assert np.array_equal(first.x, again.x) and np.array_equal(first.y, again.y)
    assert first.dropped == again.dropped
    # a record that does not exist is reported, the good one still loads
    beats, errors = load_beats(["119", "999"], cfg, data_dir=mitdb_dir)
    assert set(errors) == {"999"} and len(beats) == len(first)


def test_validation_records_are_whole_records_and_seeded(mitdb_dir: Path) -> None:
    beats, _ = load_beats(["106", "119", "209", "220", "223", "118"], BeatDataConfig(), data_dir=mitdb_dir)
    train, val = split_validation_records(beats, 2, seed=0)
    assert len(val) == 2 and not set(train) & set(val)
    assert split_validation_records(beats, 2, seed=0) == (train, val)
    val_beats = beats.y[np.isin(beats.record, val)]
    assert (val_beats == 1).any() and (val_beats == 2).any()  # S and V present for early stopping
