"""PhysioNet/CinC 2012 Outcomes-x.txt: one row per stay, read strictly (the labels of the ICU mortality task)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from medrnn.errors import DataNotFoundError, InvalidRecordError

OUTCOME_COLUMNS: tuple[str, ...] = ("SAPS-I", "SOFA", "Length_of_stay", "Survival", "In-hospital_death")
MAX_RECORD_ID = 2**53  # RecordIDs are positive integers, exact in float64 (the challenge's are 6-digit)
FETCH_HINT = "run `medrnn data fetch physionet2012` or set MEDRNN_DATA to the folder that holds physionet2012/"
# Outcomes-x.txt columns other than In-hospital_death (0/1): -1 = missing for the first three; Survival -1 = no death
# recorded, and set B has a few small negatives, kept as written. SAPS-I is 14 items scored 0-4 (0-56), SOFA 6 organs
# scored 0-4 (0-24); stays and survival are in days.
OUTCOME_RANGES: dict[str, tuple[float, float]] = {"SAPS-I": (0, 56), "SOFA": (0, 24), "Length_of_stay": (0, 3_650),
                                                  "Survival": (-3_650, 36_500)}  # fmt: skip


def _outcome_value(column: str, text: str, path: Path, line: int) -> float:
    """One Outcomes cell: In-hospital_death 0/1; the others finite, -1 (missing) or inside OUTCOME_RANGES; else refused."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if column == "In-hospital_death":
        if value not in (0.0, 1.0):  # NaN, -1, 2, empty: an unknown outcome is never read as "survived"
            raise InvalidRecordError(f"{path}, line {line}: In-hospital_death is {text[:40]!r}, expected 0 or 1")
        return value
    lo, hi = OUTCOME_RANGES[column]
    if not (np.isfinite(value) and (value == -1 or lo <= value <= hi)):
        raise InvalidRecordError(f"{path}, line {line}: {column} is {text[:40]!r}, expected a number from {lo:g} to {hi:g} (-1 = missing)")
    return float("nan") if value == -1 and column in ("SAPS-I", "SOFA", "Length_of_stay") else value


def read_outcomes(path: str | Path) -> dict[str, dict[str, float]]:
    """Outcomes-x.txt -> {record_id: {column: value}}; SAPS-I, SOFA and Length_of_stay of -1 become NaN.

    Survival (days to death) keeps -1 as written: it means no death was recorded, not a missing value. A value that
    is not a number in its range, an In-hospital_death other than 0/1, a repeated RecordID or a repeated column
    (also in another case) raises InvalidRecordError naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"outcomes file not found: looked for {path}; {FETCH_HINT}")
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InvalidRecordError(f"{path}: not a readable UTF-8 CSV file ({type(err).__name__}: {err})") from err
    header = [h.strip() for h in rows[0]] if rows else []
    seen: dict[str, str] = {}
    for name in header:
        if name.lower() in seen:
            raise InvalidRecordError(f"{path}, line 1: columns {seen[name.lower()]!r} and {name!r} are the same column; expected each once")
        seen[name.lower()] = name
    absent = [c for c in ("RecordID", *OUTCOME_COLUMNS) if c not in header]
    if absent:
        raise InvalidRecordError(f"{path}, line 1: columns {absent} missing; header is {header}")
    col = {c: header.index(c) for c in ("RecordID", *OUTCOME_COLUMNS)}
    out: dict[str, dict[str, float]] = {}
    first_line: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InvalidRecordError(f"{path}, line {line}: {len(row)} fields, expected {len(header)} ({', '.join(header)})")
        rid_text = row[col["RecordID"]].strip()
        if not (rid_text.isascii() and rid_text.isdigit() and len(rid_text) <= 18 and 0 < int(rid_text) < MAX_RECORD_ID):
            raise InvalidRecordError(f"{path}, line {line}: RecordID is {rid_text[:40]!r}, expected a positive integer")
        rid = str(int(rid_text))
        if rid in out:
            raise InvalidRecordError(f"{path}, lines {first_line[rid]} and {line}: the same RecordID twice; expected one row per stay")
        first_line[rid] = line
        out[rid] = {c: _outcome_value(c, row[col[c]].strip(), path, line) for c in OUTCOME_COLUMNS}
    return out
