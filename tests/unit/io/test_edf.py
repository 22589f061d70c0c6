"""EDF reader: round trip of files the test writes (MNE -> edfio), annotations, channel choice, units, rates, and every
corruption refused with an InvalidRecordError naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrnn.errors import InvalidRecordError
from medrnn.io.edf import read_edf

mne = pytest.importorskip("mne")


def write_edf(path: Path, sfreq_hz: float = 256.0, seconds: int = 10, channels: tuple[str, ...] = ("Fp1", "Cz"),
              annotations: bool = True, seed: int = 0) -> tuple[Path, np.ndarray]:  # fmt: skip
    """An EDF+ file of Gaussian EEG-like signals (volts in MNE, uV in the file); returns (path, data in uV)."""
    x = np.random.default_rng(seed).standard_normal((len(channels), int(sfreq_hz * seconds))) * 50e-6
    raw = mne.io.RawArray(x, mne.create_info(list(channels), sfreq_hz, "eeg"), verbose=False)
    if annotations:
        raw.set_annotations(mne.Annotations([1.0, 4.5], [2.0, 0.0], ["seizure", "artefact"]))
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose=False)
    return path, x * 1e6


def test_round_trip_values_units_annotations(tmp_path: Path) -> None:
    path, x = write_edf(tmp_path / "rec.edf")
    r = read_edf(path)
    assert r.lead_names == ("Fp1", "Cz") and r.units == ("uV", "uV") and r.sfreq_hz == 256.0
    assert r.signal.dtype == np.float32 and r.signal.shape == x.shape
    step = (np.abs(x).max() * 2) / 65535  # 16-bit quantisation of the file's physical range
    np.testing.assert_allclose(r.signal, x, atol=2 * step)
    assert r.annotations is not None and r.annotations.symbol == ("seizure", "artefact")
    assert r.annotations.sample.tolist() == [256, 1152] and r.annotations.aux_note == ("2", "0")
    assert r.record_id == "rec" and r.patient_id == "rec"


def test_channel_selection_and_order(tmp_path: Path) -> None:
    path, x = write_edf(tmp_path / "rec.edf", channels=("Fp1", "Cz", "O2"))
    r = read_edf(path, channels=["O2", "Fp1"])
    assert r.lead_names == ("O2", "Fp1")
    np.testing.assert_allclose(r.signal[0], x[2], atol=0.05)
    with pytest.raises(InvalidRecordError, match=r"channel 'T3' not found; the file has \['Fp1', 'Cz', 'O2'\]"):
        read_edf(path, channels=["T3"])


def test_sampling_rate_check(tmp_path: Path) -> None:
    path, _ = write_edf(tmp_path / "rec.edf")
    assert read_edf(path, expected_sfreq_hz=256).sfreq_hz == 256
    with pytest.raises(InvalidRecordError, match="sampling rate 256 Hz, expected 173.61 Hz"):
        read_edf(path, expected_sfreq_hz=173.61)


def test_plain_edf_without_annotations(tmp_path: Path) -> None:
    path, _ = write_edf(tmp_path / "rec.edf", annotations=False)
    assert read_edf(path, annotations=False).annotations is None


def _patch(path: Path, offset: int, text: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + len(text)] = text
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("offset", "text", "match"),
    [
        (0, b"9       ", "version field"),
        (236, b"abc     ", "number of data records 'abc' is not an integer"),
        (244, b"0       ", "duration of a data record 0 s"),
        (244, b"nan     ", "duration of a data record 'nan' is not finite"),
        (184, b"9999    ", "number of header bytes 9999"),
        (192, b"EDF+D   ", "discontinuous"),
    ],
)
def test_corrupt_header_fields_are_named(tmp_path: Path, offset: int, text: bytes, match: str) -> None:
    path, _ = write_edf(tmp_path / "rec.edf")
    _patch(path, offset, text)
    with pytest.raises(InvalidRecordError, match=match) as err:
        read_edf(path)
    assert str(path) in str(err.value)


def test_signal_fields_and_truncation(tmp_path: Path) -> None:
    path, _ = write_edf(tmp_path / "rec.edf")
    ns = 3  # Fp1, Cz, EDF Annotations
    phys_min_at = 256 + ns * (16 + 80 + 8)
    _patch(path, phys_min_at, b"oops    ")
    with pytest.raises(InvalidRecordError, match="physical minimum of signal 'Fp1' 'oops' is not a number"):
        read_edf(path)
    path, _ = write_edf(tmp_path / "rec2.edf")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InvalidRecordError, match="truncated"):
        read_edf(path)


def test_files_that_are_not_edf(tmp_path: Path) -> None:
    with pytest.raises(InvalidRecordError, match="not found"):
        read_edf(tmp_path / "none.edf")
    with pytest.raises(InvalidRecordError, match="directory"):
        read_edf(tmp_path)
    short = tmp_path / "short.edf"
    short.write_bytes(b"0       ")
    with pytest.raises(InvalidRecordError, match="shorter than the 256-byte EDF header"):
        read_edf(short)
    garbage = tmp_path / "garbage.edf"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InvalidRecordError):
        read_edf(garbage)
