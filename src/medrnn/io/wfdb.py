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
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from medrnn.io.files import regular_file
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.records import Annotations, SignalRecord
from medrnn.registry import READERS

if TYPE_CHECKING:
    from wfdb import Record

MAX_SFREQ_HZ = 1e6  # above any physiological recording; a larger header value is a corrupt field
_MAX_HEADER_BYTES = 1 << 20  # real headers are a few hundred bytes; never read a huge file as text
# |physical| above this squares to more than float32 holds (3.4e38): any mean/variance downstream turns to inf.
MAX_ABS_PHYSICAL = 1e18
_MAX_GAIN = float(1 / np.finfo(np.float32).tiny)  # 8.5e37
_INT32 = (-(2**31), 2**31 - 1)  # WFDB stores baseline, ADC zero and initial value as C longs
# Bytes per sample of each uncompressed WFDB format (signal-5 man page). wfdb keeps its table private.
_FORMAT_BYTES: dict[str, float] = {
    "8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2, "212": 1.5, "310": 4 / 3, "311": 4 / 3,
}  # fmt: skip
_FLAC_FORMATS = frozenset({"508", "516", "524"})  # compressed: size cannot be predicted from the header
_NUMBER = r"-?\d*\.?\d+"
_RECORD_FIELDS = (  # (name, pattern) of each record-line token, WFDB header(5) man page
    ("record name", re.compile(r"[-\w]+(/\d+)?")),
    ("number of signals", re.compile(r"\d+")),
    ("sampling frequency", re.compile(rf"\d*\.?\d+(/{_NUMBER})?(\({_NUMBER}\))?")),
    ("number of samples", re.compile(r"\d+")),
    ("base time", re.compile(r"[\d:.]+")),
    ("base date", re.compile(r"[\d/]+")),
)
_SIGNAL_FIELDS = (  # the 8 fields before the description; wfdb's regex misreads any other spelling silently
    ("file name", re.compile(r"~?[-\w]*\.?\w*")),
    ("format", re.compile(r"\d+(x\d+)?(:\d+)?(\+\d+)?")),
    ("ADC gain", re.compile(r"-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?(\(-?\d+\))?(/[-\w^?%/]*)?")),
    ("ADC resolution", re.compile(r"\d+")),
    ("ADC zero", re.compile(r"-?\d+")),
    ("initial value", re.compile(r"-?\d+")),
    ("checksum", re.compile(r"-?\d+")),
    ("block size", re.compile(r"\d+")),
)
_RECORD_LINE_HELP = "the record line is 'NAME N_SIGNALS SFREQ_HZ N_SAMPLES', e.g. '100 2 360 650000'"
_SIGNAL_LINE_HELP = "a signal line is e.g. '100.dat 212 200(1024)/mV 11 1024 995 -22131 0 MLII'"


def _wfdb() -> ModuleType:
    """Import wfdb lazily: it is an optional extra and slow to import."""
    try:
        import wfdb
    except ImportError as err:
        raise MedrnnError("reading WFDB records needs the wfdb package: pip install 'medrnn[signals]'") from err
    return wfdb


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


def _check_line(hea: Path, line: str, fields: tuple[tuple[str, re.Pattern[str]], ...], kind: str, help_: str) -> None:
    for token, (name, pattern) in zip(line.split(), fields):
        if not pattern.fullmatch(token):
            raise InvalidRecordError(f"{hea}: {kind} {line!r}: {name} {token!r} is not valid ({help_})")


