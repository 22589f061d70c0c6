"""Bonn EEG reader: real segments read, and every bad file refused with an InvalidRecordError naming file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrnn import paths
from medrnn.errors import InvalidRecordError
from medrnn.io.bonn import BONN_SAMPLES, BONN_SFREQ_HZ, read_bonn


@pytest.fixture(scope="module")
def bonn_dir() -> Path:
    folder = paths.dataset_dir("bonn_eeg")
    if not (folder / "S" / "S001.txt").exists():
        pytest.skip(f"Bonn EEG not found under the data root ({folder})")
    return folder


def _write(path: Path, lines: list[str], newline: str = "\r\n") -> Path:
    path.write_bytes(newline.join(lines).encode("ascii") + newline.encode())
    return path


def test_reads_real_segments(bonn_dir: Path) -> None:
    for folder, name, letter in (("Z", "Z001.txt", "A"), ("N", "N001.TXT", "C"), ("S", "S100.txt", "E")):
        r = read_bonn(bonn_dir / folder / name)
        assert r.signal.shape == (1, BONN_SAMPLES) and r.signal.dtype == np.float32
        assert r.sfreq_hz == BONN_SFREQ_HZ and r.meta["set"] == letter and r.patient_id == r.record_id
        assert np.isfinite(r.signal).all() and np.abs(r.signal).max() <= 2048


def test_lf_line_endings_and_no_final_newline(tmp_path: Path) -> None:
    values = [str(v % 2000 - 100) for v in range(BONN_SAMPLES)]
    p = tmp_path / "S001.txt"
    p.write_text("\n".join(values))
    assert read_bonn(p).signal[0, 0] == -100


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "no samples"),
        (b"1\r\n2\r\n3\r\n", "3 samples, expected 4097"),
        ("\r\n".join(["1"] * 10 + ["abc"] + ["1"] * 4086).encode(), "line 11: sample 'abc' is not an integer"),
        ("\r\n".join(["1"] * 4096 + ["5000"]).encode(), "line 4097: sample 5000 outside the 12-bit"),
        ("\r\n".join(["1.5"] * 4097).encode(), "not an integer"),
        (b"\xff\xfe1\r\n", "not ASCII"),
    ],
)
def test_bad_files_are_refused_naming_file_and_field(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "Z001.txt"
    p.write_bytes(content)
    with pytest.raises(InvalidRecordError, match=match) as err:
        read_bonn(p)
    assert str(p) in str(err.value)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidRecordError, match="not found"):
        read_bonn(tmp_path / "nope.txt")
    with pytest.raises(InvalidRecordError, match="directory"):
        read_bonn(tmp_path)


def test_any_length_when_not_expected(tmp_path: Path) -> None:
    p = _write(tmp_path / "x.txt", ["1", "2", "3"])
    assert read_bonn(p, expected_samples=None).signal.shape == (1, 3)
