"""R-peak detection for records without beat annotations, with wfdb's maintained XQRS detector."""

from __future__ import annotations

import numpy as np

from medrnn.errors import InvalidRecordError


def detect_r_peaks(lead: np.ndarray, sfreq_hz: float, source: str = "") -> np.ndarray:
    """Detect QRS complexes with XQRS, then move each detection to the local R-wave extremum (+-50 ms).

    Reference annotations mark the R peak itself, and beat windows are centred on it, so detections
    are corrected the same way before any beat is cut.
    """
    from wfdb import processing  # optional dependency (medrnn[signals])

    sig = np.asarray(lead, dtype=np.float64)
    if sig.ndim != 1 or sig.size < sfreq_hz * 2:
        raise InvalidRecordError(f"{source}: need a 1-D lead of at least 2 s for beat detection, got shape {sig.shape}")
    xqrs = processing.XQRS(sig=sig, fs=sfreq_hz)
    xqrs.detect(verbose=False)
    peaks = np.asarray(xqrs.qrs_inds, dtype=np.int64)
    if peaks.size < 2:
        raise InvalidRecordError(f"{source}: XQRS found {peaks.size} beats in {sig.size / sfreq_hz:.0f} s; is this an ECG lead?")
    radius = int(round(0.05 * sfreq_hz))
    corrected = processing.correct_peaks(sig, peaks, search_radius=radius, smooth_window_size=max(radius // 2, 1), peak_dir="compare")
    return np.unique(np.asarray(corrected, dtype=np.int64))