def _check_header_text(hea: Path, size: int) -> None:
    """Validate the record line, the number of signal lines and every field of them ourselves.

    wfdb's regexes stop at the first token they cannot parse and fill in defaults, so `100 2 abc 650000`
    would silently become a 250 Hz record of unknown length, and a gain of `inf` a 200 adu/mV signal.
    """
    from wfdb.io.header import rx_record

    if size > _MAX_HEADER_BYTES:
        raise InvalidRecordError(f"{hea}: header is {size:,} bytes, expected a small text file (at most {_MAX_HEADER_BYTES:,})")
    try:
        text = hea.read_bytes().decode("latin-1")  # wfdb reads headers as ISO-8859-1
    except OSError as err:
        raise InvalidRecordError(f"{hea}: cannot read header ({err.strerror or err})") from err
    lines = [s.strip() for s in text.splitlines() if s.strip() and not s.strip().startswith("#")]
    if not lines:
        raise InvalidRecordError(f"{hea}: header has no record line ({_RECORD_LINE_HELP})")
    line, tokens = lines[0], lines[0].split()
    if len(tokens) > len(_RECORD_FIELDS):
        raise InvalidRecordError(
            f"{hea}: record line {line!r}: unexpected extra field {tokens[len(_RECORD_FIELDS)]!r} ({_RECORD_LINE_HELP})"
        )
    _check_line(hea, line, _RECORD_FIELDS, "record line", _RECORD_LINE_HELP)
    match = rx_record.match(line)
    if match is None or match.end() < len(line):  # tokens looked fine but wfdb would still misread them
        raise InvalidRecordError(f"{hea}: record line {line!r} is not valid WFDB syntax ({_RECORD_LINE_HELP})")
    if match["n_seg"]:
        raise InvalidRecordError(f"{hea}: multi-segment records ({match['n_seg']} segments) are not supported")
    n_sig, n_signal_lines = int(match["n_sig"]), len(lines) - 1
    if n_sig == 0 or n_signal_lines != n_sig:
        raise InvalidRecordError(
            f"{hea}: record line declares {n_sig} signals but the header has {n_signal_lines} signal lines "
            f"(expected one line per signal, e.g. '100.dat 212 200 11 1024 995 -22131 0 MLII')"
        )
    for signal_line in lines[1:]:
        _check_line(hea, signal_line, _SIGNAL_FIELDS, "signal line", _SIGNAL_LINE_HELP)


def _check_header_values(header: Record, hea: Path) -> None:
    """Numbers that parse but cannot describe a recording: rate, gain, baseline, ADC fields, format."""
    fs = float(header.fs or 0)
    if not (math.isfinite(fs) and 0 < fs <= MAX_SFREQ_HZ):
        raise InvalidRecordError(
            f"{hea}: sampling frequency {header.fs} Hz, expected a positive number up to {MAX_SFREQ_HZ:g} Hz ({_RECORD_LINE_HELP})"
        )
    if header.sig_len == 0:
        raise InvalidRecordError(f"{hea}: number of samples is 0, expected a record with at least one sample ({_RECORD_LINE_HELP})")
    for ch, name in enumerate(header.sig_name):
        fmt, gain = header.fmt[ch], float(header.adc_gain[ch])
        where = f"{hea}: signal {name!r}"
        if fmt not in _FORMAT_BYTES and fmt not in _FLAC_FORMATS:
            raise InvalidRecordError(
                f"{where} has format {fmt}, expected one of the WFDB formats {', '.join(sorted([*_FORMAT_BYTES, *_FLAC_FORMATS], key=int))}"
            )
        if not (math.isfinite(gain) and 0 < gain <= _MAX_GAIN):
            raise InvalidRecordError(
                f"{where}: ADC gain {gain:g}, expected a positive number of ADC units per physical unit, at most {_MAX_GAIN:.3g} "
                "(above it one ADC unit is below the smallest float32 and the signal reads as zeros)"
            )
        for field in ("baseline", "adc_zero", "init_value"):
            value = (getattr(header, field) or [None] * (ch + 1))[ch]
            if value is not None and not _INT32[0] <= value <= _INT32[1]:
                raise InvalidRecordError(f"{where}: {field} {value:,} is outside the 32-bit range WFDB allows")
        res = (header.adc_res or [None] * (ch + 1))[ch]
        if res is not None and not 0 <= res <= 32:
            raise InvalidRecordError(f"{where}: ADC resolution {res} bits, expected 0 (unknown) to 32")


def _read_header(hea: Path, base: Path, size: int) -> Record:
    wfdb = _wfdb()
    _check_header_text(hea, size)
    try:
        header = wfdb.rdheader(str(base))
    except Exception as err:  # wfdb raises HeaderSyntaxError, ValueError, IndexError... on corrupt headers
        raise InvalidRecordError(f"{hea}: cannot parse header ({type(err).__name__}: {err})") from err
    _check_header_values(header, hea)
    return header


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
