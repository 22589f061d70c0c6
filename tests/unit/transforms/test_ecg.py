"""ECG transforms: band-pass removes wander, windows drop edge beats, RR context by hand."""

from __future__ import annotations

import numpy as np
import pytest

from medrnn.errors import ConfigError, NotFittedError, ShapeError
from medrnn.transforms import RR_FEATURE_NAMES, Standardizer, bandpass, beat_windows, rr_context


def test_bandpass_removes_baseline_wander_and_keeps_qrs_band() -> None:
    fs = 360.0
    t = np.arange(int(20 * fs)) / fs
    wander, qrs_band = 2.0 * np.sin(2 * np.pi * 0.1 * t), np.sin(2 * np.pi * 10 * t)
    out = bandpass(wander + qrs_band, fs)
    middle = slice(int(2 * fs), int(18 * fs))
    assert np.abs(out[middle] - qrs_band[middle]).max() < 0.1
    assert out.dtype == np.float32


def test_bandpass_rejects_edges_above_nyquist() -> None:
    with pytest.raises(ConfigError, match="Nyquist"):
        bandpass(np.zeros(1000), 60.0, 0.5, 40.0)


def test_beat_windows_cut_around_peaks_and_drop_edge_beats() -> None:
    x = np.arange(100, dtype=np.float32)
    windows, kept = beat_windows(x, np.array([2, 50, 97]), pre=5, post=10)
    assert kept.tolist() == [False, True, False]
    assert windows.shape == (1, 15)
    assert windows[0, 5] == 50  # the peak sits at index `pre`
    with pytest.raises(ShapeError):
        beat_windows(np.zeros((2, 10)), np.array([5]), 1, 1)


def test_rr_context_by_hand() -> None:
    fs = 100.0
    peaks = np.array([0, 100, 200, 250, 400])  # RR: 1.0, 1.0, 0.5 (premature), 1.5 (compensatory pause)
    rr = rr_context(peaks, fs, local_beats=2)
    assert rr.shape == (5, len(RR_FEATURE_NAMES))
    col = {n: i for i, n in enumerate(RR_FEATURE_NAMES)}
    assert rr[3, col["pre_rr_s"]] == pytest.approx(0.5)
    assert rr[3, col["post_rr_s"]] == pytest.approx(1.5)
    assert rr[0, col["pre_rr_s"]] == pytest.approx(1.0)  # first beat borrows its successor
    assert rr[:, col["record_rr_s"]] == pytest.approx(np.full(5, 1.0))
    # local mean over beats 2..4 of the pre-RR series (1.0, 0.5, 1.5)
    assert rr[3, col["local_rr_s"]] == pytest.approx(1.0)
    assert rr[3, col["post_over_pre"]] == pytest.approx(3.0)
    with pytest.raises(ShapeError):
        rr_context(np.array([5]), fs)


def test_standardizer_fits_on_train_and_round_trips_its_state(rng: np.random.Generator) -> None:
    x = rng.normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    scaler = Standardizer().fit(x)
    z = scaler.transform(x)
    assert np.allclose(z.mean(0), 0, atol=1e-5) and np.allclose(z.std(0), 1, atol=1e-3)
    again = Standardizer.from_state(scaler.state_dict())
    assert np.allclose(again.transform(x), z)
    with pytest.raises(NotFittedError):
        Standardizer().transform(x)
    with pytest.raises(ShapeError):
        scaler.transform(x[:, :2])
