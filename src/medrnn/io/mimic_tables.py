"""MIMIC-III/IV table access shared by the visit and notes readers: which version a folder holds, where a table is,
its header checked (duplicate and case-duplicate column names refused), lazy scans and collection with every polars
or decompression failure turned into an InvalidRecordError naming the file."""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from medrnn.errors import DataNotFoundError, InvalidRecordError

TABLES: dict[str, str] = {"admissions": "ADMISSIONS", "patients": "PATIENTS", "diagnoses": "DIAGNOSES_ICD",
                          "procedures": "PROCEDURES_ICD", "prescriptions": "PRESCRIPTIONS", "labevents": "LABEVENTS"}  # fmt: skip
EXTENSIONS: tuple[str, ...] = (".parquet", ".csv.gz", ".csv")
# What polars and the decompressors raise on a damaged or malformed table; a Rust panic derives from BaseException.
READ_ERRORS: tuple[type[BaseException], ...] = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, EOFError,
                                                 zlib.error, UnicodeDecodeError, csv.Error)  # fmt: skip


def detect_version(root: str | Path) -> str:
    """'mimic-iv' when `root/hosp/` exists, 'mimic-iii' when ADMISSIONS.csv[.gz] is at the root, else an error."""
    root = Path(root)
    if (root / "hosp").is_dir():
        return "mimic-iv"
    if any((root / f"ADMISSIONS{ext}").exists() for ext in EXTENSIONS):
        return "mimic-iii"
    is_hosp = any((root / f"admissions{ext}").exists() for ext in EXTENSIONS)
    hint = "; this looks like MIMIC-IV's hosp/ folder: pass its parent" if is_hosp else ""
    raise DataNotFoundError(
        f"{root}: neither MIMIC-IV (no hosp/ folder) nor MIMIC-III (no ADMISSIONS.csv or .csv.gz at the root){hint}; "
        "point the reader at the folder that holds them (MIMIC data are credentialed: https://physionet.org)"
    )


def table_path(root: str | Path, version: str, table: str) -> Path:
    """The file of one table (`TABLES` key), or DataNotFoundError naming every path tried."""
    root, stem = Path(root), TABLES[table]
    folder, name = (root / "hosp", stem.lower()) if version == "mimic-iv" else (root, stem)
    candidates = [folder / f"{name}{ext}" for ext in EXTENSIONS]
    for path in candidates:
        if path.is_file():
            return path
    raise DataNotFoundError(f"{root}: {version} table {table!r} not found; expected one of {[str(p) for p in candidates]}")


def csv_header(path: Path) -> list[str]:
    """The header row of a CSV, plain or gzip (sniffed as polars does), exactly as written: polars renames a repeated name."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open(path, "rt", encoding="utf-8-sig", newline="") if compressed else path.open(encoding="utf-8-sig", newline="")
    with opener as handle:
        return next(csv.reader(handle), [])


def check_columns(names: Sequence[str], path: Path | str, table: str) -> None:
    """Refuse a header naming one column twice, also in another case (`hadm_id` and `HADM_ID`): which one is meant is unknown."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in seen:
            raise InvalidRecordError(f"{path}: table {table!r} has columns {seen[key]!r} and {name!r}, the same name (column names are "
                                     "matched case-insensitively); expected each column once: remove or rename one")  # fmt: skip
        seen[key] = name


def table_columns(path: Path, table: str) -> list[str]:
    """Column names of a CSV (plain or gzip) or parquet table, checked for duplicates; an unreadable file names itself."""
    try:
        if path.name.endswith(".parquet"):
            names = pl.scan_parquet(path).collect_schema().names()
        else:
            check_columns(csv_header(path), path, table)
            names = pl.scan_csv(path, infer_schema=False).collect_schema().names()
    except READ_ERRORS as err:
        raise InvalidRecordError(
            f"{path}: table {table!r} is not a readable CSV, gzip CSV or parquet file ({type(err).__name__}: {err})"
        ) from err
    check_columns(names, path, table)
    return names


def scan_table(path: Path, table: str, columns: Sequence[str], optional: Sequence[str] = ()) -> pl.LazyFrame:
    """Lazy scan of `columns` (lower-case names, matched case-insensitively), or an error listing the columns it has.

    `optional` columns are taken when present and are null text otherwise. A header that names a column twice, in
    any case, is refused.
    """
    names = table_columns(path, table)
    lower = {name.lower(): name for name in names}
    for column in columns:
        if column not in lower:
            raise InvalidRecordError(f"{path}: table {table!r} has no column {column!r}; its columns are {names}")
    lf = pl.scan_parquet(path) if path.name.endswith(".parquet") else pl.scan_csv(path, infer_schema=False)
    absent = [pl.lit(None, dtype=pl.String).alias(c) for c in optional if c not in lower]
    return lf.select(*(pl.col(lower[c]).alias(c) for c in [*columns, *(c for c in optional if c in lower)]), *absent)


def collect_table(lf: pl.LazyFrame, path: Path | str, table: str, streaming: bool = False) -> pl.DataFrame:
    """Collect a table, naming the file when it cannot be read (damaged gzip, bad UTF-8, malformed CSV, ...)."""
    try:
        return lf.collect(engine="streaming") if streaming else lf.collect()
    except READ_ERRORS as err:
        raise InvalidRecordError(f"{path}: table {table!r} could not be read ({type(err).__name__}: {err})") from err
