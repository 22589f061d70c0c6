"""EDF / EDF+ reader: `.edf` -> SignalRecord in the header's physical units, validated before any data is decoded.

The fixed header (256 bytes plus 256 per signal) is parsed and checked here, field by field, so that a corrupt file
fails naming the field rather than deep inside a parser; the 16-bit samples are decoded with numpy and scaled to the
header's physical units (uV, mV, ...); EDF+ annotations (onset, duration, text) are read with MNE
(`mne.read_annotations`). Nothing but a MedrnnError leaves `read_edf`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medrnn.io.files import regular_file
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.records import Annotations, SignalRecord
from medrnn.registry import READERS

ANNOTATION_LABEL = "EDF Annotations"
MAX_SFREQ_HZ = 1e6
MAX_SIGNALS = 4096
_MAX_SAMPLES = 2_000_000_000  # int16 data of every selected channel; a larger count is a corrupt field
# (name, width) of each per-signal header field, in file order (EDF specification, Kemp et al. 1992)
_SIGNAL_FIELDS = (
    ("label", 16), ("transducer type", 80), ("physical dimension", 8), ("physical minimum", 8),
    ("physical maximum", 8), ("digital minimum", 8), ("digital maximum", 8), ("prefiltering", 80),
    ("samples per data record", 8), ("reserved", 32),
)  # fmt: skip


class _Header:
    """The fields of an EDF header that reading needs (all checked)."""

    def __init__(self, path: Path, raw: bytes, file_size: int) -> None:
        self.path = path
        text = raw.decode("latin-1")
        if text[:8] != "0       ":
            raise InvalidRecordError(f"{path}: version field {text[:8]!r}, expected '0       ' (not an EDF file)")
        self.reserved = text[192:236].strip()
        if self.reserved.startswith("EDF+D"):
            raise InvalidRecordError(f"{path}: reserved field 'EDF+D': discontinuous EDF+ is not supported (export it as "
                                     "continuous EDF+C)")  # fmt: skip
        self.header_bytes = self._int(text[184:192], "number of header bytes", 256)
        self.n_records = self._int(text[236:244], "number of data records", 1)
        self.record_s = self._float(text[244:252], "duration of a data record")
        if self.record_s <= 0:
            raise InvalidRecordError(f"{path}: duration of a data record {self.record_s:g} s, expected > 0")
        self.n_signals = self._int(text[252:256], "number of signals", 1)
        if self.n_signals > MAX_SIGNALS:
            raise InvalidRecordError(f"{path}: number of signals {self.n_signals}, at most {MAX_SIGNALS}")
        if self.header_bytes != 256 * (self.n_signals + 1):
            raise InvalidRecordError(f"{path}: number of header bytes {self.header_bytes}, expected 256 x (1 + "
                                     f"{self.n_signals} signals) = {256 * (self.n_signals + 1)}")  # fmt: skip
        if len(raw) < self.header_bytes:
            raise InvalidRecordError(f"{path}: file ends inside the header ({len(raw)} of {self.header_bytes} bytes)")
        fields, pos, ns = {}, 256, self.n_signals
        for name, width in _SIGNAL_FIELDS:
            fields[name] = [text[pos + i * width : pos + (i + 1) * width].strip() for i in range(ns)]
            pos += ns * width
        self.labels = fields["label"]
        self.units = fields["physical dimension"]
        self.phys_min = [self._float(v, f"physical minimum of signal {lab!r}") for v, lab in zip(fields["physical minimum"], self.labels)]
        self.phys_max = [self._float(v, f"physical maximum of signal {lab!r}") for v, lab in zip(fields["physical maximum"], self.labels)]
        self.dig_min = [
            self._int(v, f"digital minimum of signal {lab!r}", -32768) for v, lab in zip(fields["digital minimum"], self.labels)
        ]
        self.dig_max = [
            self._int(v, f"digital maximum of signal {lab!r}", -32768) for v, lab in zip(fields["digital maximum"], self.labels)
        ]
        self.spr = [
            self._int(v, f"samples per data record of signal {lab!r}", 1) for v, lab in zip(fields["samples per data record"], self.labels)
        ]
        for i, lab in enumerate(self.labels):
            if not -32768 <= self.dig_min[i] < self.dig_max[i] <= 32767:
                raise InvalidRecordError(f"{path}: signal {lab!r}: digital minimum {self.dig_min[i]} / maximum {self.dig_max[i]}, "
                                         "expected -32768 <= minimum < maximum <= 32767")  # fmt: skip
            if self.phys_min[i] == self.phys_max[i]:
                raise InvalidRecordError(f"{path}: signal {lab!r}: physical minimum equals maximum ({self.phys_min[i]:g}); "
                                         "the gain is undefined")  # fmt: skip
        self.record_bytes = 2 * sum(self.spr)
        expected = self.header_bytes + self.n_records * self.record_bytes
        if file_size < expected:
            raise InvalidRecordError(f"{path}: {file_size:,} bytes, expected {expected:,} for {self.n_records} data records of "
                                     f"{self.record_bytes} bytes (the file is truncated)")  # fmt: skip

    def _int(self, value: str, field: str, minimum: int) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise InvalidRecordError(f"{self.path}: {field} {value.strip()!r} is not an integer") from None
        if number < minimum:
            raise InvalidRecordError(f"{self.path}: {field} {number}, expected at least {minimum}")
        return number

    def _float(self, value: str, field: str) -> float:
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidRecordError(f"{self.path}: {field} {value.strip()!r} is not a number") from None
        if not math.isfinite(number):
            raise InvalidRecordError(f"{self.path}: {field} {value.strip()!r} is not finite")
        return number

    def sfreq_hz(self, i: int) -> float:
        return self.spr[i] / self.record_s


def _regular_file(path: Path) -> os.stat_result:
    info = regular_file(path, "EDF file", "expected an .edf file")
    if info.st_size < 256:
        raise InvalidRecordError(f"{path}: {info.st_size} bytes, shorter than the 256-byte EDF header")
    return info


def _select(header: _Header, channels: Sequence[str] | None) -> list[int]:
    data_signals = [i for i, lab in enumerate(header.labels) if lab != ANNOTATION_LABEL]
    if not data_signals:
        raise InvalidRecordError(f"{header.path}: no data signals (only {ANNOTATION_LABEL!r})")
    if channels is None:
        return data_signals
    names = [header.labels[i] for i in data_signals]
    chosen = []
    for name in channels:
        if name not in names:
            raise InvalidRecordError(f"{header.path}: channel {name!r} not found; the file has {names}")
        chosen.append(data_signals[names.index(name)])
    return chosen


def _read_data(path: Path, header: _Header, chosen: list[int]) -> np.ndarray:
    n_values = header.n_records * header.record_bytes // 2
    if sum(header.spr[i] for i in chosen) * header.n_records > _MAX_SAMPLES:
        raise InvalidRecordError(f"{path}: {header.n_records} data records are more samples than medrnn reads at once")
    try:
        with path.open("rb") as f:
            f.seek(header.header_bytes)
            raw = np.fromfile(f, dtype="<i2", count=n_values)
    except OSError as err:
        raise InvalidRecordError(f"{path}: cannot read the data records ({err.strerror or err})") from err
    if raw.size != n_values:
        raise InvalidRecordError(f"{path}: data records hold {raw.size} samples, expected {n_values} (the file is truncated)")
    records = raw.reshape(header.n_records, -1)
    offsets = np.concatenate([[0], np.cumsum(header.spr)])
    out = []
    for i in chosen:
        digital = records[:, offsets[i] : offsets[i + 1]].reshape(-1).astype(np.float64)
        gain = (header.phys_max[i] - header.phys_min[i]) / (header.dig_max[i] - header.dig_min[i])
        physical = (digital - header.dig_min[i]) * gain + header.phys_min[i]
        if not np.isfinite(physical).all():
            raise InvalidRecordError(f"{path}: signal {header.labels[i]!r}: non-finite physical values (check its gain fields)")
        out.append(physical.astype(np.float32))
    return np.stack(out)


def _read_annotations(path: Path, header: _Header, sfreq_hz: float, n_samples: int) -> Annotations | None:
    if ANNOTATION_LABEL not in header.labels:
        return None
    try:
        import mne

        ann = mne.read_annotations(path)
    except ImportError as err:
        raise MedrnnError("reading EDF+ annotations needs the mne package: pip install mne") from err
    except Exception as err:  # noqa: BLE001  MNE's parser errors are of many kinds; each becomes a named field error
        raise InvalidRecordError(f"{path}: cannot read the {ANNOTATION_LABEL!r} signal ({type(err).__name__}: {err})") from err
    onset = np.asarray(ann.onset, dtype=np.float64)
    duration = np.asarray(ann.duration, dtype=np.float64)
    if not (np.isfinite(onset).all() and np.isfinite(duration).all()) or (duration < 0).any():
        raise InvalidRecordError(f"{path}: annotation onsets or durations are not finite non-negative seconds")
    sample = np.round(onset * sfreq_hz).astype(np.int64)
    outside = np.flatnonzero((sample < 0) | (sample > n_samples))
    if outside.size:
        k = outside[0]
        raise InvalidRecordError(f"{path}: annotation {ann.description[k]!r} at {onset[k]:g} s lies outside the "
                                 f"{n_samples / sfreq_hz:g} s signal")  # fmt: skip
    # aux_note: each annotation's duration in seconds, as text (Annotations holds points, EDF+ events have a length)
    return Annotations(sample=sample, symbol=tuple(str(d) for d in ann.description), aux_note=tuple(f"{d:g}" for d in duration))


@READERS.register("edf")
def read_edf(
    path: str | Path,
    *,
    channels: Sequence[str] | None = None,
    expected_sfreq_hz: float | None = None,
    annotations: bool = True,
    patient_id: str | None = None,
) -> SignalRecord:
    """Read an EDF or EDF+ (continuous) file into a validated SignalRecord in the header's physical units.

    Parameters
    ----------
    path : the `.edf` file.
    channels : keep only these channels, by label and in this order (e.g. ``["Fp1", "Cz"]``); default every data
        channel. The chosen channels must share one sampling rate.
    expected_sfreq_hz : raise when the rate differs (no silent resampling).
    annotations : attach EDF+ annotations (symbol = text, aux_note = duration in seconds); a plain EDF has none (None).
    patient_id : defaults to the record id (the file's stem).

    Raises
    ------
    InvalidRecordError
        Naming the file and field: missing or unreadable file, bad version, header or signal field, truncated data,
        discontinuous EDF+, unknown channel, mixed sampling rates, unexpected rate, non-finite values, unreadable
        annotations or one outside the signal. No other exception type leaves this function.
    """
    try:
        try:
            p = Path(path).expanduser()
        except (RuntimeError, TypeError) as err:
            raise InvalidRecordError(f"{path!r}: not a usable file path ({err})") from err
        info = _regular_file(p)
        try:
            with p.open("rb") as f:
                head = f.read(256)
                n_signals = int(head[252:256].decode("latin-1").strip() or "0") if len(head) == 256 else 0
                head += f.read(256 * min(max(n_signals, 0), MAX_SIGNALS))
        except ValueError:
            raise InvalidRecordError(f"{p}: number of signals {head[252:256]!r} is not an integer") from None
        except OSError as err:
            raise InvalidRecordError(f"{p}: cannot read EDF header ({err.strerror or err}; check its permissions)") from err
        header = _Header(p, head, info.st_size)
        chosen = _select(header, channels)
        rates = {header.labels[i]: header.sfreq_hz(i) for i in chosen}
        if len(set(rates.values())) > 1:
            raise InvalidRecordError(f"{p}: channels have different sampling rates {rates}; choose channels of one rate")
        sfreq_hz = next(iter(rates.values()))
        if sfreq_hz > MAX_SFREQ_HZ:
            raise InvalidRecordError(f"{p}: sampling rate {sfreq_hz:g} Hz is implausible (samples per data record / duration)")
        if expected_sfreq_hz is not None and not math.isclose(sfreq_hz, expected_sfreq_hz, rel_tol=1e-6):
            raise InvalidRecordError(f"{p}: sampling rate {sfreq_hz:g} Hz, expected {expected_sfreq_hz:g} Hz (resample the "
                                     f"signal to {expected_sfreq_hz:g} Hz, or set the expected rate to {sfreq_hz:g})")  # fmt: skip
        signal = _read_data(p, header, chosen)
        ann = _read_annotations(p, header, sfreq_hz, signal.shape[1]) if annotations else None
        meta = {"edf_type": header.reserved or "EDF"}
        return SignalRecord(
            signal=signal,
            sfreq_hz=float(sfreq_hz),
            lead_names=tuple(header.labels[i] for i in chosen),
            record_id=p.stem,
            patient_id=patient_id if patient_id is not None else p.stem,
            units=tuple(header.units[i] for i in chosen),
            annotations=ann,
            source=os.fspath(p),
            meta=meta,
        )
    except (MedrnnError, ImportError):
        raise
    except Exception as err:  # noqa: BLE001  last resort: a reader never lets a foreign exception out
        raise InvalidRecordError(f"{path}: unexpected {type(err).__name__} while reading the EDF file ({err}); please report "
                                 "it with the file") from err  # fmt: skip
