"""PhysioNet/CinC Challenge 2012 (ICU mortality): `Time,Parameter,Value` files -> IcuStay, every dropped value counted.

Sets A, B and C are read from a folder of text files (`set-a/`) or directly from an archive: PhysioNet's `set-a.tar.gz`
or a repack such as `set-b.tar.xz`, with or without a leading `set-x/` folder inside. Nothing is ever written beside the
data. Parsed stays are cached under `paths.cache_dir()` as npz, keyed by the sources' sizes and mtimes.

A file with two different RecordIDs, a time that is not hh:mm or beyond MAX_TIME_MIN, or a non-finite value is refused
(InvalidRecordError naming file, line and field); in a set read it goes to `report.failures` with unreadable files and
repeated stays. An Outcomes file with an In-hospital_death other than 0/1 is refused: an unknown outcome is never "survived".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from medrnn import paths
from medrnn.atomic import atomic_path
from medrnn.errors import ConfigError, DataNotFoundError, InvalidRecordError
from medrnn.io.physionet2012_outcomes import (  # noqa: F401  (OUTCOME_*, read_outcomes: public here too)
    FETCH_HINT,
    MAX_RECORD_ID,
    OUTCOME_COLUMNS,
    OUTCOME_RANGES,
    read_outcomes,
)
from medrnn.io.physionet2012_schema import (  # noqa: F401  (public here too)
    VARIABLES,
    DESCRIPTORS,
    SETS,
    HEADER,
    MAX_LISTED,
    PLAUSIBLE_RANGES,
    DESCRIPTOR_RANGES,
    DESCRIPTOR_LEVELS,
    MAX_TIME_MIN,
)
from medrnn.io.physionet2012_sources import iter_files, set_source
from medrnn.records import IcuStay

logger = logging.getLogger(__name__)

_TIME = re.compile(r"^\s*([0-9]{1,12}):([0-5][0-9])\s*$", re.ASCII)
_CACHE_VERSION = 3  # bump when parsing or the ranges change what is read
_WEIGHT = VARIABLES.index("Weight")
_DESC, _RECORD_ID, _UNKNOWN, _EMPTY = 100, 200, -1, -2  # parameter codes besides 0..36 (variable index)
_CODES: dict[str, int] = {d: _DESC + i for i, d in enumerate(DESCRIPTORS)} | {v: i for i, v in enumerate(VARIABLES)}
_CODES |= {"RecordID": _RECORD_ID, "": _EMPTY}  # Weight maps to the variable: a descriptor only as the first 00:00 row
_LO = np.array([PLAUSIBLE_RANGES[v][0] for v in VARIABLES])
_HI = np.array([PLAUSIBLE_RANGES[v][1] for v in VARIABLES])
_TIMES: dict[str, int] = {f"{h:02d}:{m:02d}": 60 * h + m for h in range(49) for m in range(60)}  # fast path of hh:mm


@dataclass(frozen=True)
class OutOfRangeValue:
    """One value outside PLAUSIBLE_RANGES (made missing): where it was and what it said."""

    record_id: str
    time_min: float
    variable: str
    value: float


@dataclass
class Physionet2012Report:
    """What a read did: records per set, and a count (per variable) of every value that was not kept as read."""

    root: str = ""
    n_records: dict[str, int] = field(default_factory=dict)  # set -> records read successfully
    n_rows: int = 0  # data rows in the good files (header excluded)
    n_observations: int = 0  # time-series observations kept
    no_time_series: list[str] = field(default_factory=list)  # record ids with descriptors only
    n_missing_marker: Counter[str] = field(default_factory=Counter)  # value -1 (= missing), per variable/descriptor
    n_out_of_range: Counter[str] = field(default_factory=Counter)  # outside PLAUSIBLE_RANGES -> missing
    out_of_range: list[OutOfRangeValue] = field(default_factory=list)  # the first MAX_LISTED of them
    n_duplicate_time: Counter[str] = field(default_factory=Counter)  # extra rows of a (time, variable) already seen
    n_empty_parameter: int = 0  # rows like `10:45,,1.9` (set C), skipped
    unknown_parameters: Counter[str] = field(default_factory=Counter)  # names outside VARIABLES/DESCRIPTORS, skipped
    n_repeated_descriptor: Counter[str] = field(default_factory=Counter)  # Age/Gender/... again or after 00:00, skipped
    missing_descriptors: Counter[str] = field(default_factory=Counter)  # descriptor row absent -> NaN
    missing_outcomes: list[str] = field(default_factory=list)  # record ids with no Outcomes row
    n_repeated_record_id: int = 0  # a file's RecordID row written again with the same value: skipped
    failures: dict[str, str] = field(default_factory=dict)  # source -> why the file could not be read (also a RecordID read twice)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (out-of-range values as plain dicts)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["out_of_range"] = [dataclasses.asdict(o) for o in self.out_of_range]
        return {k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Physionet2012Report:
        """Inverse of `to_dict` (used by the cache)."""
        counters = {f.name for f in dataclasses.fields(cls) if f.type == "Counter[str]"}
        kw = {k: Counter(v) if k in counters else v for k, v in d.items()}
        kw["out_of_range"] = [OutOfRangeValue(**o) for o in d["out_of_range"]]
        return cls(**kw)

    def summary(self) -> str:
        """One paragraph for logs and the CLI."""
        sets = ", ".join(f"{s.upper()} {n}" for s, n in self.n_records.items())
        return (f"{self.root}: {sum(self.n_records.values())} stays read ({sets}), {len(self.failures)} failed; "
                f"{self.n_observations} observations kept of {self.n_rows} rows; {len(self.no_time_series)} without time series; "
                f"{sum(self.n_missing_marker.values())} -1 markers, {sum(self.n_out_of_range.values())} out of range, "
                f"{sum(self.n_duplicate_time.values())} duplicate-time rows, {self.n_empty_parameter} empty parameters, "
                f"{sum(self.unknown_parameters.values())} unknown parameters")  # fmt: skip


def _parse_time(text: str, source: str, line: int) -> int:
    """Minutes since admission from `hh:mm` (hours may exceed 48, up to MAX_TIME_MIN), or InvalidRecordError naming line and field."""
    match = _TIME.match(text)
    if match is None:
        raise InvalidRecordError(f"{source}, line {line}: field Time is {text[:40]!r}, expected hh:mm (time since ICU admission)")
    minutes = 60 * int(match[1]) + int(match[2])
    if minutes > MAX_TIME_MIN:
        raise InvalidRecordError(f"{source}, line {line}: field Time is {text.strip()!r} ({minutes / 1440:.0f} days), expected at most "
                                 f"{MAX_TIME_MIN // 1440} days after ICU admission (the challenge covers 48 h)")  # fmt: skip
    return minutes


def _parse_value(text: str, source: str, line: int) -> float:
    """A finite float, or InvalidRecordError naming line and field."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise InvalidRecordError(f"{source}, line {line}: field Value is {text[:40]!r}, expected a finite number (-1 = missing)")
    return value


