"""The neighbouring beats of every beat, for the rhythm model: a window of 2K + 1 consecutive beats of the same record
centred on the beat, each with its signal window and RR context, and a flag that is 0 where the window runs past the
record's first or last beat (those steps hold zeros). Built per record, so no window ever crosses into another record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BeatContext:
    """x (n, 2K+1, time', channels) float16 signal windows, rr (n, 2K+1, rr features) raw, valid (n, 2K+1) bool."""

    x: np.ndarray
    rr: np.ndarray
    valid: np.ndarray

    def subset(self, index: np.ndarray) -> BeatContext:
        """The neighbourhoods of the beats at `index` (positions or a mask)."""
        return BeatContext(self.x[index], self.rr[index], self.valid[index])

    @staticmethod
    def concat(parts: list[BeatContext]) -> BeatContext:
        """Neighbourhoods of several beat sets, in order."""
        return BeatContext(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("x", "rr", "valid")))


def neighbour_index(record: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2k+1) row indices of each beat's neighbours (itself at the centre) and whether each is a beat of its record.

    Beats of a record must be consecutive rows in time order (as `extract_beats` and `BeatSet.concat` keep them)."""
    n = len(record)
    index = np.arange(n)[:, None] + np.arange(-k, k + 1)[None, :]
    inside = (index >= 0) & (index < n)
    index = index.clip(0, max(n - 1, 0))
    valid = inside & (record[index] == record[:, None]) if n else inside
    return index, valid


def beat_context(x: np.ndarray, rr: np.ndarray, record: np.ndarray, k: int, decimate: int = 1) -> BeatContext:
    """The 2k+1-beat neighbourhood of every beat: windows (decimated in time by `decimate`), RR contexts, flags."""
    index, valid = neighbour_index(np.asarray(record), k)
    windows = x[:, ::decimate]
    cx = (windows[index] * valid[..., None, None]).astype(np.float16)
    crr = (rr[index] * valid[..., None]).astype(np.float32)
    return BeatContext(cx, crr, valid)


__all__ = ["BeatContext", "beat_context", "neighbour_index"]
