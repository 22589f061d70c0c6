"""Bonn segments -> fixed-length windows, and splits by segment (a segment's windows all lie on one side).

The Bonn database publishes no patient identity: several segments of sets C, D and E come from one patient, and
which ones is not known, so a patient-wise split is impossible; the split unit here is the segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medrnn import paths
from medrnn.data.splits import Split, check_sizes
from medrnn.errors import ConfigError, DataNotFoundError, InvalidRecordError
from medrnn.io.bonn import read_bonn
from medrnn.records import SignalRecord
from medrnn.tasks.eeg_seizure.config import PROTOCOLS, SET_FOLDERS, EegDataConfig


@dataclass
class EegWindows:
    """Windows of one or more segments: x (n, time, 1) float32, y (n,) class (-1 unknown), segment id, start sample."""

    x: np.ndarray
    y: np.ndarray
    segment: np.ndarray  # (n,) str
    start: np.ndarray  # (n,) int64, first sample of the window in its segment
    sfreq_hz: float
    notes: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: np.ndarray) -> EegWindows:
        i = np.asarray(index, dtype=np.int64)
        return EegWindows(self.x[i], self.y[i], self.segment[i], self.start[i], self.sfreq_hz, dict(self.notes))

    @staticmethod
    def concat(parts: list[EegWindows], sfreq_hz: float) -> EegWindows:
        if not parts:
            return EegWindows(np.zeros((0, 1, 1), np.float32), np.zeros(0, np.int64), np.zeros(0, str), np.zeros(0, np.int64), sfreq_hz)
        return EegWindows(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                          np.concatenate([p.segment for p in parts]), np.concatenate([p.start for p in parts]), sfreq_hz)  # fmt: skip


def window_samples(config: EegDataConfig) -> tuple[int, int]:
    """(window length, stride) in samples at the configured rate."""
    return max(2, round(config.window_s * config.sfreq_hz)), max(1, round(config.stride_s * config.sfreq_hz))


def cut_windows(signal: np.ndarray, segment_id: str, label: int, config: EegDataConfig, source: str = "") -> EegWindows:
    """Windows of one channel (n_samples,), each standardised on its own (zero mean, unit std): the model sees shape and
    rhythm, not the amplitude units of the file (ADC units in Bonn, uV in an EDF)."""
    length, stride = window_samples(config)
    n = signal.shape[0]
    if n < length:
        raise InvalidRecordError(f"{source or segment_id}: {n} samples ({n / config.sfreq_hz:.2f} s) is shorter than one window "
                                 f"of {config.window_s:g} s; pass a longer signal or train with a shorter data.window_s")  # fmt: skip
    starts = np.arange(0, n - length + 1, stride, dtype=np.int64)
    x = np.stack([signal[s : s + length] for s in starts]).astype(np.float32)
    x = (x - x.mean(axis=1, keepdims=True)) / np.maximum(x.std(axis=1, keepdims=True), 1e-6)
    return EegWindows(x[:, :, None], np.full(len(starts), label, np.int64), np.full(len(starts), segment_id), starts, config.sfreq_hz)


def segment_files(config: EegDataConfig) -> list[tuple[Path, str]]:
    """(file, set letter) of every segment the protocol uses, sorted by name; the first N per set with max_segments_per_set."""
    folder = paths.resolve_dataset(config.dataset)
    if not folder.is_dir():
        raise DataNotFoundError(f"{folder}: Bonn EEG folder not found (data.dataset={config.dataset!r}); put the sets' folders "
                                "Z, O, N, F, S there (Andrzejak 2001, see docs) or pass data.dataset as a folder path")  # fmt: skip
    out = []
    for letter in PROTOCOLS[config.protocol][1]:
        sub = folder / SET_FOLDERS[letter]
        files = sorted(p for p in sub.glob("*") if p.suffix.lower() == ".txt") if sub.is_dir() else []
        if not files:
            raise ConfigError(f"{sub}: no segment files of Bonn set {letter}; expected {SET_FOLDERS[letter]}001.txt ... "
                              f"under {folder}")  # fmt: skip
        out += [(p, letter) for p in files[: config.max_segments_per_set]]
    return out


def load_windows(config: EegDataConfig) -> tuple[EegWindows, dict[str, str]]:
    """Windows of every segment of the protocol, labelled; returns (windows, {file: error}) for unreadable files."""
    classes = PROTOCOLS[config.protocol][1]
    parts, errors = [], {}
    for path, letter in segment_files(config):
        try:
            record = read_bonn(path)
            parts.append(cut_windows(record.signal[0], f"{letter}/{record.record_id}", classes[letter], config, str(path)))
        except InvalidRecordError as err:
            errors[str(path)] = str(err)
    if not parts:
        raise InvalidRecordError(f"{paths.resolve_dataset(config.dataset)}: no segment could be read: {errors}")
    return EegWindows.concat(parts, config.sfreq_hz), errors


def segment_folds(segments: np.ndarray, labels: np.ndarray, k: int, seed: int) -> dict[str, int]:
    """Fold (0..k-1) of every segment, stratified by the segment's class and seeded: segments sorted, then shuffled
    within each class and dealt to the folds in turn."""
    segs, first = np.unique(np.asarray(segments).astype(str), return_index=True)
    seg_label = np.asarray(labels)[first]
    rng = np.random.default_rng(seed)
    fold: dict[str, int] = {}
    offset = 0
    for c in np.unique(seg_label):
        members = segs[seg_label == c]
        for j, s in enumerate(rng.permutation(members)):
            fold[str(s)] = (offset + j) % k
        offset += len(members)  # the next class starts where this one stopped: folds stay the same size
    return fold


def split_by_segment(windows: EegWindows, config: EegDataConfig, seed: int) -> Split:
    """Train / val / test positions of the windows, whole segments on each side, stratified by class.

    cv: k folds, test = fold `fold`, validation = fold `fold + 1`, training the rest. fixed: `sizes` of the segments of
    each class (0.6 / 0.2 / 0.2), as 5 folds would give 3 / 1 / 1 when the sizes are the default.
    """
    if config.split == "cv":
        fold = segment_folds(windows.segment, windows.y, config.folds, seed)
        f = np.array([fold[s] for s in windows.segment.astype(str)])
        test, val = f == config.fold, f == (config.fold + 1) % config.folds
    else:
        train_f, val_f, _ = check_sizes(config.sizes)
        segs, first = np.unique(windows.segment.astype(str), return_index=True)
        seg_label = windows.y[first]
        rng = np.random.default_rng(seed)
        side: dict[str, int] = {}
        for c in np.unique(seg_label):
            members = rng.permutation(segs[seg_label == c])
            n_train, n_val = round(train_f * len(members)), round(val_f * len(members))
            for j, s in enumerate(members):
                side[str(s)] = 0 if j < n_train else (1 if j < n_train + n_val else 2)
        f = np.array([side[s] for s in windows.segment.astype(str)])
        test, val = f == 2, f == 1
    pos = np.arange(len(windows), dtype=np.int64)
    return Split(pos[~(test | val)], pos[val], pos[test])


def resample_for_model(record: SignalRecord, channel: int, sfreq_hz: float) -> tuple[np.ndarray, dict[str, float]]:
    """One channel at the model's rate: as is when the rates agree; else band-passed 0.53-40 Hz (the Bonn band) and
    linearly interpolated onto the model's sample times."""
    x = record.signal[channel].astype(np.float64)
    if abs(record.sfreq_hz - sfreq_hz) <= 1e-6 * sfreq_hz:
        return x, {}
    if record.sfreq_hz < 2 * 40.0 + 1:
        raise InvalidRecordError(f"{record.source}: sampling rate {record.sfreq_hz:g} Hz is too low to resample to "
                                 f"{sfreq_hz:g} Hz with the 0.53-40 Hz band of the training data (need > 81 Hz)")  # fmt: skip
    from medrnn.transforms import bandpass

    x = bandpass(x, record.sfreq_hz, 0.53, 40.0).astype(np.float64)
    t_in = np.arange(x.shape[0]) / record.sfreq_hz
    t_out = np.arange(int(np.floor(t_in[-1] * sfreq_hz)) + 1) / sfreq_hz
    return np.interp(t_out, t_in, x), {"resampled_from_hz": float(record.sfreq_hz)}


def segment_scores(segment: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(segment ids in first-seen order, mean window probabilities per segment (n_segments, classes))."""
    segment = np.asarray(segment).astype(str)
    ids, first, inverse = np.unique(segment, return_index=True, return_inverse=True)
    order = np.argsort(first)
    sums = np.zeros((len(ids), probs.shape[1]))
    np.add.at(sums, inverse, probs)
    mean = sums / np.bincount(inverse, minlength=len(ids))[:, None]
    return ids[order], mean[order]
