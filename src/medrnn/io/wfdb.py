"""WFDB reader: `.hea` + `.dat` (+ `.atr`) -> SignalRecord, validated before wfdb sees the files.

wfdb's own failures on bad files are obscure (a truncated `.dat` gives "could not broadcast input
array") or silent (a non-numeric sampling rate in the header becomes 250 Hz, an undefined annotation
code becomes a NaN symbol), so every check below runs first and names the file and the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.records import Annotations, SignalRecord
from medrnn.registry import READERS

if TYPE_CHECKING:
    from wfdb import Record

# Bytes per sample of each uncompressed WFDB format (signal-5 man page). wfdb keeps its table private.
_FORMAT_BYTES: dict[str, float] = {
    "8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2, "212": 1.5, "310": 4 / 3, "311": 4 / 3,
}
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
_RECORD_LINE_HELP = "the record line is 'NAME N_SIGNALS SFREQ_HZ N_SAMPLES', e.g. '100 2 360 650000'"


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
    path = Path(path).expanduser()
    base = path.with_suffix("") if path.suffix == ".hea" else path
    return base, base.with_name(base.name + ".hea")


def _check_header_text(hea: Path) -> None:
    """Validate the record line and the number of signal lines ourselves.

    wfdb's record-line regex stops at the first token it cannot parse and fills in defaults, so
    `100 2 abc 650000` would silently become a 250 Hz record of unknown length.
    """
    from wfdb.io.header import rx_record

    text = hea.read_bytes().decode("latin-1")  # wfdb reads headers as ISO-8859-1
    lines = [s.strip() for s in text.splitlines() if s.strip() and not s.strip().startswith("#")]
    if not lines:
        raise InvalidRecordError(f"{hea}: header has no record line ({_RECORD_LINE_HELP})")
    line, tokens = lines[0], lines[0].split()
    for index, token in enumerate(tokens):
        if index >= len(_RECORD_FIELDS):
            raise InvalidRecordError(f"{hea}: record line {line!r}: unexpected extra field {token!r} ({_RECORD_LINE_HELP})")
        if not _RECORD_FIELDS[index][1].fullmatch(token):
            raise InvalidRecordError(
                f"{hea}: record line {line!r}: {_RECORD_FIELDS[index][0]} {token!r} is not valid ({_RECORD_LINE_HELP})"
            )
    match = rx_record.match(line)
    if match is None or match.end() < len(line):  # tokens looked fine but wfdb would still misread them
        raise InvalidRecordError(f"{hea}: record line {line!r} is not valid WFDB syntax ({_RECORD_LINE_HELP})")
    if match["n_seg"]:
        raise InvalidRecordError(f"{hea}: multi-segment records ({match['n_seg']} segments) are not supported")
    n_sig, n_signal_lines = int(match["n_sig"]), len(lines) - 1
    if n_sig == 0 or n_signal_lines != n_sig:
        raise InvalidRecordError(
            f"{hea}: record line declares {n_sig} signals but the header has {n_signal_lines} signal lines "
            "(expected one line per signal, e.g. '100.dat 212 200 11 1024 995 -22131 0 MLII')"
        )


def _read_header(hea: Path, base: Path) -> Record:
    wfdb = _wfdb()
    _check_header_text(hea)
    try:
        header = wfdb.rdheader(str(base))
    except Exception as err:  # wfdb raises HeaderSyntaxError, ValueError, IndexError... on corrupt headers
        raise InvalidRecordError(f"{hea}: cannot parse header ({type(err).__name__}: {err})") from err
    if not header.fs or header.fs <= 0:
        raise InvalidRecordError(f"{hea}: sampling frequency {header.fs} Hz, expected a positive number ({_RECORD_LINE_HELP})")
    for name, fmt in zip(header.sig_name, header.fmt):
        if fmt not in _FORMAT_BYTES and fmt not in _FLAC_FORMATS:
            raise InvalidRecordError(
                f"{hea}: signal {name!r} has format {fmt}, expected one of the WFDB formats "
                f"{', '.join(sorted([*_FORMAT_BYTES, *_FLAC_FORMATS], key=int))}"
            )
    return header


def _byte_range(fmt: str, n_values: int) -> tuple[int, int]:
    """(min, max) byte size of `n_values` samples in format `fmt`; 310/311 writers may pad to 4 bytes."""
    exact = math.ceil(n_values * _FORMAT_BYTES[fmt])
    if fmt in ("310", "311"):
        return exact, 4 * math.ceil(exact / 4)
    return exact, exact


def _check_dat_files(header: Record, hea: Path) -> None:
    """Every signal file named in the header exists and has exactly the size the header implies."""
    files: dict[str, list[int]] = {}
    for ch, file_name in enumerate(header.file_name):
        files.setdefault(file_name, []).append(ch)
    for file_name, channels in files.items():
        dat = hea.with_name(file_name)
        if not dat.is_file():
            raise InvalidRecordError(
                f"{dat}: signal file named in header {hea.name} not found ({_refetch_hint(hea.parent)})"
            )
        fmt = header.fmt[channels[0]]
        if header.sig_len is None or fmt in _FLAC_FORMATS:
            continue  # no declared length (wfdb infers it from the file size) or compressed
        per_frame = sum(header.samps_per_frame[ch] or 1 for ch in channels)
        offset = max(header.byte_offset[ch] or 0 for ch in channels)
        low, high = (offset + b for b in _byte_range(fmt, header.sig_len * per_frame))
        actual = dat.stat().st_size
        if low <= actual <= high:
            continue
        layout = f"{header.sig_len:,} samples x {per_frame} signals in format {fmt}"
        if offset:
            layout += f" + {offset:,} offset bytes"
        cause = "truncated download?" if actual < low else "extra bytes: header from another record?"
        raise InvalidRecordError(
            f"{dat}: file has {actual:,} bytes, header {hea.name} declares {layout} = {low:,} bytes "
            f"({cause} {_refetch_hint(hea.parent)})"
        )


def _select_channels(header: Record, hea: Path, leads: Sequence[str] | None) -> list[int]:
    names = list(header.sig_name)
    if leads is None:
        return list(range(len(names)))
    missing = [lead for lead in leads if lead not in names]
    if missing:
        raise InvalidRecordError(f"{hea}: lead(s) {missing} not found; the record has {names}")
    return [names.index(lead) for lead in leads]


def _check_signal(signal: np.ndarray, header: Record, lead_names: Sequence[str], dat: Path) -> None:
    """signal: (n_samples, n_leads) as wfdb returns it."""
    if header.sig_len is not None and signal.shape[0] != header.sig_len:
        raise InvalidRecordError(
            f"{dat}: read {signal.shape[0]:,} samples, header declares {header.sig_len:,} ({_refetch_hint(dat.parent)})"
        )
    bad = np.isnan(signal)
    bad_leads = np.flatnonzero(bad.any(axis=0))
    if bad_leads.size:
        column = bad[:, bad_leads[0]]
        raise InvalidRecordError(
            f"{dat}: lead {lead_names[bad_leads[0]]!r} has {int(column.sum()):,} invalid (NaN) samples, "
            f"first at sample {int(np.argmax(column)):,} (the file stores the WFDB 'invalid value' code there; "
            "crop or interpolate the gap, or drop the record)"
        )


def _read_annotations(base: Path, extension: str, n_samples: int) -> Annotations | None:
    atr = base.with_name(f"{base.name}.{extension}")
    if not atr.is_file():
        return None
    wfdb = _wfdb()
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as err:  # corrupt annotation bytes surface as IndexError/ValueError deep in wfdb
        raise InvalidRecordError(f"{atr}: cannot parse annotation file ({type(err).__name__}: {err})") from err
    sample = np.asarray(ann.sample, dtype=np.int64)
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
    aux = tuple((note or "").rstrip("\x00") for note in ann.aux_note) if ann.aux_note else ("",) * len(symbols)
    return Annotations(sample=sample, symbol=symbols, aux_note=aux)


@READERS.register("wfdb")
def read_wfdb(
    path: str | Path,
    *,
    expected_sfreq_hz: float | None = None,
    leads: Sequence[str] | None = None,
    annotation_extension: str | None = "atr",
    patient_id: str | None = None,
) -> SignalRecord:
    """Read a WFDB record (`.../mitdb/100` or `.../mitdb/100.hea`) into a validated SignalRecord.

    Parameters
    ----------
    path : record path without extension, or the `.hea` file.
    expected_sfreq_hz : raise when the header's sampling rate differs (no silent resampling).
    leads : keep only these leads, in this order (e.g. ``["MLII"]``); default all.
    annotation_extension : annotation file to attach (``"atr"``); ``None`` skips annotations.
        A missing annotation file gives ``annotations=None``, not an error.
    patient_id : defaults to the record id; pass it when several records share a patient.

    Raises
    ------
    InvalidRecordError
        Naming the file and field: missing or corrupt header, missing/truncated/oversize `.dat`,
        NaN samples, unexpected sampling rate, missing lead, unknown annotation symbol, or an
        annotation outside the signal.
    """
    base, hea = _header_path(path)
    if not hea.is_file():
        stem = base.with_suffix("")
        hint = f"did you mean {stem}?" if base.suffix and stem.with_name(stem.name + ".hea").is_file() else (
            "pass the record path without extension, e.g. .../mitdb/100, with 100.hea and 100.dat in that folder"
        )
        raise InvalidRecordError(f"{hea}: header file not found ({hint})")
    header = _read_header(hea, base)
    if expected_sfreq_hz is not None and not math.isclose(header.fs, expected_sfreq_hz, rel_tol=1e-6):
        raise InvalidRecordError(
            f"{hea}: sampling rate {header.fs:g} Hz, expected {expected_sfreq_hz:g} Hz "
            f"(resample the signal to {expected_sfreq_hz:g} Hz, or set the expected rate to {header.fs:g})"
        )
    channels = _select_channels(header, hea, leads)
    _check_dat_files(header, hea)
    dat = hea.with_name(header.file_name[channels[0]])
    try:
        record = _wfdb().rdrecord(str(base), channels=channels, physical=True, return_res=32)
    except Exception as err:  # the checks above should leave only genuinely unexpected failures
        raise InvalidRecordError(f"{dat}: cannot read signals ({type(err).__name__}: {err})") from err
    lead_names = tuple(record.sig_name)
    raw = np.asarray(record.p_signal)  # (n_samples, n_leads)
    _check_signal(raw, header, lead_names, dat)
    signal = np.ascontiguousarray(raw.T, dtype=np.float32)  # (n_leads, n_samples)
    annotations = None
    if annotation_extension is not None:
        annotations = _read_annotations(base, annotation_extension, signal.shape[1])
    record_id = base.name
    meta = {"comments": " | ".join(header.comments)} if header.comments else {}
    return SignalRecord(
        signal=signal,
        sfreq_hz=float(header.fs),
        lead_names=lead_names,
        record_id=record_id,
        patient_id=patient_id if patient_id is not None else record_id,
        units=tuple(record.units),
        annotations=annotations,
        source=str(path),
        meta=meta,
    )
