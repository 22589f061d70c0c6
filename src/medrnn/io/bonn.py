"""Bonn EEG reader (Andrzejak et al. 2001, sets A-E): one text file, one integer sample per line -> SignalRecord.

Each file is a single-channel 23.6 s segment: 4097 integer samples of a 12-bit ADC at 173.61 Hz, no header. The
files carry no units and no patient; the record is returned in the file's integer units (`units=("adu",)`), and
its patient is the segment itself, because the source publishes no segment-to-patient mapping. Nothing but a
MedrnnError leaves `read_bonn`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medrnn.io.files import regular_file
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.records import SignalRecord
from medrnn.registry import READERS

BONN_SFREQ_HZ = 173.61
BONN_SAMPLES = 4097
BONN_ADC_BITS = 12
# folder (as distributed) -> set letter of the paper; the file name starts with the folder letter (Z001.txt, N001.TXT)
BONN_SETS: dict[str, str] = {"Z": "A", "O": "B", "N": "C", "F": "D", "S": "E"}
_MAX_BYTES = 1 << 20  # a real segment is ~20 kB; never read a huge file as text


def _read_bytes(path: Path) -> bytes:
    info = regular_file(path, "Bonn EEG file", "expected one segment file such as .../bonn_eeg/S/S001.txt")
    if info.st_size == 0:
        raise InvalidRecordError(f"{path}: file is empty, expected {BONN_SAMPLES} integer samples, one per line")
    if info.st_size > _MAX_BYTES:
        raise InvalidRecordError(f"{path}: {info.st_size:,} bytes, expected a small text file (at most {_MAX_BYTES:,})")
    try:
        return path.read_bytes()
    except OSError as err:
        raise InvalidRecordError(f"{path}: cannot read Bonn EEG file ({err.strerror or err}; check its permissions)") from err


def _parse(path: Path, raw: bytes, expected_samples: int | None, adc_bits: int) -> np.ndarray:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise InvalidRecordError(f"{path}: byte {err.start} is not ASCII; a Bonn segment holds integers, one per line") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines (a final CRLF) are not samples
        lines.pop()
    if not lines:
        raise InvalidRecordError(f"{path}: no samples (only blank lines), expected {expected_samples or 'some'} integers")
    values = np.empty(len(lines), dtype=np.int64)
    for i, line in enumerate(lines):
        token = line.strip()
        try:
            values[i] = int(token)
        except ValueError:
            raise InvalidRecordError(f"{path}: line {i + 1}: sample {token[:40]!r} is not an integer (one integer per line)") from None
    if expected_samples is not None and len(values) != expected_samples:
        raise InvalidRecordError(f"{path}: {len(values)} samples, expected {expected_samples} (a Bonn segment is 23.6 s at "
                                 f"{BONN_SFREQ_HZ} Hz); the file is truncated or is not a Bonn segment")  # fmt: skip
    limit = 2 ** (adc_bits - 1)
    bad = np.flatnonzero((values < -limit) | (values >= limit))
    if bad.size:
        raise InvalidRecordError(f"{path}: line {bad[0] + 1}: sample {values[bad[0]]} outside the {adc_bits}-bit ADC range "
                                 f"[{-limit}, {limit - 1}] ({bad.size} such samples)")  # fmt: skip
    return values


def bonn_set(path: str | Path) -> str | None:
    """The set letter (A-E) of a Bonn file from its name's first letter (Z001.txt -> A), or None when it has none."""
    name = Path(path).name
    return BONN_SETS.get(name[:1].upper()) if name else None


@READERS.register("bonn")
def read_bonn(path: str | Path, *, expected_samples: int | None = BONN_SAMPLES, adc_bits: int = BONN_ADC_BITS) -> SignalRecord:
    """Read one Bonn EEG segment file (`.../S/S001.txt`) into a validated single-channel SignalRecord.

    Parameters
    ----------
    path : the segment's text file (CRLF or LF line endings).
    expected_samples : samples the file must hold (4097); None accepts any non-empty count.
    adc_bits : samples must lie in the signed range of this ADC resolution.

    Returns a SignalRecord with signal float32 (1, n_samples) in ADC units, 173.61 Hz, lead "EEG", record and
    patient id the file's stem (the source publishes no patient identity), meta["set"] the set letter when known.

    Raises
    ------
    InvalidRecordError
        Naming the file and line: missing, not a regular file, empty, oversize, not ASCII, a non-integer line, a
        wrong number of samples, a sample outside the ADC range. No other exception type leaves this function.
    """
    try:
        try:
            p = Path(path).expanduser()
        except (RuntimeError, TypeError) as err:
            raise InvalidRecordError(f"{path!r}: not a usable file path ({err})") from err
        values = _parse(p, _read_bytes(p), expected_samples, adc_bits)
        record_id = p.stem
        letter = bonn_set(p)
        return SignalRecord(
            signal=values.astype(np.float32)[None, :],
            sfreq_hz=BONN_SFREQ_HZ,
            lead_names=("EEG",),
            record_id=record_id,
            patient_id=record_id,
            units=("adu",),
            source=os.fspath(p),
            meta={"set": letter} if letter else {},
        )
    except MedrnnError:
        raise
    except Exception as err:  # noqa: BLE001  last resort: a reader never lets a foreign exception out
        raise InvalidRecordError(f"{path}: unexpected {type(err).__name__} while reading the Bonn EEG file ({err}); "
                                 "please report it with the file") from err  # fmt: skip
