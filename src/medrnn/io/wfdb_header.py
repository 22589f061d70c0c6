"""WFDB headers read strictly: every field of the record and signal lines checked before wfdb parses them (wfdb's
regular expressions misread other spellings silently), then the values checked for plausibility."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from medrnn.errors import InvalidRecordError, MedrnnError

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
