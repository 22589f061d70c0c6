"""read_wfdb against hostile files: a 5-second cut of real MIT-BIH record 100, mutated byte by byte and field by field.

The property: the reader returns a valid record (finite signal, annotations inside it) or raises a MedrnnError
naming the file; no OSError, ValueError, IndexError... ever leaves it. Then one regression test per known failure.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import wfdb
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.io import read_wfdb
from medrnn.testing import replace_file
from medrnn.io.wfdb import MAX_ABS_PHYSICAL

N_SAMPLES = 1800  # 5 s at 360 Hz: 7 annotations, a 5,400-byte .dat
EXTREMES = ["1e-300", "1e308", "1e999", "inf", "nan", "-1", "0", "-0", "1e-30", "99999999999999999999", "-99999999999",
            "x" * 300, "1/0", "360(-5)", "200(99999999999)/mV", "212x99999999", "212+99999999", "212:999", "~", ".", "é"]  # fmt: skip


@pytest.fixture(scope="session")
def small_record(mitdb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Record 100 cut to its first 5 s, written back by wfdb with its true checksums and its 7 annotations."""
    folder = tmp_path_factory.mktemp("small-mitdb")
    record = wfdb.rdrecord(str(mitdb_dir / "100"), sampto=N_SAMPLES, physical=False)
    record.checksum = record.calc_checksum()
    record.wrsamp(write_dir=str(folder))
    ann = wfdb.rdann(str(mitdb_dir / "100"), "atr", sampto=N_SAMPLES)
    wfdb.wrann("100", "atr", ann.sample, symbol=ann.symbol, aux_note=ann.aux_note, write_dir=str(folder))
    return folder / "100"


@pytest.fixture
def small_copy(small_record: Path, tmp_path: Path) -> Path:
    """A writable copy of the small record for one test."""
    return _copy(small_record, tmp_path)


def _copy(record: Path, folder: Path) -> Path:
    for ext in ("hea", "dat", "atr"):
        shutil.copyfile(record.with_name(f"100.{ext}"), folder / f"100.{ext}")
    return folder / "100"


@contextmanager
def _fresh_copy(record: Path) -> Iterator[Path]:
    """A copy in a new folder for each hypothesis example (a fixture's tmp_path is shared by all examples)."""
    with tempfile.TemporaryDirectory() as folder:
        yield _copy(record, Path(folder))


def _assert_valid(record_base: Path, **kwargs: object) -> None:
    """The property: a valid record, or a MedrnnError that names the record's folder."""
    try:
        record = read_wfdb(record_base, **kwargs)
    except MedrnnError as err:
        assert str(record_base.parent) in str(err), f"the message does not name the file: {err}"
        return
    assert record.signal.dtype == np.float32 and record.signal.ndim == 2 and record.signal.shape[1] > 0
    assert record.signal.shape[0] == len(record.lead_names) == len(record.units)
    assert np.isfinite(record.signal).all() and np.abs(record.signal).max() <= MAX_ABS_PHYSICAL
    assert np.isfinite(record.sfreq_hz) and record.sfreq_hz > 0
    if record.annotations is not None:
        sample = record.annotations.sample
        assert len(sample) > 0 and sample.min() >= 0 and sample.max() < record.signal.shape[1]


pytestmark = pytest.mark.timeout(60)  # a reader that blocks (on a FIFO, say) fails instead of hanging the suite


# --- properties --------------------------------------------------------------------------------------------

FILES = st.sampled_from(["hea", "dat", "atr"])
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(
    ext=FILES, where=st.floats(0, 1), op=st.sampled_from(["flip", "truncate", "insert", "delete"]), data=st.binary(min_size=1, max_size=8)
)
def test_byte_mutations_never_leak(small_record: Path, ext: str, where: float, op: str, data: bytes) -> None:
    with _fresh_copy(small_record) as base:
        _mutate_bytes(base.with_name(f"100.{ext}"), where, op, data)
        _assert_valid(base)


