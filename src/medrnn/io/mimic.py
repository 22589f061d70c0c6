"""MIMIC-III / MIMIC-IV hospital tables -> one row per admission with its codes (polars, lazy) -> VisitSequence.

Layout is detected: MIMIC-IV has a `hosp/` folder of lower-case files (admissions.csv.gz); MIMIC-III has upper-case
files at the root (ADMISSIONS.csv). Each table may be `.parquet`, `.csv.gz` or `.csv` (tried in that order); column
names are lower-cased, so both exports of MIMIC-III read alike.

Scale: the full MIMIC-IV has ~120M labevents and ~5M diagnosis rows. Every table is scanned lazily, only the needed
columns are projected, and codes are aggregated to one row per admission inside polars before Python sees anything.
Recent polars decompresses `.csv.gz` inside a streaming scan (pola-rs/polars#25842, verified on polars 2.1.0), so
compressed files are scanned where they lie and no parquet copy is written: a filtered group-by over a 365 MB (41 MB
gzip) table peaked at ~250 MB RSS. A `.parquet` copy beside a CSV skips decompression on repeated reads and is used
first. Peak memory is the per-admission result plus the rows kept for aggregation (all code rows; for labs, the
abnormal-flagged ones: ~0.75 GB for 5M). CSV columns are all read as text (`infer_schema=False`): inferring types
from the first rows would make icd codes such as 4139 integers and fail on V707 further down.

Codes are "<system>:<code>" with systems ICD9_DX, ICD10_DX, ICD9_PX, ICD10_PX (the icd_version column of MIMIC-IV;
MIMIC-III is ICD-9 only), NDC (prescriptions; NDC empty or "0" skipped and counted) and LAB (itemids of lab results
flagged abnormal, opt-in). Within one admission a code is kept once, at its first position: diagnoses and procedures
in seq_num order (the principal diagnosis first), prescriptions by start time, labs by chart time. An admission's
codes list diagnoses, then procedures, prescriptions and labs.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from medrnn.errors import ConfigError, DataNotFoundError, InvalidRecordError
from medrnn.records import Admission, VisitSequence

logger = logging.getLogger(__name__)

CODE_SOURCES: tuple[str, ...] = ("diagnoses", "procedures", "prescriptions", "labevents")
DEFAULT_CODE_SOURCES: tuple[str, ...] = ("diagnoses", "procedures", "prescriptions")
SOURCE_SYSTEMS: dict[str, tuple[str, ...]] = {"diagnoses": ("ICD9_DX", "ICD10_DX"), "procedures": ("ICD9_PX", "ICD10_PX"),
                                              "prescriptions": ("NDC",), "labevents": ("LAB",)}  # fmt: skip
SYSTEMS: tuple[str, ...] = tuple(s for systems in SOURCE_SYSTEMS.values() for s in systems)
TABLES: dict[str, str] = {"admissions": "ADMISSIONS", "patients": "PATIENTS", "diagnoses": "DIAGNOSES_ICD",
                          "procedures": "PROCEDURES_ICD", "prescriptions": "PRESCRIPTIONS", "labevents": "LABEVENTS"}  # fmt: skip
EXTENSIONS: tuple[str, ...] = (".parquet", ".csv.gz", ".csv")
DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
MAX_LISTED = 20  # orphan admission ids listed per table (all are counted)
_EMPTY_LIST = pl.lit([], dtype=pl.List(pl.String))


@dataclass
class MimicReport:
    """What a read did: patients and admissions kept, codes per system, and every row not turned into a code."""

    root: str = ""
    version: str = ""  # "mimic-iii" or "mimic-iv"
    code_sources: tuple[str, ...] = ()
    n_patients: int = 0  # patients with at least one admission
    n_admissions: int = 0
    n_in_hospital_deaths: int = 0
    n_codes: dict[str, int] = field(default_factory=dict)  # system -> codes kept (once per admission)
    n_rows: dict[str, int] = field(default_factory=dict)  # table -> rows read (labevents: abnormal-flagged rows)
    n_skipped: dict[str, int] = field(default_factory=dict)  # "table: reason" -> rows without a usable code
    n_without_hadm: dict[str, int] = field(default_factory=dict)  # table -> rows with no (integer) hadm_id, e.g. outpatient labs
    n_orphan_rows: dict[str, int] = field(default_factory=dict)  # table -> rows whose hadm_id is not in admissions
    orphan_hadm_ids: dict[str, list[int]] = field(default_factory=dict)  # table -> the first MAX_LISTED of those ids
    n_admissions_without_codes: int = 0
    n_patients_without_admissions: int = 0  # in the patients table, never admitted
    n_admissions_without_patient: int = 0  # subject_id absent from patients (date_of_death unknown)
    # excluded admissions (counted and listed, never used): discharge before admission, and admissions that begin
    # after the patient's in-hospital death (MIMIC-III's organ-donor accounts)
    excluded_discharge_before_admission: list[int] = field(default_factory=list)
    excluded_after_death: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["code_sources"] = list(self.code_sources)
        return out

    def summary(self) -> str:
        """One paragraph for logs and the CLI."""
        codes = ", ".join(f"{s} {n}" for s, n in self.n_codes.items())
        orphans = sum(self.n_orphan_rows.values())
        return (f"{self.root} ({self.version}): {self.n_patients} patients, {self.n_admissions} admissions "
                f"({self.n_in_hospital_deaths} in-hospital deaths); codes: {codes}; {orphans} code rows with an unknown "
                f"hadm_id, {sum(self.n_skipped.values())} rows without a usable code")  # fmt: skip


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


def scan_table(path: Path, table: str, columns: Sequence[str]) -> pl.LazyFrame:
    """Lazy scan of `columns` (lower-case names, matched case-insensitively), or an error listing the columns it has."""
    if path.name.endswith(".parquet"):
        lf = pl.scan_parquet(path)
    else:
        lf = pl.scan_csv(path, infer_schema=False)
    try:
        names = lf.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as err:
        raise InvalidRecordError(f"{path}: table {table!r} is not a readable CSV or parquet file ({err})") from err
    lower = {name.lower(): name for name in names}
    for column in columns:
        if column not in lower:
            raise InvalidRecordError(f"{path}: table {table!r} has no column {column!r}; its columns are {names}")
    return lf.select(pl.col(lower[c]).alias(c) for c in columns)


def collect_table(lf: pl.LazyFrame, path: Path, table: str) -> pl.DataFrame:
    """Collect a small table, naming the file when polars cannot parse it."""
    try:
        return lf.collect()
    except pl.exceptions.PolarsError as err:
        raise InvalidRecordError(f"{path}: table {table!r} could not be read ({err})") from err


def _bad_row_error(frame: pl.DataFrame, bad: pl.Expr, column: str, path: Path, table: str, expected: str) -> None:
    """Raise naming the first value of `column` where `bad` holds (0-based data row, header excluded), if any."""
    rows = frame.with_row_index("_row").filter(bad)
    if rows.height:
        row, value = rows["_row"][0], rows[column][0]
        raise InvalidRecordError(f"{path}: table {table!r} column {column!r}: {rows.height} value(s) are not {expected}; "
                                 f"first {value!r} at row {row} (0-based data row, header excluded)")  # fmt: skip


def _parse_ids(frame: pl.DataFrame, columns: Sequence[str], path: Path, table: str) -> pl.DataFrame:
    """Cast id columns to Int64; a missing or non-integer id raises naming its row."""
    for column in columns:
        parsed = pl.col(column).cast(pl.Int64, strict=False)
        _bad_row_error(frame, parsed.is_null(), column, path, table, "integer ids")
        frame = frame.with_columns(parsed)
    return frame


def _parse_dates(frame: pl.DataFrame, columns: Sequence[str], path: Path, table: str, required: Sequence[str] = ()) -> pl.DataFrame:
    """Parse date/time text (empty -> null) to Datetime; an unparsable value, or an empty required one, raises."""
    for column in columns:
        if frame[column].dtype.is_temporal():
            parsed = pl.col(column).cast(pl.Datetime("us"))
        else:
            text = pl.col(column).cast(pl.String).str.strip_chars()
            parsed = pl.coalesce([text.str.strptime(pl.Datetime("us"), f, strict=False) for f in DATE_FORMATS])
            _bad_row_error(frame, text.is_not_null() & (text != "") & parsed.is_null(), column, path, table,
                           f"dates ({DATE_FORMATS[0]} or {DATE_FORMATS[1]})")  # fmt: skip
        frame = frame.with_columns(parsed)
        if column in required:
            _bad_row_error(frame, pl.col(column).is_null(), column, path, table, "empty (a value is required)")
    return frame


def _admissions(root: Path, version: str, report: MimicReport) -> pl.DataFrame:
    """Admissions joined to patients' date of death: one row per hadm_id, times parsed, death_time resolved."""
    path = table_path(root, version, "admissions")
    columns = ["subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "hospital_expire_flag"]
    adm = collect_table(scan_table(path, "admissions", columns), path, "admissions")
    adm = _parse_ids(adm, ["subject_id", "hadm_id"], path, "admissions")
    adm = _parse_dates(adm, ["admittime", "dischtime", "deathtime"], path, "admissions", required=["admittime", "dischtime"])
    duplicated = adm.filter(pl.col("hadm_id").is_duplicated())
    if duplicated.height:
        raise InvalidRecordError(f"{path}: table 'admissions' column 'hadm_id': {duplicated['hadm_id'].n_unique()} id(s) "
                                 f"appear more than once, e.g. {duplicated['hadm_id'][0]}; each admission must be one row")  # fmt: skip
    flag = pl.col("hospital_expire_flag").cast(pl.String).str.strip_chars() == "1"
    # deathtime is the in-hospital death time; a few rows flag the death without one: the discharge is the death
    adm = adm.with_columns(pl.coalesce(pl.col("deathtime"), pl.when(flag).then(pl.col("dischtime"))).alias("death_time"))
    inverted = pl.col("dischtime") < pl.col("admittime")
    report.excluded_discharge_before_admission = adm.filter(inverted)["hadm_id"].sort().to_list()
    adm = adm.filter(~inverted)
    first_death = pl.col("death_time").min().over("subject_id")
    after_death = first_death.is_not_null() & (pl.col("admittime") > first_death)
    report.excluded_after_death = adm.filter(after_death)["hadm_id"].sort().to_list()
    adm = adm.filter(~after_death)

    ppath = table_path(root, version, "patients")
    patients = collect_table(scan_table(ppath, "patients", ["subject_id", "dod"]), ppath, "patients")
    patients = _parse_dates(_parse_ids(patients, ["subject_id"], ppath, "patients"), ["dod"], ppath, "patients")
    _bad_row_error(patients, pl.col("subject_id").is_duplicated(), "subject_id", ppath, "patients", "unique (one row per patient)")
    report.n_patients_without_admissions = patients.join(adm, on="subject_id", how="anti").height
    report.n_admissions_without_patient = adm.join(patients, on="subject_id", how="anti").height
    adm = adm.join(patients, on="subject_id", how="left")
    return adm.select("subject_id", "hadm_id", "admittime", "dischtime", "death_time", "dod")


def _codes_query(root: Path, version: str, source: str) -> tuple[pl.LazyFrame, Path, str]:
    """Lazy per-admission aggregate of one code table: ordered unique codes, rows, skipped rows, bad icd_version values."""
    path = table_path(root, version, source)
    no_bad = pl.lit(None, dtype=pl.String)
    if source in ("diagnoses", "procedures"):
        kind = "DX" if source == "diagnoses" else "PX"
        if version == "mimic-iii":
            lf = scan_table(path, source, ["hadm_id", "seq_num", "icd9_code"]).rename({"icd9_code": "code"})
            icd_version = pl.lit("9")
        else:
            lf = scan_table(path, source, ["hadm_id", "seq_num", "icd_code", "icd_version"]).rename({"icd_code": "code"})
            icd_version = pl.col("icd_version").cast(pl.String).str.strip_chars()
        prefix = pl.when(icd_version == "9").then(pl.lit(f"ICD9_{kind}:")).when(icd_version == "10").then(pl.lit(f"ICD10_{kind}:"))
        code, order = pl.col("code").cast(pl.String).str.strip_chars(), pl.col("seq_num").cast(pl.Int64, strict=False)
        bad = pl.when(prefix.is_null()).then(icd_version.fill_null("<empty>"))
        reason = f"{source}: empty code"
    elif source == "prescriptions":
        start = "startdate" if version == "mimic-iii" else "starttime"
        lf = scan_table(path, source, ["hadm_id", start, "ndc"])
        code, order, prefix, bad = pl.col("ndc").cast(pl.String).str.strip_chars(), pl.col(start).cast(pl.String), pl.lit("NDC:"), no_bad
        code = pl.when(code != "0").then(code)
        reason = "prescriptions: ndc empty or 0"
    else:
        lf = scan_table(path, source, ["hadm_id", "itemid", "charttime", "flag"])
        lf = lf.filter(pl.col("flag").cast(pl.String).str.strip_chars().str.to_lowercase() == "abnormal")
        code, order = pl.col("itemid").cast(pl.String).str.strip_chars(), pl.col("charttime").cast(pl.String)
        prefix, bad = pl.lit("LAB:"), no_bad
        reason = "labevents: empty itemid"
    code = pl.when(code.is_not_null() & (code != "")).then(prefix + code)
    rows = lf.select(pl.col("hadm_id").cast(pl.Int64, strict=False), order.alias("order"), code.alias("code"), bad.alias("bad"))
    agg = rows.group_by("hadm_id").agg(
        # (order, code) as the sort key: the result does not depend on the scan's row order within an admission
        pl.col("code").sort_by("order", "code", nulls_last=True).drop_nulls().unique(maintain_order=True).alias(source),
        pl.len().alias("n_rows"),
        pl.col("code").null_count().alias("n_skipped"),
        pl.col("bad").drop_nulls().unique().alias("bad"),
    )
    return agg, path, reason


def _collect_codes(queries: list[tuple[pl.LazyFrame, Path, str]], sources: Sequence[str]) -> list[pl.DataFrame]:
    """Collect the per-table aggregates together (their scans run in parallel); a parse error names its file."""
    try:
        return pl.collect_all([q for q, _, _ in queries], engine="streaming")
    except pl.exceptions.PolarsError:
        for (query, path, _), source in zip(queries, sources):  # find which file failed, to name it
            collect_table(query, path, source)
        raise


def visit_frame(
    root: str | Path,
    code_sources: Sequence[str] = DEFAULT_CODE_SOURCES,
    report: MimicReport | None = None,
    progress: bool = False,
) -> pl.DataFrame:
    """One row per admission, ordered by (subject_id, admittime, hadm_id), with a list column of codes per source.

    Columns: subject_id, hadm_id (Int64), admittime, dischtime, death_time (in-hospital), dod (Datetime), then one
    List[String] column per entry of `code_sources`. Pass a `MimicReport` to have it filled.
    """
    sources = tuple(code_sources)
    unknown = [s for s in sources if s not in CODE_SOURCES]
    if unknown or not sources or len(set(sources)) != len(sources):
        raise ConfigError(f"code_sources {list(sources)}: give each of {', '.join(CODE_SOURCES)} at most once (at least one)")
    sources = tuple(s for s in CODE_SOURCES if s in sources)  # fixed order: diagnoses, procedures, prescriptions, labs
    root = Path(root)
    report = report if report is not None else MimicReport()
    version = detect_version(root)
    report.root, report.version, report.code_sources = str(root), version, sources
    started = time.perf_counter()
    adm = _admissions(root, version, report)
    queries = [_codes_query(root, version, s) for s in sources]
    if progress:
        logger.info("%s: %d admissions read in %.1f s; aggregating %s", root, adm.height, time.perf_counter() - started, ", ".join(sources))
    aggregates = _collect_codes(queries, sources)
    known = adm.select("hadm_id")
    for source, agg, (_, path, reason) in zip(sources, aggregates, queries):
        bad = sorted(set(agg["bad"].explode().drop_nulls().to_list()))
        if bad:
            raise InvalidRecordError(f"{path}: table {source!r} column 'icd_version' has value(s) {bad}: unknown code system; "
                                     "expected 9 (ICD-9) or 10 (ICD-10)")  # fmt: skip
        report.n_rows[source] = int(agg["n_rows"].sum())
        report.n_skipped[reason] = int(agg["n_skipped"].sum())
        report.n_without_hadm[source] = int(agg.filter(pl.col("hadm_id").is_null())["n_rows"].sum())
        orphans = agg.filter(pl.col("hadm_id").is_not_null()).join(known, on="hadm_id", how="anti").sort("hadm_id")
        report.n_orphan_rows[source] = int(orphans["n_rows"].sum())
        report.orphan_hadm_ids[source] = orphans["hadm_id"].head(MAX_LISTED).to_list()
        if orphans.height:
            logger.warning("%s: %d %s rows name %d hadm_id(s) absent from admissions (e.g. %s); they are not used",
                           path, report.n_orphan_rows[source], source, orphans.height, orphans["hadm_id"][0])  # fmt: skip
        adm = adm.join(agg.select("hadm_id", source), on="hadm_id", how="left").with_columns(pl.col(source).fill_null(_EMPTY_LIST))
    frame = adm.sort("subject_id", "admittime", "hadm_id")
    _fill_counts(frame, sources, report)
    if progress:
        logger.info("%s: visit frame built in %.1f s", root, time.perf_counter() - started)
    return frame


def _fill_counts(frame: pl.DataFrame, sources: Sequence[str], report: MimicReport) -> None:
    """Patients, admissions, deaths and codes per system, from the visit frame."""
    report.n_patients = frame["subject_id"].n_unique()
    report.n_admissions = frame.height
    report.n_in_hospital_deaths = int(frame["death_time"].is_not_null().sum())
    report.n_admissions_without_codes = int(frame.select(pl.sum_horizontal(pl.col(s).list.len() for s in sources) == 0).to_series().sum())
    counts: dict[str, int] = {}
    for source in sources:
        systems = frame.select(pl.col(source).explode().drop_nulls().str.extract(r"^([^:]+):", 1).alias("system"))
        for system, n in systems.group_by("system").len().iter_rows():
            counts[system] = counts.get(system, 0) + n
    report.n_codes = {s: counts.get(s, 0) for source in sources for s in SOURCE_SYSTEMS[source]}


def _datetimes(series: pl.Series) -> list[np.datetime64 | None]:
    """Datetime column -> numpy datetime64[s] values, None where missing."""
    values = series.dt.cast_time_unit("us").to_numpy().astype("datetime64[s]")
    return [None if np.isnat(v) else v for v in values]


def read_mimic(
    root: str | Path,
    code_sources: Sequence[str] = DEFAULT_CODE_SOURCES,
    progress: bool = False,
) -> tuple[list[VisitSequence], MimicReport]:
    """Read a MIMIC-III or MIMIC-IV folder into one VisitSequence per patient (admissions by admit time, then hadm_id).

    Built on `visit_frame`; only this last step, after aggregation, walks the admissions in Python.
    """
    report = MimicReport()
    frame = visit_frame(root, code_sources, report=report, progress=progress)
    codes = frame.select(pl.concat_list(report.code_sources).alias("codes"))["codes"].to_list()
    subjects = frame["subject_id"].to_numpy()
    hadm_ids = frame["hadm_id"].cast(pl.String).to_list()
    admit, discharge, death, dod = (_datetimes(frame[c]) for c in ("admittime", "dischtime", "death_time", "dod"))
    starts = np.flatnonzero(np.r_[True, subjects[1:] != subjects[:-1]]) if len(subjects) else np.array([], dtype=np.int64)
    ends = np.r_[starts[1:], len(subjects)]
    source = str(root)
    sequences = []
    for start, end in tqdm(zip(starts, ends), total=len(starts), desc="building visit sequences", disable=not progress, leave=False):
        admissions = tuple(Admission(hadm_ids[i], admit[i], discharge[i], death[i], tuple(codes[i])) for i in range(start, end))
        sequences.append(VisitSequence(str(subjects[start]), admissions, dod[start], source))
    return sequences, report