def _split_rows(text: str, source: str) -> tuple[list[int], list[str], np.ndarray, np.ndarray]:
    """Data rows -> (minutes, parameter names, values, 1-based line numbers); a fast vectorised path, and a line-by-line
    one that names errors."""
    lines = text.split("\n")
    if lines[0].strip().lstrip("\ufeff") != HEADER:
        raise InvalidRecordError(f"{source}, line 1: header is {lines[0][:60]!r}, expected {HEADER!r}")
    body = lines[1:-1] if lines[-1] == "" else lines[1:]
    flat = ",".join(body).split(",")  # one split for the whole file: 3x faster than a split per line
    try:
        if not body or set(map(str.count, body, repeat(",", len(body)))) != {2}:
            raise ValueError("not three fields on every line")
        minutes, names = list(map(_TIMES.__getitem__, flat[0::3])), [n.strip() for n in flat[1::3]]  # as the slow path
        values = np.array(flat[2::3], dtype=np.float64)
        if np.isfinite(values).all():
            return minutes, names, values, np.arange(2, len(body) + 2)
    except (ValueError, KeyError, TypeError, OverflowError):
        pass  # something unusual: redo line by line, which accepts what is valid and names what is not
    minutes, names, out, numbers = [], [], [], []
    for i, ln in enumerate(body, start=2):
        if not ln.strip():
            continue
        fields = ln.rstrip("\r").split(",")
        if len(fields) != 3:
            raise InvalidRecordError(f"{source}, line {i}: {len(fields)} fields in {ln[:60]!r}, expected Time,Parameter,Value")
        minutes.append(_parse_time(fields[0], source, i))
        names.append(fields[1].strip())
        out.append(_parse_value(fields[2], source, i))
        numbers.append(i)
    return minutes, names, np.array(out, dtype=np.float64), np.array(numbers, dtype=np.int64)


