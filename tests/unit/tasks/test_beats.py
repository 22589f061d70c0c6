"""Beat task on real MIT-BIH records: AAMI labels, windows, RR context, and the errors of bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from medrnn.errors import InvalidRecordError
from medrnn.io import read_wfdb
from medrnn.records import Annotations
from medrnn.tasks.ecg_beats.beats import AAMI_CLASSES, aami_label, extract_beats
from medrnn.tasks.ecg_beats.config import BeatDataConfig


def test_aami_mapping_follows_ec57() -> None:
    expect = {
        "N": "N",
        "L": "N",
        "R": "N",
        "e": "N",
        "j": "N",
        "A": "S",
        "a": "S",
        "J": "S",
        "S": "S",
        "V": "V",
        "E": "V",
        "F": "F",
        "/": "Q",
        "f": "Q",
        "Q": "Q",
    }
    for symbol, cls in expect.items():
        assert AAMI_CLASSES[aami_label(symbol)] == cls
    for non_beat in '+~|x[]!"':
        assert aami_label(non_beat) is None
    with pytest.raises(InvalidRecordError, match="'Z' has no AAMI class"):
        aami_label("Z", "rec.atr")


@pytest.fixture(scope="module")
def record_119(mitdb_dir: Path):
    return read_wfdb(mitdb_dir / "119")


def test_extract_beats_on_record_119(record_119) -> None:
    cfg = BeatDataConfig()
    beats = extract_beats(record_119, cfg)
    # record 119: 1543 N and 444 V beats in the reference annotations (MIT-BIH directory)
    counts = beats.class_counts()
    dropped = sum(beats.dropped.values())
    assert counts["N"] + counts["V"] + dropped == 1543 + 444
    assert counts["V"] >= 440
    window = round(cfg.pre_s * 360) + round(cfg.post_s * 360)
    assert beats.x.shape == (len(beats), -(-window // cfg.downsample), 1)
    assert beats.rr.shape == (len(beats), 9)
    assert np.isfinite(beats.x).all() and np.isfinite(beats.rr).all()
    assert beats.sfreq_hz == 180.0
    # premature ventricular beats come early: their pre-RR is shorter than the local mean
    pre_over_local = beats.rr[:, 4]
    assert np.median(pre_over_local[beats.y == 2]) < np.median(pre_over_local[beats.y == 0])


def test_template_channel_and_detected_peaks(record_119) -> None:
    cfg = BeatDataConfig(channels="raw+template")
    peaks = record_119.annotations.sample[10:50]
    beats = extract_beats(record_119, cfg, peaks=peaks)
    assert beats.x.shape[2] == 2
    assert (beats.y == -1).all()  # labels unknown for detected peaks


def test_wrong_sampling_rate_is_an_error(record_119) -> None:
    with pytest.raises(InvalidRecordError, match="sampling rate 360 Hz, expected 250 Hz"):
        extract_beats(record_119, BeatDataConfig(sfreq_hz=250.0))


def test_unknown_symbol_and_missing_annotations_are_errors(record_119) -> None:
    ann = record_119.annotations
    bad = replace(record_119, annotations=Annotations(ann.sample, ("Z",) + ann.symbol[1:]))
    with pytest.raises(InvalidRecordError, match="'Z' has no AAMI class"):
        extract_beats(bad, BeatDataConfig())
    with pytest.raises(InvalidRecordError, match="no beat annotations"):
        extract_beats(replace(record_119, annotations=None), BeatDataConfig())


def test_missing_lead_is_named(record_119) -> None:
    with pytest.raises(InvalidRecordError, match="lead 'V2' not found"):
        extract_beats(record_119, BeatDataConfig(lead="V2"))
