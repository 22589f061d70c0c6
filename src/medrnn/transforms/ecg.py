"""ECG transforms: band-pass filtering, beat windows around R peaks, RR-interval context."""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from medrnn.errors import ConfigError, ShapeError

RR_FEATURE_NAMES = (
    "pre_rr_s",
    "post_rr_s",
    "local_rr_s",
    "record_rr_s",
    "pre_over_local",
    "post_over_local",
    "pre_over_record",
    "post_over_record",
    "post_over_pre",
)


def bandpass(x: np.ndarray, sfreq_hz: float, low_hz: float = 0.5, high_hz: float = 40.0, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass along the last axis.

    The 0.5 Hz edge removes baseline wander, the 40 Hz edge mains and muscle noise; zero phase keeps
    the R peak where the annotation puts it.
    """
    nyquist = sfreq_hz / 2
    if not 0 < low_hz < high_hz < nyquist:
        raise ConfigError(f"band-pass edges {low_hz}-{high_hz} Hz must satisfy 0 < low < high < {nyquist} Hz (Nyquist)")
    sos = sps.butter(order, [low_hz, high_hz], btype="bandpass", fs=sfreq_hz, output="sos")
    return sps.sosfiltfilt(sos, x, axis=-1).astype(np.float32)


def beat_windows(x: np.ndarray, peaks: np.ndarray, pre: int, post: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut windows x[p-pre : p+post] around each peak of a 1-D signal.

    Returns (windows (n_kept, pre+post), kept mask (n_peaks,)); windows crossing a record edge are
    not kept, and the mask says which, so the caller can count and report them.
    """
    if x.ndim != 1:
        raise ShapeError(f"beat_windows expects a 1-D signal, got shape {x.shape}")
    peaks = np.asarray(peaks, dtype=np.int64)
    kept = (peaks - pre >= 0) & (peaks + post <= x.shape[0])
    starts = peaks[kept] - pre
    index = starts[:, None] + np.arange(pre + post)[None, :]
    return x[index], kept


def rr_context(peaks: np.ndarray, sfreq_hz: float, local_beats: int = 10) -> np.ndarray:
    """RR-interval context of every beat, shape (n_beats, 9), columns named by RR_FEATURE_NAMES.

    Previous and next RR, the mean of the `local_beats` RR intervals centred on the beat, the record's
    mean RR, and their ratios: the ratios make premature beats visible whatever the patient's rate,
    which inter-patient SVEB detection depends on (de Chazal 2004; Mar 2011).
    """
    peaks = np.asarray(peaks, dtype=np.float64)
    n = peaks.shape[0]
    if n < 2:
        raise ShapeError(f"RR context needs at least 2 beats, got {n}")
    rr = np.diff(peaks) / sfreq_hz  # (n-1,)
    pre = np.empty(n)
    post = np.empty(n)
    pre[1:] = rr
    pre[0] = rr[0]  # the first beat has no predecessor: borrow its successor's interval
    post[:-1] = rr
    post[-1] = rr[-1]
    # centred moving mean of the RR series (edges use what exists)
    half = max(local_beats // 2, 1)
    csum = np.concatenate([[0.0], np.cumsum(pre)])
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    local = (csum[hi] - csum[lo]) / (hi - lo)
    record = np.full(n, rr.mean())
    feats = np.stack(
        [pre, post, local, record, pre / local, post / local, pre / record, post / record, post / pre], axis=1
    )
    return feats.astype(np.float32)