def _check_static(name: str, value: float, record_id: str, report: Physionet2012Report) -> float:
    """Descriptor value, or NaN (counted under "<name> (descriptor)") when it is -1 or impossible."""
    label = f"{name} (descriptor)"  # kept apart from the Weight time series in the counters
    if value == -1:
        report.n_missing_marker[label] += 1
        return float("nan")
    lo, hi = DESCRIPTOR_RANGES.get(name, (-np.inf, np.inf))
    if (name in DESCRIPTOR_LEVELS and value not in DESCRIPTOR_LEVELS[name]) or not lo <= value <= hi:
        report.n_out_of_range[label] += 1
        if len(report.out_of_range) < MAX_LISTED:
            report.out_of_range.append(OutOfRangeValue(record_id, 0.0, label, value))
        return float("nan")
    return value


def _record_id(codes: np.ndarray, times: np.ndarray, values: np.ndarray, lines: np.ndarray, source: str) -> str:
    """The file's one RecordID (a positive integer at 00:00, repeats allowed only with the same value), else InvalidRecordError.

    The lines are named, not the values: the file name already says which stay it is, and messages end up in logs.
    """
    rows = np.flatnonzero(codes == _RECORD_ID)
    expected = "expected one positive integer RecordID row at 00:00"
    if rows.size == 0:
        raise InvalidRecordError(f"{source}: field RecordID: no RecordID row, {expected}")
    first = values[rows[0]]
    if not (first == int(first) and 0 < first < MAX_RECORD_ID):
        raise InvalidRecordError(f"{source}, line {lines[rows[0]]}: field RecordID is {float(first):g}, {expected}")
    late = rows[times[rows] != 0]
    if late.size:
        raise InvalidRecordError(f"{source}, line {lines[late[0]]}: field RecordID at {int(times[late[0]]) // 60:02d}:"
                                 f"{int(times[late[0]]) % 60:02d}, {expected}")  # fmt: skip
    other = rows[values[rows] != first]
    if other.size:
        n = 1 + len(np.unique(values[other]))
        raise InvalidRecordError(f"{source}, lines {lines[rows[0]]} and {lines[other[0]]}: field RecordID has {n} different values; "
                                 "expected one stay per file (were two files joined?)")  # fmt: skip
    return str(int(first))