def _mutate_bytes(path: Path, where: float, op: str, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    i = min(int(where * len(raw)), len(raw) - 1)
    if op == "flip":
        raw[i] ^= data[0] or 0x01
    elif op == "truncate":
        del raw[i:]
    elif op == "insert":
        raw[i:i] = data
    else:
        del raw[i : i + len(data)]
    path.write_bytes(bytes(raw))


@_SETTINGS
@given(line=st.integers(0, 2), token=st.integers(0, 8), value=st.sampled_from(EXTREMES) | st.text(max_size=12))
@example(line=1, token=2, value="1e-300")  # gain: infinite millivolts
@example(line=2, token=2, value="1e308")  # gain: every sample rounds to 0
@example(line=1, token=2, value="-1")
@example(line=0, token=2, value="99999999999999999999")  # sampling frequency
@example(line=0, token=3, value="0")  # number of samples
@example(line=1, token=4, value="99999999999")  # ADC zero, the baseline when none is given
@example(line=1, token=0, value="x" * 300)  # a .dat name too long for the file system
def test_header_field_substitutions_never_leak(small_record: Path, line: int, token: int, value: str) -> None:
    with _fresh_copy(small_record) as base:
        hea = base.with_name("100.hea")
        lines = hea.read_text().splitlines()
        tokens = lines[line].split()
        tokens[min(token, len(tokens) - 1)] = value
        lines[line] = " ".join(tokens)
        hea.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
        _assert_valid(base)


@_SETTINGS
@given(
    ext=FILES,
    kind=st.sampled_from(["empty", "directory", "dangling", "loop", "garbage", "non-utf8", "fifo"]),
    garbage=st.binary(max_size=64),
)
def test_replaced_files_never_leak(small_record: Path, ext: str, kind: str, garbage: bytes) -> None:
    with _fresh_copy(small_record) as base:
        contents = {"empty": b"", "garbage": garbage, "non-utf8": b"\xff\xfe100 2 360 1800\n\xc3\x28"}
        replace_file(base.with_name(f"100.{ext}"), kind, contents)
        _assert_valid(base)


@settings(max_examples=30, deadline=None)
@given(name=st.text(st.characters(codec="utf-8"), min_size=1, max_size=300))
def test_any_record_path_never_leaks(name: str) -> None:
    try:
        read_wfdb(name)
    except MedrnnError:
        pass


# --- regressions: each bullet of the hostile-user report ------------------------------------------------


def _edit_header(base: Path, old: str, new: str) -> None:
    hea = base.with_name("100.hea")
    text = hea.read_text()
    assert old in text
    hea.write_text(text.replace(old, new, 1))


def test_dat_name_too_long_for_the_file_system(small_copy: Path) -> None:
    long_name = "x" * 300 + ".dat"
    _edit_header(small_copy, "100.dat", long_name)
    with pytest.raises(InvalidRecordError, match=r"x\.dat: cannot access signal file named in header 100\.hea \(File name too long\)"):
        read_wfdb(small_copy)


@pytest.mark.parametrize("ext", ["hea", "dat", "atr"])
def test_dangling_symlink_and_directory(small_copy: Path, ext: str) -> None:
    path = small_copy.with_name(f"100.{ext}")
    path.unlink()
    path.symlink_to(path.with_name("elsewhere"))
    with pytest.raises(InvalidRecordError, match=rf"100\.{ext}: .*is a dangling symbolic link \(points to '.*elsewhere'"):
        read_wfdb(small_copy)
    path.unlink()
    path.mkdir()
    with pytest.raises(InvalidRecordError, match=rf"100\.{ext}: .*is a directory, expected a regular file"):
        read_wfdb(small_copy)


def test_unreadable_file(small_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, who can read a chmod-000 file: simulate the permission error instead.
    real_open = Path.open

    def guarded(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "100.dat":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded)
    with pytest.raises(InvalidRecordError, match=r"100\.dat: cannot open signal file named in header 100\.hea \(Permission denied"):
        read_wfdb(small_copy)


def test_tiny_gain_gives_infinite_samples(small_copy: Path) -> None:
    _edit_header(small_copy, "200.0(1024)", "1e-300(1024)")
    with pytest.raises(InvalidRecordError, match=r"100\.dat: lead 'MLII' has 1,800 samples beyond \+-1e\+18 mV .*ADC gain 1e-300"):
        read_wfdb(small_copy)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("200.0(1024)", "-1(1024)", r"100\.hea: signal 'MLII': ADC gain -1, expected a positive number"),
        ("200.0(1024)", "1e999(1024)", r"100\.hea: signal 'MLII': ADC gain inf, expected a positive number"),
        ("200.0(1024)", "1e308(1024)", r"100\.hea: signal 'MLII': ADC gain 1e\+308, expected .* at most 8.51e\+37 \(above it"),
        ("200.0(1024)", "inf(1024)", r"100\.hea: signal line .*: ADC gain 'inf\(1024\)/mV' is not valid"),
        ("200.0(1024)", "200.0(99999999999)", r"100\.hea: signal 'MLII': baseline 99,999,999,999 is outside the 32-bit range"),
        (" 11 1024 995", " 99 1024 995", r"100\.hea: signal 'MLII': ADC resolution 99 bits, expected 0 \(unknown\) to 32"),
        ("100 2 360 1800", "100 2 99999999 1800", r"100\.hea: sampling frequency 99999999 Hz, expected a positive number up to 1e\+06"),
        ("100 2 360 1800", "100 2 360 0", r"100\.hea: number of samples is 0"),
    ],
    ids=["gain-negative", "gain-overflow", "gain-underflow", "gain-text", "baseline", "adc-res", "fs-huge", "no-samples"],
)
def test_implausible_header_values(small_copy: Path, old: str, new: str, expected: str) -> None:
    _edit_header(small_copy, old, new)
    with pytest.raises(InvalidRecordError, match=expected):
        read_wfdb(small_copy)


