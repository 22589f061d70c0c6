"""read_wfdb on real MIT-BIH record 100, then on corrupted copies of it: every check names file and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import wfdb

from medrnn.errors import InvalidRecordError
from medrnn.io import read_wfdb
from medrnn.registry import READERS

Copy = Callable[..., Path]


def _edit_header(base: Path, old: str, new: str) -> None:
    hea = base.with_name(base.name + ".hea")
    text = hea.read_bytes().decode("latin-1")
    assert old in text
    hea.write_bytes(text.replace(old, new, 1).encode("latin-1"))


def _set_checksums(base: Path) -> None:
    """Write the samples' true checksums into the header, as a writer of a record with real gaps would."""
    record = wfdb.rdrecord(str(base), physical=False, smooth_frames=False, return_res=64)
    hea = base.with_name(base.name + ".hea")
    lines = hea.read_text().splitlines()
    for i, checksum in enumerate(record.calc_checksum(expanded=True), start=1):
        tokens = lines[i].split()
        tokens[6] = str(checksum)
        lines[i] = " ".join(tokens)
    hea.write_text("\n".join(lines) + "\n")


# --- the real record -------------------------------------------------------------------------------


def test_reads_record_100(mitdb_dir: Path) -> None:
    record = read_wfdb(mitdb_dir / "100")
    assert record.signal.shape == (2, 650000)
    assert record.signal.dtype == np.float32
    assert record.sfreq_hz == 360.0
    assert record.lead_names == ("MLII", "V5")
    assert record.units == ("mV", "mV")
    assert record.record_id == record.patient_id == "100"
    assert record.source == str(mitdb_dir / "100")
    assert -5 < float(record.signal.min()) < float(record.signal.max()) < 5  # millivolts, not ADC units
    ann = record.annotations
    assert ann is not None and len(ann) == 2274
    assert ann.sample.dtype == np.int64 and len(ann.aux_note) == 2274
    assert ann.symbol[:2] == ("+", "N")
    assert ann.aux_note[0] == "(N"  # wfdb returns "(N\x00": the NUL padding is stripped
    assert ann.symbol.count("N") == 2239 and ann.symbol.count("A") == 33 and ann.symbol.count("V") == 1


def test_hea_path_leads_patient_and_no_annotations(mitdb_dir: Path) -> None:
    record = read_wfdb(mitdb_dir / "202.hea", leads=["V1"], patient_id="201", annotation_extension=None)
    assert record.signal.shape == (1, 650000)
    assert record.lead_names == ("V1",)
    assert (record.record_id, record.patient_id) == ("202", "201")
    assert record.annotations is None


def test_lead_order_follows_request(mitdb_dir: Path) -> None:
    both = read_wfdb(mitdb_dir / "100", annotation_extension=None)
    swapped = read_wfdb(str(mitdb_dir / "100"), leads=["V5", "MLII"], annotation_extension=None)
    assert swapped.lead_names == ("V5", "MLII")
    np.testing.assert_array_equal(swapped.signal[::-1], both.signal)


def test_registered_as_reader() -> None:
    assert READERS.get("wfdb") is read_wfdb


def test_missing_annotation_file_is_not_an_error(record_copy: Copy) -> None:
    base = record_copy()
    base.with_name("100.atr").unlink()
    assert read_wfdb(base).annotations is None


# --- header and signal files ---------------------------------------------------------------------------


def test_missing_header(tmp_path: Path) -> None:
    with pytest.raises(InvalidRecordError, match=r"100\.hea: header file not found"):
        read_wfdb(tmp_path / "100")


def test_missing_dat(record_copy: Copy) -> None:
    base = record_copy()
    base.with_name("100.dat").unlink()
    with pytest.raises(InvalidRecordError, match=r"100\.dat: signal file named in header 100\.hea not found"):
        read_wfdb(base)


def test_truncated_dat(record_copy: Copy) -> None:
    base = record_copy()
    dat = base.with_name("100.dat")
    dat.write_bytes(dat.read_bytes()[:1_200_000])
    with pytest.raises(InvalidRecordError) as info:
        read_wfdb(base)
    message = str(info.value)
    assert str(dat) in message
    assert "file has 1,200,000 bytes, header 100.hea declares 650,000 samples x 2 signals in format 212" in message
    assert "= 1,950,000 bytes" in message and "truncated download?" in message
    assert "`medrnn data fetch mitdb`" in message