def read_physionet2012_record(path_or_bytes: str | Path | bytes, source: str = "", report: Physionet2012Report | None = None) -> IcuStay:
    """Read one challenge file (path, or its bytes with `source` naming it) into an IcuStay without outcomes.

    Descriptors are read by name at 00:00 (the first 00:00 Weight is the descriptor, a second one a measurement).
    -1 values, out-of-range values, empty and unknown parameter names are left out of the stay and counted in
    `report` when one is given. A file without header, with a bad `hh:mm` or a non-numeric value raises
    InvalidRecordError naming the file, line and field.
    """
    if isinstance(path_or_bytes, bytes):
        data, source = path_or_bytes, source or "<bytes>"
    else:
        source = source or str(path_or_bytes)
        try:
            data = Path(path_or_bytes).read_bytes()
        except (OSError, ValueError) as err:  # a folder, a dangling or looping link, no permission; ValueError: a NUL in the path
            raise InvalidRecordError(
                f"{source}: cannot read the file ({type(err).__name__}: {getattr(err, 'strerror', None) or err})"
            ) from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidRecordError(f"{source}: not UTF-8 text at byte {err.start}; expected a Time,Parameter,Value file") from err
    minutes, names, values, lines = _split_rows(text, source)
    codes = np.array(list(map(_CODES.get, names, repeat(_UNKNOWN, len(names)))), dtype=np.int64).reshape(-1)
    times = np.asarray(minutes, dtype=np.float64)
    record_id = _record_id(codes, times, values, lines, source)
    report = report if report is not None else Physionet2012Report()  # nothing can raise from here on
    report.n_rows += len(names)
    report.n_repeated_record_id += int((codes == _RECORD_ID).sum()) - 1

    static: dict[str, float] = {}
    for i in np.flatnonzero((codes >= _DESC) & (codes < _RECORD_ID) | ((codes == _WEIGHT) & (times == 0))):
        name = DESCRIPTORS[codes[i] - _DESC] if codes[i] >= _DESC else "Weight"
        if times[i] == 0 and name not in static:
            static[name] = _check_static(name, float(values[i]), record_id, report)
            codes[i] = _RECORD_ID  # consumed: not a time-series observation
        elif name != "Weight":
            report.n_repeated_descriptor[name] += 1
    for name in DESCRIPTORS:
        if name not in static:
            report.missing_descriptors[name] += 1
            static[name] = float("nan")
    report.n_empty_parameter += int((codes == _EMPTY).sum())
    for i in np.flatnonzero(codes == _UNKNOWN):
        report.unknown_parameters[names[i]] += 1

    keep = (codes >= 0) & (codes < _DESC)
    var, t, x = codes[keep], times[keep], values[keep]
    missing = x == -1
    bad = ~missing & ((x < _LO[var]) | (x > _HI[var]))
    for counter, hit in ((report.n_missing_marker, missing), (report.n_out_of_range, bad)):
        counts = np.bincount(var[hit], minlength=len(VARIABLES))
        for j in np.flatnonzero(counts):
            counter[VARIABLES[j]] += int(counts[j])
    for j in np.flatnonzero(bad)[: max(0, MAX_LISTED - len(report.out_of_range))]:
        report.out_of_range.append(OutOfRangeValue(record_id, float(t[j]), VARIABLES[var[j]], float(x[j])))
    ok = ~(missing | bad)
    order = np.argsort(t[ok], kind="stable")  # files are time-sorted already; stable keeps file order within a minute
    var, t, x = var[ok][order], t[ok][order], x[ok][order]
    if var.size > 1:
        key = np.sort(t.astype(np.int64) * 64 + var)
        for k in key[1:][key[1:] == key[:-1]]:
            report.n_duplicate_time[VARIABLES[int(k % 64)]] += 1
    report.n_observations += int(var.size)
    if var.size == 0:
        report.no_time_series.append(record_id)
    return IcuStay(record_id, t, var, x, VARIABLES, static, source=source)


def _cache_key(sources: Sequence[Path]) -> str:
    """Hash of the parser version, the ranges and every source file's name, size and mtime."""
    stats = []
    for s in sources:
        for p in sorted(s.glob("*.txt")) if s.is_dir() else [s]:
            try:
                st = p.stat()
                stats.append((str(p), st.st_size, st.st_mtime_ns))
            except OSError:  # a dangling link: its read fails and is reported; the key still changes when it is mended
                stats.append((str(p), -1, -1))
    payload = json.dumps([_CACHE_VERSION, PLAUSIBLE_RANGES, DESCRIPTOR_RANGES, OUTCOME_RANGES, MAX_TIME_MIN, MAX_LISTED, stats])
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _save_cache(path: Path, stays: list[IcuStay], report: Physionet2012Report) -> None:
    """Stays as flat arrays plus offsets, and the report as JSON, in one npz (no pickle)."""
    lengths = np.array([len(s) for s in stays], dtype=np.int64)
    cat = lambda name: np.concatenate([getattr(s, name) for s in stays]) if stays else np.empty(0)  # noqa: E731
    meta = [{"id": s.record_id, "source": s.source, "static": s.static, "outcome": s.outcome} for s in stays]
    with atomic_path(path) as tmp:
        np.savez(tmp, lengths=lengths, times=cat("times_min"), variables=cat("variables"), values=cat("values"),
                 meta=np.array(json.dumps(meta)), report=np.array(json.dumps(report.to_dict())))  # fmt: skip


