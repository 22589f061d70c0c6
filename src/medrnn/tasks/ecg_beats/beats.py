"""Heartbeat classification task: an ECG record -> one sample per beat, labelled with AAMI EC57 classes.

Inputs: a window of one lead around each R peak (plus optional median-beat difference channel) and the
beat's RR-interval context. Output: one of N, S, V, F, Q. Split unit: the record (patient).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.records import SignalRecord
from medrnn.tasks.ecg_beats.config import BeatDataConfig
from medrnn.tasks.ecg_beats.context import BeatContext, beat_context
from medrnn.transforms import bandpass, beat_windows, rr_context

AAMI_CLASSES = ("N", "S", "V", "F", "Q")
# ANSI/AAMI EC57 grouping of MIT-BIH beat symbols (de Chazal 2004, table I).
AAMI_MAP: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),  # normal, bundle branch blocks, atrial/nodal escape
    **dict.fromkeys("AaJS", "S"),  # supraventricular ectopic beats
    **dict.fromkeys("VE", "V"),  # ventricular ectopic beats
    "F": "F",  # fusion of ventricular and normal
    **dict.fromkeys("/fQ", "Q"),  # paced, fusion of paced and normal, unclassifiable
}
# WFDB annotation symbols that mark something other than a beat (rhythm, noise, signal quality, flutter waves).
NON_BEAT_SYMBOLS = frozenset("+~|x[]!\"@()pt^u`'s=TD*{}")


def aami_label(symbol: str, source: str = "") -> int | None:
    """AAMI class index of a beat symbol; None for a non-beat annotation; an unknown symbol raises."""
    if symbol in AAMI_MAP:
        return AAMI_CLASSES.index(AAMI_MAP[symbol])
    if symbol in NON_BEAT_SYMBOLS:
        return None
    raise InvalidRecordError(
        f"{source or 'annotations'}: beat symbol {symbol!r} has no AAMI class; "
        f"known beat symbols: {''.join(sorted(AAMI_MAP))}, non-beat: {''.join(sorted(NON_BEAT_SYMBOLS))}"
    )


@dataclass
class BeatSet:
    """Beats of one or more records: x (n, time, channels), rr (n, 9), y (n,), with their origin."""

    x: np.ndarray
    rr: np.ndarray
    y: np.ndarray  # int64 AAMI index, -1 where unknown (a new record without reference labels)
    sample: np.ndarray  # R-peak sample index in the raw record
    record: np.ndarray  # record id of every beat (str)
    sfreq_hz: float  # rate of x after downsampling
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count (e.g. "edge": 3)
    context: BeatContext | None = None  # each beat's neighbouring beats (data.context_beats > 0: the rhythm model's input)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, mask: np.ndarray) -> BeatSet:
        context = None if self.context is None else self.context.subset(mask)
        return BeatSet(self.x[mask], self.rr[mask], self.y[mask], self.sample[mask], self.record[mask], self.sfreq_hz,
                       dict(self.dropped), context)  # fmt: skip

    def class_counts(self, classes: tuple[str, ...] = AAMI_CLASSES) -> dict[str, int]:
        return {name: int((self.y == i).sum()) for i, name in enumerate(classes)}

    @staticmethod
    def concat(sets: list[BeatSet]) -> BeatSet:
        if not sets:
            raise ConfigError("no beat sets to concatenate")
        dropped: dict[str, int] = {}
        for s in sets:
            for k, v in s.dropped.items():
                dropped[k] = dropped.get(k, 0) + v
        return BeatSet(
            np.concatenate([s.x for s in sets]),
            np.concatenate([s.rr for s in sets]),
            np.concatenate([s.y for s in sets]),
            np.concatenate([s.sample for s in sets]),
            np.concatenate([s.record for s in sets]),
            sets[0].sfreq_hz,
            dropped,
            BeatContext.concat([s.context for s in sets]) if all(s.context is not None for s in sets) else None,
        )

    def with_context(self, k: int, decimate: int) -> BeatSet:
        """These beats with each one's 2k+1-beat neighbourhood in its record (k = 0: none)."""
        if k <= 0:
            return self
        return BeatSet(self.x, self.rr, self.y, self.sample, self.record, self.sfreq_hz, dict(self.dropped),
                       beat_context(self.x, self.rr, self.record, k, decimate))  # fmt: skip


def reference_beats(record: SignalRecord) -> tuple[np.ndarray, np.ndarray]:
    """R-peak samples and AAMI labels of the annotated beats of a record (non-beat annotations skipped)."""
    if record.annotations is None:
        raise InvalidRecordError(f"{record.source or record.record_id}: no beat annotations (.atr) to label beats with")
    ann = record.annotations
    labels = [aami_label(s, record.source) for s in ann.symbol]
    is_beat = np.array([lab is not None for lab in labels], dtype=bool)
    y = np.array([lab for lab in labels if lab is not None], dtype=np.int64)
    return np.asarray(ann.sample, dtype=np.int64)[is_beat], y


def extract_beats(
    record: SignalRecord,
    config: BeatDataConfig,
    peaks: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> BeatSet:
    """Cut one sample per beat from a record.

    With `peaks=None` the reference annotations give both peaks and AAMI labels; a new record passes
    detected `peaks` (labels unknown, -1). Windows crossing a record edge are dropped and counted.
    """
    source = record.source or record.record_id
    if abs(record.sfreq_hz - config.sfreq_hz) > 1e-6:
        raise InvalidRecordError(
            f"{source}: sampling rate {record.sfreq_hz:g} Hz, expected {config.sfreq_hz:g} Hz "
            "(resample the record, or train a model at this rate with data.sfreq_hz)"
        )
    if peaks is None:
        peaks, labels = reference_beats(record)
    peaks = np.asarray(peaks, dtype=np.int64)
    labels = np.full(peaks.shape, -1, np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    if peaks.shape[0] < 2:
        raise InvalidRecordError(f"{source}: {peaks.shape[0]} beat(s) found; at least 2 are needed for RR intervals")

    lead = record.lead(config.lead).astype(np.float64)
    if config.filter:
        lead = bandpass(lead, record.sfreq_hz, *config.bandpass_hz)
    # per-record amplitude scale: gains and electrode contact differ between patients
    lead = (lead - np.median(lead)) / max(float(np.std(lead)), 1e-6)

    pre = round(config.pre_s * record.sfreq_hz)
    post = round(config.post_s * record.sfreq_hz)
    windows, kept = beat_windows(lead.astype(np.float32), peaks, pre, post)
    windows = windows[:, :: config.downsample]
    # patient-adaptive: most beats are the patient's normal ones, so the median beat is their template
    template = windows - np.median(windows, axis=0, keepdims=True)
    chosen = {"raw": [windows], "template": [template], "raw+template": [windows, template]}[config.channels]
    x = np.stack(chosen, axis=-1).astype(np.float32)  # (n, time, channels)
    rr = rr_context(peaks, record.sfreq_hz, config.local_rr_beats)[kept]
    n_edge = int((~kept).sum())
    return BeatSet(
        x=x,
        rr=rr,
        y=labels[kept],
        sample=peaks[kept],
        record=np.full(int(kept.sum()), record.record_id),
        sfreq_hz=record.sfreq_hz / config.downsample,
        dropped={"window crosses record edge": n_edge} if n_edge else {},
    )
