"""WFDB reader: `.hea` + `.dat` (+ `.atr`) -> SignalRecord, validated before wfdb sees the files.

wfdb's own failures on bad files are obscure (a truncated `.dat` gives "could not broadcast input
array") or silent (a non-numeric sampling rate in the header becomes 250 Hz, a gain of 1e-300 gives
infinite millivolts, a flipped byte in the `.dat` passes, an undefined annotation code becomes a NaN
symbol), so every check below runs first and names the file and the field. Nothing but a MedrnnError
leaves `read_wfdb`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medrnn.io.files import regular_file
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.records import Annotations, SignalRecord
from medrnn.registry import READERS
from medrnn.io.wfdb_header import (  # noqa: F401  (MAX_SFREQ_HZ, MAX_ABS_PHYSICAL: public here too)
    MAX_ABS_PHYSICAL,
    MAX_SFREQ_HZ,
    _FLAC_FORMATS,
    _FORMAT_BYTES,
    _SIGNAL_LINE_HELP,
    _read_header,
    _wfdb,
)

if TYPE_CHECKING:
    from wfdb import Record


@cache
def standard_symbols() -> frozenset[str]:
    """The standard WFDB annotation symbols (`wfdb.io.annotation.ann_label_table`), e.g. N, V, A, +, ~."""
    _wfdb()
    from wfdb.io.annotation import ann_label_table

    return frozenset(str(s) for s in ann_label_table["symbol"])


def _refetch_hint(folder: Path) -> str:
    from medrnn.datasets import DATASETS  # local: datasets is a sibling concern, imported only on error

    if folder.name in DATASETS:
        return f"fetch again with `medrnn data fetch {folder.name}`"
    return "copy or download the record again"


def _header_path(path: str | Path) -> tuple[Path, Path]:
    """Return (record base path without extension, header path)."""
    try:
        path = Path(path).expanduser()
    except (RuntimeError, TypeError) as err:  # '~nobody/100' when that user does not exist; not a path at all
        raise InvalidRecordError(f"{path!r}: not a usable record path ({err})") from err
    base = path.with_suffix("") if path.suffix == ".hea" else path
    return base, base.with_name(base.name + ".hea")


def _byte_range(fmt: str, n_values: int) -> tuple[int, int]:
    """(min, max) byte size of `n_values` samples in format `fmt`; 310/311 writers may pad to 4 bytes."""
    exact = math.ceil(n_values * _FORMAT_BYTES[fmt])
    if fmt in ("310", "311"):
        return exact, 4 * math.ceil(exact / 4)
    return exact, exact


def _dat_path(hea: Path, file_name: str) -> Path:
    if file_name in ("", ".", "..", "~"):
        raise InvalidRecordError(f"{hea}: signal file name {file_name!r} does not name a file ({_SIGNAL_LINE_HELP})")
    return hea.with_name(file_name)


def _check_dat_files(header: Record, hea: Path) -> None:
    """Every signal file named in the header is a readable file with exactly the size the header implies."""
    files: dict[str, list[int]] = {}
    for ch, file_name in enumerate(header.file_name):
        files.setdefault(file_name, []).append(ch)
    for file_name, channels in files.items():
        dat = _dat_path(hea, file_name)
        actual = regular_file(dat, f"signal file named in header {hea.name}", _refetch_hint(hea.parent)).st_size
        fmt = header.fmt[channels[0]]
        if header.sig_len is None or fmt in _FLAC_FORMATS:
            continue  # no declared length (wfdb infers it from the file size) or compressed
        per_frame = sum(header.samps_per_frame[ch] or 1 for ch in channels)
        offset = max(header.byte_offset[ch] or 0 for ch in channels)
        low, high = (offset + b for b in _byte_range(fmt, header.sig_len * per_frame))
        if low <= actual <= high:
            continue
        layout = f"{header.sig_len:,} samples x {per_frame} signals in format {fmt}"
        if offset:
            layout += f" + {offset:,} offset bytes"
        cause = "truncated download?" if actual < low else "extra bytes: header from another record?"
        raise InvalidRecordError(
            f"{dat}: file has {actual:,} bytes, header {hea.name} declares {layout} = {low:,} bytes ({cause} {_refetch_hint(hea.parent)})"
        )


def _select_channels(header: Record, hea: Path, leads: Sequence[str] | None) -> list[int]:
    names = list(header.sig_name)
    if leads is None:
        return list(range(len(names)))
    missing = [lead for lead in leads if lead not in names]
    if missing:
        raise InvalidRecordError(f"{hea}: lead(s) {missing} not found; the record has {names}")
    return [names.index(lead) for lead in leads]


def _verify_checksums(record: Record, header: Record, hea: Path, channels: Sequence[int]) -> None:
    """Compare the 16-bit sum of each signal's digital samples with the header's checksum field.

    A checksum of 0 is taken as "not computed": converters write it as a placeholder (all 4,000 CinC 2017
    headers say 0 and none matches), so it cannot tell corrupt from intact samples.
    """
    actual = record.calc_checksum(expanded=True)  # one per read channel, sum mod 65536
    for i, ch in enumerate(channels):
        expected = (header.checksum or [None] * (ch + 1))[ch]
        skewed = bool((header.skew or [None] * (ch + 1))[ch])  # wfdb shifts skewed signals: the sum covers other samples
        if expected in (None, 0) or skewed or (actual[i] - expected) % 65536 == 0:
            continue
        dat = _dat_path(hea, header.file_name[ch])
        raise InvalidRecordError(
            f"{dat}: signal {header.sig_name[ch]!r} checksum mismatch: header {hea.name} field 'checksum' expects "
            f"{expected % 65536} (16-bit sum of the samples), the file gives {actual[i]}: the samples are corrupt "
            f"({_refetch_hint(hea.parent)}; pass verify_checksum=False only if the header's checksum is known wrong)"
        )


def _check_signal(signal: np.ndarray, header: Record, channels: Sequence[int], dat: Path) -> None:
    """signal: (n_leads, n_samples) float32, physical units."""
    if header.sig_len is not None and signal.shape[1] != header.sig_len:
        raise InvalidRecordError(
            f"{dat}: read {signal.shape[1]:,} samples, header declares {header.sig_len:,} ({_refetch_hint(dat.parent)})"
        )
    if signal.shape[1] == 0:
        raise InvalidRecordError(f"{dat}: holds no samples, expected at least one ({_refetch_hint(dat.parent)})")
    for i, ch in enumerate(channels):
        name = header.sig_name[ch]
        nan = np.isnan(signal[i])
        if nan.any():
            raise InvalidRecordError(
                f"{dat}: lead {name!r} has {int(nan.sum()):,} invalid (NaN) samples, "
                f"first at sample {int(np.argmax(nan)):,} (the file stores the WFDB 'invalid value' code there; "
                "crop or interpolate the gap, or drop the record)"
            )
        huge = ~(np.abs(signal[i]) <= MAX_ABS_PHYSICAL)  # also True for inf
        if huge.any():
            first = int(np.argmax(huge))
            raise InvalidRecordError(
                f"{dat}: lead {name!r} has {int(huge.sum()):,} samples beyond +-{MAX_ABS_PHYSICAL:g} {header.units[ch]} "
                f"(first at sample {first:,}: {float(signal[i, first]):g}): ADC gain {header.adc_gain[ch]:g} in header field "
                "'gain' is too small for the stored values (physical = (digital - baseline) / gain); fix the gain in the header"
            )


def _read_signals(base: Path, header: Record, hea: Path, channels: list[int], verify_checksum: bool) -> tuple[np.ndarray, Record]:
    """(n_leads, n_samples) float32 physical signal of `channels`, after the checksum check on the raw samples."""
    dat = _dat_path(hea, header.file_name[channels[0]])
    try:
        record = _wfdb().rdrecord(str(base), channels=channels, physical=False, smooth_frames=False, return_res=64)
    except Exception as err:  # the checks above should leave only genuinely unexpected failures
        raise InvalidRecordError(f"{dat}: cannot read signals ({type(err).__name__}: {err})") from err
    if verify_checksum:
        _verify_checksums(record, header, hea, channels)
    record.e_p_signal = record.dac(expanded=True, return_res=64)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf and is reported by name below
        signal = np.ascontiguousarray(record.smooth_frames("physical").T, dtype=np.float32)  # (n_leads, n_samples)
    _check_signal(signal, header, channels, dat)
    return signal, record


def _read_annotations(base: Path, extension: str, n_samples: int) -> Annotations | None:
    atr = base.with_name(f"{base.name}.{extension}")
    if not os.path.lexists(atr):
        return None
    regular_file(atr, "annotation file", "delete it, or pass annotation_extension=None to skip annotations")
    wfdb = _wfdb()
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as err:  # corrupt annotation bytes surface as IndexError/ValueError deep in wfdb
        raise InvalidRecordError(f"{atr}: cannot parse annotation file ({type(err).__name__}: {err})") from err
    sample = np.asarray(ann.sample, dtype=np.int64)
    if sample.size == 0:
        raise InvalidRecordError(
            f"{atr}: annotation file holds no annotations (empty or truncated), expected at least one "
            "(restore the file, or delete it / pass annotation_extension=None to read the signal without annotations)"
        )
    # wfdb returns NaN (a float) for codes it cannot map, and file-defined custom labels as themselves.
    symbols = tuple(s if isinstance(s, str) else "" for s in ann.symbol)
    known = standard_symbols()
    for i, (raw, symbol) in enumerate(zip(ann.symbol, symbols)):
        if symbol not in known:
            shown = repr(symbol) if symbol else f"undefined code ({raw!r})"
            raise InvalidRecordError(
                f"{atr}: annotation {i:,} at sample {int(sample[i]):,} has symbol {shown}, "
                f"not a standard WFDB label (expected one of {''.join(sorted(known))!r}; see wfdb.show_ann_labels())"
            )
    outside = np.flatnonzero((sample < 0) | (sample >= n_samples))
    if outside.size:
        i = int(outside[0])
        raise InvalidRecordError(
            f"{atr}: {outside.size:,} annotation(s) outside the signal, first #{i:,} at sample {int(sample[i]):,}; "
            f"the record has samples 0..{n_samples - 1:,} (annotation file from another record?)"
        )
    # MIT-BIH pads aux notes to an even length with NUL and wfdb keeps it: '(N\x00' -> '(N'.
    aux = tuple(str(note or "").rstrip("\x00") for note in ann.aux_note) if ann.aux_note else ("",) * len(symbols)
    return Annotations(sample=sample, symbol=symbols, aux_note=aux)


@READERS.register("wfdb")
def read_wfdb(
    path: str | Path,
    *,
    expected_sfreq_hz: float | None = None,
    leads: Sequence[str] | None = None,
    annotation_extension: str | None = "atr",
    patient_id: str | None = None,
    verify_checksum: bool = True,
) -> SignalRecord:
    """Read a WFDB record (`.../mitdb/100` or `.../mitdb/100.hea`) into a validated SignalRecord.

    Parameters
    ----------
    path : record path without extension, or the `.hea` file.
    expected_sfreq_hz : raise when the header's sampling rate differs (no silent resampling).
    leads : keep only these leads, in this order (e.g. ``["MLII"]``); default all.
    annotation_extension : annotation file to attach (``"atr"``); ``None`` skips annotations.
        A missing annotation file gives ``annotations=None``, not an error; an empty one is an error.
    patient_id : defaults to the record id; pass it when several records share a patient.
    verify_checksum : compare each read signal with the header's checksum field (when it has one).

    Raises
    ------
    InvalidRecordError
        Naming the file and field: missing, unreadable or corrupt header; missing/truncated/oversize/corrupt
        (checksum) `.dat`; implausible rate, gain or ADC fields; NaN or infinite samples; unexpected sampling
        rate; missing lead; empty annotation file, unknown annotation symbol, or an annotation outside the signal.
        No other exception type leaves this function.
    """
    try:
        return _read_wfdb(path, expected_sfreq_hz, leads, annotation_extension, patient_id, verify_checksum)
    except (MedrnnError, ImportError):  # a missing optional package is not a bad file: the CLI names its extra
        raise
    except Exception as err:  # noqa: BLE001  last resort: a reader never lets a foreign exception out
        raise InvalidRecordError(
            f"{path}: unexpected {type(err).__name__} while reading the WFDB record ({err}); the files are damaged "
            "in a way no check above names: please report it with the files"
        ) from err


def _read_wfdb(
    path: str | Path,
    expected_sfreq_hz: float | None,
    leads: Sequence[str] | None,
    annotation_extension: str | None,
    patient_id: str | None,
    verify_checksum: bool,
) -> SignalRecord:
    base, hea = _header_path(path)
    if not os.path.lexists(hea):
        stem = base.with_suffix("")
        hint = f"did you mean {stem}?" if base.suffix and stem.with_name(stem.name + ".hea").is_file() else (
            "pass the record path without extension, e.g. .../mitdb/100, with 100.hea and 100.dat in that folder"
        )  # fmt: skip
        raise InvalidRecordError(f"{hea}: header file not found ({hint})")
    size = regular_file(hea, "header file", "pass the record path without extension, e.g. .../mitdb/100").st_size
    header = _read_header(hea, base, size)
    if expected_sfreq_hz is not None and not math.isclose(header.fs, expected_sfreq_hz, rel_tol=1e-6):
        raise InvalidRecordError(
            f"{hea}: sampling rate {header.fs:g} Hz, expected {expected_sfreq_hz:g} Hz "
            f"(resample the signal to {expected_sfreq_hz:g} Hz, or set the expected rate to {header.fs:g})"
        )
    channels = _select_channels(header, hea, leads)
    _check_dat_files(header, hea)
    signal, record = _read_signals(base, header, hea, channels, verify_checksum)
    annotations = None
    if annotation_extension is not None:
        annotations = _read_annotations(base, annotation_extension, signal.shape[1])
    record_id = base.name
    meta = {"comments": " | ".join(header.comments)} if header.comments else {}
    return SignalRecord(
        signal=signal,
        sfreq_hz=float(header.fs),
        lead_names=tuple(header.sig_name[ch] for ch in channels),
        record_id=record_id,
        patient_id=patient_id if patient_id is not None else record_id,
        units=tuple(record.units),
        annotations=annotations,
        source=str(path),
        meta=meta,
    )