def _load_cache(path: Path) -> tuple[list[IcuStay], Physionet2012Report]:
    """Inverse of `_save_cache`."""
    with np.load(path, allow_pickle=False) as z:
        ends = np.cumsum(z["lengths"])
        times, variables, values = z["times"], z["variables"].astype(np.int64), z["values"]
        meta, report = json.loads(str(z["meta"])), Physionet2012Report.from_dict(json.loads(str(z["report"])))
    stays = [IcuStay(m["id"], times[e - n : e], variables[e - n : e], values[e - n : e], VARIABLES,
                     {k: float(v) for k, v in m["static"].items()}, {k: float(v) for k, v in m["outcome"].items()}, m["source"])
             for m, e, n in zip(meta, ends, np.diff(ends, prepend=0))]  # fmt: skip
    return stays, report


def _add_counts(total: Physionet2012Report, part: Physionet2012Report) -> None:
    """Add one file's counts and lists to the read's report (out-of-range values listed up to MAX_LISTED in all)."""
    for f in dataclasses.fields(Physionet2012Report):
        mine, theirs = getattr(total, f.name), getattr(part, f.name)
        if f.name == "out_of_range":
            mine.extend(theirs[: max(0, MAX_LISTED - len(mine))])
        elif isinstance(mine, Counter):
            mine.update(theirs)
        elif isinstance(mine, int):
            setattr(total, f.name, mine + theirs)
        elif isinstance(mine, list):
            mine.extend(theirs)


def read_physionet2012(
    root: str | Path | None = None, sets: Sequence[str] = SETS, progress: bool = False, cache: bool = True
) -> tuple[list[IcuStay], Physionet2012Report]:
    """Read sets of the challenge (default all 12,000 stays) with their outcomes attached.

    Files that cannot be parsed are collected in `report.failures` (source -> reason) and the read goes on with the
    good ones. A missing set or Outcomes file raises DataNotFoundError before anything is read.
    """
    root = Path(root) if root is not None else paths.dataset_dir("physionet2012")
    bad = [s for s in sets if s not in SETS]
    if bad or not sets:
        raise ConfigError(f"unknown PhysioNet 2012 set(s) {bad or list(sets)}; valid sets are {list(SETS)}")
    sources = [set_source(root, s) for s in sets]
    outcome_files = [root / f"Outcomes-{s}.txt" for s in sets]
    for f in outcome_files:
        if not f.is_file():
            raise DataNotFoundError(f"PhysioNet 2012 outcomes not found: looked for {f}; {FETCH_HINT}")
    cache_file = paths.cache_dir() / "physionet2012" / f"{''.join(sets)}-{_cache_key([*sources, *outcome_files])}.npz" if cache else None
    if cache_file is not None and cache_file.exists():
        try:
            return _load_cache(cache_file)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:  # ours to rebuild, not the user's data
            logger.warning("%s: damaged cache (%s: %s); reading the files again", cache_file, type(err).__name__, err)

    report, stays, seen = Physionet2012Report(root=str(root)), [], {}
    for name, source, outcome_file in zip(sets, sources, outcome_files):
        outcomes, n_before = read_outcomes(outcome_file), len(stays)
        for src, data in tqdm(iter_files(source), desc=f"set-{name}", disable=not progress, leave=False):
            part = Physionet2012Report()  # counted into `report` only once the stay is kept
            try:
                if isinstance(data, InvalidRecordError):
                    raise data
                stay = read_physionet2012_record(data, source=src, report=part)
            except InvalidRecordError as err:
                report.failures[src] = str(err)
                continue
            if stay.record_id in seen:  # a copy of a file would put one stay on both sides of a split
                report.failures[src] = (
                    f"{src}: field RecordID: the same stay as {seen[stay.record_id]}, read already; expected one file per stay"
                )
                continue
            seen[stay.record_id] = src
            _add_counts(report, part)
            if stay.record_id not in outcomes:
                report.missing_outcomes.append(stay.record_id)
            stays.append(dataclasses.replace(stay, outcome=outcomes.get(stay.record_id, {})))
        report.n_records[name] = len(stays) - n_before
    if cache_file is not None:
        try:
            _save_cache(cache_file, stays, report)
        except OSError as err:  # a read-only or full cache folder costs a re-read next time, nothing more
            logger.warning("%s: cache not written (%s)", cache_file, err)
    return stays, report