def test_oversize_dat(record_copy: Copy) -> None:
    base = record_copy()
    with base.with_name("100.dat").open("ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(InvalidRecordError, match=r"file has 1,950,010 bytes.*= 1,950,000 bytes \(extra bytes"):
        read_wfdb(base)


def test_header_sample_count_mismatch(record_copy: Copy) -> None:
    base = record_copy()
    _edit_header(base, "100 2 360 650000", "100 2 360 650001")
    with pytest.raises(InvalidRecordError, match=r"1,950,000 bytes, header 100\.hea declares 650,001 samples.*= 1,950,003"):
        read_wfdb(base)


def test_signal_length_differs_from_header(mitdb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = wfdb.rdrecord

    def short(*args: object, **kwargs: object) -> wfdb.Record:
        record = real(*args, **kwargs)
        record.e_d_signal = [channel[:1000] for channel in record.e_d_signal]  # read_wfdb reads expanded digital samples
        return record

    monkeypatch.setattr(wfdb, "rdrecord", short)
    with pytest.raises(InvalidRecordError, match=r"100\.dat: read 1,000 samples, header declares 650,000"):
        read_wfdb(mitdb_dir / "100", verify_checksum=False)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", r"header has no record line"),
        (b"\xff\xfe\x00garbage\x00 \x01\n", r"record name .* is not valid"),
        (b"hello world\n", r"number of signals 'world' is not valid"),
        # wfdb alone would read this as a 250 Hz record of unknown length
        (
            b"100 2 abc 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n100.dat 212 200 11 1024 1011 20052 0 V5\n",
            r"sampling frequency 'abc' is not valid .*'100 2 360 650000'",
        ),
        (
            b"100 2 0 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n100.dat 212 200 11 1024 1011 20052 0 V5\n",
            r"sampling frequency 0 Hz, expected a positive number",
        ),
        (
            b"100 3 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n100.dat 212 200 11 1024 1011 20052 0 V5\n",
            r"declares 3 signals but the header has 2 signal lines",
        ),
        (
            b"100 2 360 650000\n100.dat 999 200 11 1024 995 -22131 0 MLII\n100.dat 999 200 11 1024 1011 20052 0 V5\n",
            r"signal 'MLII' has format 999, expected one of the WFDB formats 8, 16,",
        ),
        (
            b"100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n!!! garbage\n",
            r"100\.hea: signal line '!!! garbage': file name '!!!' is not valid",
        ),
    ],
    ids=["empty", "binary", "text", "fs-not-a-number", "fs-zero", "signal-count", "format", "signal-line"],
)
def test_corrupt_header(record_copy: Copy, content: bytes, expected: str) -> None:
    base = record_copy()
    base.with_name("100.hea").write_bytes(content)
    with pytest.raises(InvalidRecordError, match=expected) as info:
        read_wfdb(base)
    assert str(base.with_name("100.hea")) in str(info.value)


def test_nan_samples(record_copy: Copy) -> None:
    # Format 212 packs two 12-bit samples in 3 bytes; -2048 (0x800) is the WFDB "invalid value" code.
    base = record_copy()
    dat = base.with_name("100.dat")
    data = bytearray(dat.read_bytes())
    for frame in (1000, 5000):
        data[3 * frame] = 0x00  # low 8 bits of MLII
        data[3 * frame + 1] = (data[3 * frame + 1] & 0xF0) | 0x08  # high 4 bits of MLII
    dat.write_bytes(bytes(data))
    _set_checksums(base)  # a record with genuine gaps: the checksum covers the invalid-value codes
    with pytest.raises(InvalidRecordError, match=r"lead 'MLII' has 2 invalid \(NaN\) samples, first at sample 1,000"):
        read_wfdb(base)
    assert read_wfdb(base, leads=["V5"]).signal.shape == (1, 650000)  # the other lead is intact


def test_unexpected_sampling_rate(mitdb_dir: Path) -> None:
    with pytest.raises(InvalidRecordError, match=r"100\.hea: sampling rate 360 Hz, expected 250 Hz \(resample"):
        read_wfdb(mitdb_dir / "100", expected_sfreq_hz=250)
    assert read_wfdb(mitdb_dir / "100", expected_sfreq_hz=360.0, annotation_extension=None).sfreq_hz == 360.0


def test_missing_lead(mitdb_dir: Path) -> None:
    with pytest.raises(InvalidRecordError, match=r"lead\(s\) \['V1'\] not found; the record has \['MLII', 'V5'\]"):
        read_wfdb(mitdb_dir / "100", leads=["MLII", "V1"])


# --- annotations ---------------------------------------------------------------------------------------


def _write_atr(base: Path, sample: list[int], symbol: list[str], **kwargs: object) -> None:
    wfdb.wrann(base.name, "atr", np.array(sample), symbol=symbol, write_dir=str(base.parent), **kwargs)


def test_unknown_symbol_from_custom_label(record_copy: Copy) -> None:
    # wrann turns an unknown symbol into a '"' note unless it is declared as a custom label.
    base = record_copy()
    _write_atr(base, [10, 20, 30], ["N", "Z", "N"], custom_labels=[(45, "Z", "made-up beat")])
    with pytest.raises(InvalidRecordError, match=r"100\.atr: annotation 1 at sample 20 has symbol 'Z', not a standard"):
        read_wfdb(base)


def test_undefined_annotation_code(record_copy: Copy) -> None:
    # Raw MIT annotation bytes: 16-bit little-endian words, code << 10 | sample delta; code 45 is undefined
    # and wfdb maps it to a NaN symbol.
    base = record_copy()
    base.with_name("100.atr").write_bytes(bytes([0x0A, 0x04, 0x0A, 45 << 2, 0x00, 0x00]))
    with pytest.raises(InvalidRecordError, match=r"annotation 1 at sample 20 has symbol undefined code \(nan\)"):
        read_wfdb(base)


def test_annotation_outside_signal(record_copy: Copy) -> None:
    base = record_copy()
    _write_atr(base, [10, 649_999, 650_000, 700_000], ["N", "N", "N", "V"])
    with pytest.raises(InvalidRecordError, match=r"100\.atr: 2 annotation\(s\) outside the signal, first #2 at sample 650,000"):
        read_wfdb(base)


def test_custom_annotation_extension(record_copy: Copy) -> None:
    base = record_copy()
    wfdb.wrann("100", "qrs", np.array([5, 400]), symbol=["N", "V"], write_dir=str(base.parent))
    ann = read_wfdb(base, annotation_extension="qrs").annotations
    assert ann is not None
    assert ann.symbol == ("N", "V") and ann.sample.tolist() == [5, 400] and ann.aux_note == ("", "")