def test_flipped_byte_fails_the_checksum(small_copy: Path) -> None:
    dat = small_copy.with_name("100.dat")
    data = bytearray(dat.read_bytes())
    data[3 * 100] ^= 0x01  # low bit of MLII's sample 100
    dat.write_bytes(bytes(data))
    expected = wfdb.rdheader(str(small_copy)).checksum[0] % 65536
    with pytest.raises(InvalidRecordError) as info:
        read_wfdb(small_copy)
    message = str(info.value)
    assert message.startswith(f"{dat}: signal 'MLII' checksum mismatch: header 100.hea field 'checksum' expects {expected} ")
    assert f"the file gives {(expected + 1) % 65536}" in message or f"the file gives {(expected - 1) % 65536}" in message
    assert read_wfdb(small_copy, leads=["V5"]).lead_names == ("V5",)  # the other signal's checksum still holds
    assert read_wfdb(small_copy, verify_checksum=False).signal.shape == (2, N_SAMPLES)


def test_zero_checksum_is_a_placeholder(small_copy: Path) -> None:
    # CinC 2017 headers write 0 for every checksum; it cannot be verified, so it is skipped.
    lines = small_copy.with_name("100.hea").read_text().splitlines()
    for i in (1, 2):
        tokens = lines[i].split()
        tokens[6] = "0"
        lines[i] = " ".join(tokens)
    small_copy.with_name("100.hea").write_text("\n".join(lines) + "\n")
    assert read_wfdb(small_copy).signal.shape == (2, N_SAMPLES)


@pytest.mark.parametrize("content", [b"", b"\x00\x00"], ids=["empty", "end-marker-only"])
def test_empty_annotation_file(small_copy: Path, content: bytes) -> None:
    small_copy.with_name("100.atr").write_bytes(content)
    with pytest.raises(InvalidRecordError, match=r"100\.atr: annotation file holds no annotations .*expected at least one"):
        read_wfdb(small_copy)
    assert read_wfdb(small_copy, annotation_extension=None).annotations is None


def test_annotations_past_the_cut_are_refused(small_copy: Path) -> None:
    wfdb.wrann("100", "atr", np.array([10, N_SAMPLES]), symbol=["N", "N"], write_dir=str(small_copy.parent))
    with pytest.raises(InvalidRecordError, match=r"100\.atr: 1 annotation\(s\) outside the signal, first #1 at sample 1,800"):
        read_wfdb(small_copy)


def test_small_record_reads_fast_and_intact(small_copy: Path, mitdb_dir: Path) -> None:
    start = time.perf_counter()
    record = read_wfdb(small_copy)
    assert time.perf_counter() - start < 1.0
    full = read_wfdb(mitdb_dir / "100", annotation_extension=None)
    np.testing.assert_array_equal(record.signal, full.signal[:, :N_SAMPLES])
    assert record.annotations is not None and record.annotations.symbol == ("+", "N", "N", "N", "N", "N", "N")
