"""EEG seizure task (Bonn): windows, splits by segment (fixed and k-fold), protocols, a quick real run, and
`medrnn predict` on Bonn text files and on an EDF file at another sampling rate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medrnn import paths
from medrnn.errors import InvalidRecordError
from medrnn.predict import Predictor
from medrnn.tasks.base import check_split, get_task
from medrnn.tasks.eeg_seizure.config import EegDataConfig, EegRunConfig
from medrnn.tasks.eeg_seizure.data import cut_windows, segment_scores, split_by_segment
from medrnn.train.run import run_task


@pytest.fixture(scope="module")
def bonn_dir() -> Path:
    folder = paths.dataset_dir("bonn_eeg")
    if not (folder / "S" / "S001.txt").exists():
        pytest.skip(f"Bonn EEG not found under the data root ({folder})")
    return folder


def test_windows_are_cut_and_standardised() -> None:
    cfg = EegDataConfig(window_s=4.0, stride_s=2.0)
    w = cut_windows(np.arange(4097, dtype=np.float32), "E/S001", 1, cfg)
    assert w.x.shape == (10, 694, 1) and w.x.dtype == np.float32
    assert np.allclose(w.x.mean(axis=1), 0, atol=1e-4) and np.allclose(w.x.std(axis=1), 1, atol=1e-3)
    assert w.start.tolist()[:3] == [0, 347, 694] and set(w.segment) == {"E/S001"}
    with pytest.raises(InvalidRecordError, match="shorter than one window"):
        cut_windows(np.zeros(100, np.float32), "x", 0, cfg)


@pytest.mark.parametrize("protocol", ["A_vs_E", "ABCD_vs_E", "five_sets"])
def test_protocols_and_folds_disjoint_by_segment(bonn_dir: Path, protocol: str) -> None:
    task = get_task("bonn")
    cfg = EegRunConfig.model_validate({"data": {"protocol": protocol, "max_segments_per_set": 10, "stride_s": 4.0}})
    data = task.load(cfg)
    n_sets = {"A_vs_E": 2, "ABCD_vs_E": 5, "five_sets": 5}[protocol]
    assert data.info["segments"] == 10 * n_sets
    split = task.split(data, cfg)
    check_split(data.units, split)
    tests = []
    for fold in range(5):
        cv = cfg.model_copy(update={"data": cfg.data.model_copy(update={"split": "cv", "fold": fold})})
        s = split_by_segment(data.samples, cv.data, seed=0)
        check_split(data.units, s)  # no segment on two sides
        tests.append(set(data.units[s.test]))
        assert len(s.train) + len(s.val) + len(s.test) == len(data)
        assert set(np.unique(data.samples.y[s.test])) == set(np.unique(data.samples.y))  # stratified: every class tested
    assert all(not (a & b) for i, a in enumerate(tests) for b in tests[i + 1 :])
    assert set().union(*tests) == set(data.units)  # the folds cover every segment once


def test_split_is_seeded(bonn_dir: Path) -> None:
    task = get_task("eeg_seizure")
    cfg = task.quick_config()
    data = task.load(cfg)
    a, b = task.split(data, cfg), task.split(data, cfg)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    other = cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": 1})})
    assert not np.array_equal(task.split(data, other).test, a.test)


def test_segment_scores_average_windows() -> None:
    ids, mean = segment_scores(np.array(["b", "a", "b"]), np.array([[1.0, 0.0], [0.2, 0.8], [0.0, 1.0]]))
    assert ids.tolist() == ["b", "a"] and np.allclose(mean, [[0.5, 0.5], [0.2, 0.8]])


def test_quick_run_with_augmentation_and_predict(bonn_dir: Path, tmp_path: Path) -> None:
    mne = pytest.importorskip("mne")
    task = get_task("bonn")
    cfg = task.quick_config().model_copy(update={"augment": ["scale:0.2", "noise:20", "wander", "shift", "mixup:0.2"]})
    run_task(task, cfg, tmp_path / "run", progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    seg = metrics["test"]["extras"]["segment_level"]
    assert seg["n_samples"] == seg["n_units"] == metrics["data"]["split_segments"]["test"]
    predictor = Predictor.from_artifact(tmp_path / "run")
    # an EDF recording at 256 Hz, two channels: resampled to 173.61 Hz, one window row each and one segment row each
    x = np.stack([np.loadtxt(bonn_dir / "S" / "S001.txt"), np.loadtxt(bonn_dir / "Z" / "Z001.txt")]) * 1e-6
    t_in = np.arange(x.shape[1]) / 173.61
    t_out = np.arange(int(t_in[-1] * 256)) / 256
    x256 = np.stack([np.interp(t_out, t_in, c) for c in x])[:, : 256 * 20]
    raw = mne.io.RawArray(x256, mne.create_info(["S001", "Z001"], 256.0, "eeg"), verbose=False)
    edf = tmp_path / "two.edf"
    mne.export.export_raw(edf, raw, fmt="edf", verbose=False)
    result = predictor.predict([str(bonn_dir / "S" / "S002.txt"), str(edf), str(tmp_path / "missing.txt")])
    rows = result.rows()
    levels = [(r["item_id"], r["channel"], r["level"]) for r in rows]
    assert (str(edf), "S001", "segment") in levels and (str(edf), "Z001", "segment") in levels
    assert sum(1 for r in rows if r["item_id"] == str(bonn_dir / "S" / "S002.txt") and r["level"] == "window") == 5
    assert list(result.failures) == [str(tmp_path / "missing.txt")] and result.n_failed == 1
