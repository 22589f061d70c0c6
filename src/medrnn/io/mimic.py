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

Nothing is guessed: a damaged file (a gzip cut short, bad UTF-8), a column named twice in any case (`hadm_id` and
`HADM_ID`), a hospital_expire_flag other than 0/1, a missing or non-positive id, a date outside YEAR_RANGE and a code
that is not letters and digits raise InvalidRecordError naming the file, column and row (rows, not ids: messages and
logs never print a patient's id; the report lists them).
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

from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.io.mimic_tables import (  # noqa: F401  (public here too)
    EXTENSIONS,
    READ_ERRORS,
    TABLES,
    check_columns,
    collect_table,
    csv_header,
    detect_version,
    scan_table,
    table_columns,
    table_path,
)
from medrnn.records import Admission, VisitSequence

logger = logging.getLogger(__name__)

CODE_SOURCES: tuple[str, ...] = ("diagnoses", "procedures", "prescriptions", "labevents")
DEFAULT_CODE_SOURCES: tuple[str, ...] = ("diagnoses", "procedures", "prescriptions")
SOURCE_SYSTEMS: dict[str, tuple[str, ...]] = {"diagnoses": ("ICD9_DX", "ICD10_DX"), "procedures": ("ICD9_PX", "ICD10_PX"),
                                              "prescriptions": ("NDC",), "labevents": ("LAB",)}  # fmt: skip
SYSTEMS: tuple[str, ...] = tuple(s for systems in SOURCE_SYSTEMS.values() for s in systems)
DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
MAX_LISTED = 20  # orphan admission ids listed per table (all are counted)
EXPIRE_FLAGS: tuple[str, ...] = ("0", "1")  # hospital_expire_flag: 1 = died in hospital; anything else is refused
# Dates outside these years are a parsing or entry error: MIMIC shifts dates into 2100-2210 (MIMIC-III's dob of patients
# over 89 reaches the 1800s, but dob is not read), and a non-shifted export lies in the 1900s-2000s.
YEAR_RANGE: tuple[int, int] = (1800, 2300)
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-]*$"  # MIMIC codes are letters and digits; a dot or hyphen is tolerated
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


def _bad_row_error(frame: pl.DataFrame, bad: pl.Expr, column: str, path: Path, table: str, expected: str, show_value: bool = True) -> None:
    """Raise naming the first row of `column` where `bad` holds (0-based data row, header excluded), if any.

    `show_value=False` for identifiers: the row number finds the value without printing a patient's id.
    """
    rows = frame.with_row_index("_row").filter(bad.fill_null(True))
    if rows.height:
        row = rows["_row"][0]
        try:
            value = rows[column][0]
        except (ValueError, OverflowError):  # a date polars parsed but Python cannot hold (year 0)
            value = rows[column].cast(pl.String)[0]
        first = f"first {value!r} at row {row}" if show_value else f"first at row {row}"
        raise InvalidRecordError(f"{path}: table {table!r} column {column!r}: {rows.height} value(s) are not {expected}; "
                                 f"{first} (0-based data row, header excluded)")  # fmt: skip


def _parse_ids(frame: pl.DataFrame, columns: Sequence[str], path: Path, table: str) -> pl.DataFrame:
    """Cast id columns to Int64; a missing, non-integer or non-positive id raises naming its row."""
    for column in columns:
        parsed = pl.col(column).cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
        _bad_row_error(frame, parsed.is_null() | (parsed <= 0), column, path, table, "positive integer ids")
        frame = frame.with_columns(parsed)
    return frame


def _parse_dates(frame: pl.DataFrame, columns: Sequence[str], path: Path, table: str, required: Sequence[str] = ()) -> pl.DataFrame:
    """Parse date/time text (empty -> null) to Datetime; an unparsable or implausible value, or an empty required one, raises."""
    lo, hi = YEAR_RANGE
    for column in columns:
        if frame[column].dtype.is_temporal():
            parsed = pl.col(column).cast(pl.Datetime("us"))
        else:
            text = pl.col(column).cast(pl.String).str.strip_chars()
            parsed = pl.coalesce([text.str.strptime(pl.Datetime("us"), f, strict=False) for f in DATE_FORMATS])
            _bad_row_error(frame, text.is_not_null() & (text != "") & parsed.is_null(), column, path, table,
                           f"dates ({DATE_FORMATS[0]} or {DATE_FORMATS[1]})")  # fmt: skip
        frame = frame.with_columns(parsed)
        year = pl.col(column).dt.year()
        _bad_row_error(frame, pl.col(column).is_not_null() & ((year < lo) | (year >= hi)), column, path, table,
                       f"plausible dates (years {lo} to {hi - 1})")  # fmt: skip
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
    _bad_row_error(adm, pl.col("hadm_id").is_duplicated(), "hadm_id", path, "admissions", "unique (each admission must be one row)",
                   show_value=False)  # fmt: skip
    # the outcome: a value other than 0/1 (empty, -1, 2, NaN) is not a known "survived", so it is never read as one
    raw_flag = pl.col("hospital_expire_flag").cast(pl.String).str.strip_chars()
    _bad_row_error(adm, ~raw_flag.is_in(EXPIRE_FLAGS), "hospital_expire_flag", path, "admissions",
                   "0 or 1 (1 = died in hospital); fix or remove the admission")  # fmt: skip
    flag = raw_flag == "1"
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
    _bad_row_error(patients, pl.col("subject_id").is_duplicated(), "subject_id", ppath, "patients", "unique (one row per patient)",
                   show_value=False)  # fmt: skip
    report.n_patients_without_admissions = patients.join(adm, on="subject_id", how="anti").height
    report.n_admissions_without_patient = adm.join(patients, on="subject_id", how="anti").height
    adm = adm.join(patients, on="subject_id", how="left")
    return adm.select("subject_id", "hadm_id", "admittime", "dischtime", "death_time", "dod")


def _codes_query(root: Path, version: str, source: str) -> tuple[pl.LazyFrame, Path, str, str]:
    """Lazy per-admission aggregate of one code table: ordered unique codes, rows, skipped rows, and the first rows of
    damaged values (icd_version, hadm_id, code); with the file, the skip reason and the code column's name."""
    path = table_path(root, version, source)
    no_bad = pl.lit(None, dtype=pl.String)
    if source in ("diagnoses", "procedures"):
        kind = "DX" if source == "diagnoses" else "PX"
        if version == "mimic-iii":
            lf = scan_table(path, source, ["hadm_id", "seq_num", "icd9_code"]).rename({"icd9_code": "code"})
            icd_version, column = pl.lit("9"), "icd9_code"
        else:
            lf = scan_table(path, source, ["hadm_id", "seq_num", "icd_code", "icd_version"]).rename({"icd_code": "code"})
            icd_version, column = pl.col("icd_version").cast(pl.String).str.strip_chars(), "icd_code"
        prefix = pl.when(icd_version == "9").then(pl.lit(f"ICD9_{kind}:")).when(icd_version == "10").then(pl.lit(f"ICD10_{kind}:"))
        code, order = pl.col("code").cast(pl.String).str.strip_chars(), pl.col("seq_num").cast(pl.Int64, strict=False)
        bad = pl.when(prefix.is_null()).then(icd_version.fill_null("<empty>"))
        reason = f"{source}: empty code"
    elif source == "prescriptions":
        start = "startdate" if version == "mimic-iii" else "starttime"
        lf = scan_table(path, source, ["hadm_id", start, "ndc"])
        code, order, prefix, bad = pl.col("ndc").cast(pl.String).str.strip_chars(), pl.col(start).cast(pl.String), pl.lit("NDC:"), no_bad
        code = pl.when(code != "0").then(code)
        reason, column = "prescriptions: ndc empty or 0", "ndc"
    else:
        lf = scan_table(path, source, ["hadm_id", "itemid", "charttime", "flag"])
        lf = lf.filter(pl.col("flag").cast(pl.String).str.strip_chars().str.to_lowercase() == "abnormal")
        code, order = pl.col("itemid").cast(pl.String).str.strip_chars(), pl.col("charttime").cast(pl.String)
        prefix, bad = pl.lit("LAB:"), no_bad
        reason, column = "labevents: empty itemid", "itemid"
    # a code with spaces or punctuation is a shifted column or a damaged row, not a code (MIMIC's are letters and digits)
    bad_code = pl.when(code.is_not_null() & (code != "") & ~code.str.contains(CODE_PATTERN)).then(pl.col("_row"))
    code = pl.when(code.is_not_null() & (code != "")).then(prefix + code)
    hadm_text = pl.col("hadm_id").cast(pl.String).str.strip_chars()
    hadm = hadm_text.cast(pl.Int64, strict=False)
    # an empty hadm_id is an outpatient row (counted); a written one that is not an integer is damage (refused)
    bad_hadm = pl.when(hadm_text.is_not_null() & (hadm_text != "") & hadm.is_null()).then(pl.col("_row"))
    rows = lf.with_row_index("_row").select(hadm.alias("hadm_id"), order.alias("order"), code.alias("code"), bad.alias("bad"),
                                            bad_hadm.alias("bad_hadm"), bad_code.alias("bad_code"))  # fmt: skip
    agg = rows.group_by("hadm_id").agg(
        # (order, code) as the sort key: the result does not depend on the scan's row order within an admission
        pl.col("code").sort_by("order", "code", nulls_last=True).drop_nulls().unique(maintain_order=True).alias(source),
        pl.len().alias("n_rows"),
        pl.col("code").null_count().alias("n_skipped"),
        pl.col("bad").drop_nulls().unique().alias("bad"),
        pl.col("bad_hadm").count().alias("n_bad_hadm"),
        pl.col("bad_hadm").min().alias("bad_hadm"),
        pl.col("bad_code").count().alias("n_bad_code"),
        pl.col("bad_code").min().alias("bad_code"),
    )
    return agg, path, reason, column


def _collect_codes(queries: list[tuple[pl.LazyFrame, Path, str, str]], sources: Sequence[str]) -> list[pl.DataFrame]:
    """Collect the per-table aggregates together (their scans run in parallel); a parse error names its file."""
    try:
        return pl.collect_all([q[0] for q in queries], engine="streaming")
    except READ_ERRORS as err:
        for (query, path, _, _), source in zip(queries, sources):  # find which file failed, to name it
            collect_table(query, path, source, streaming=True)
        files = ", ".join(str(q[1]) for q in queries)
        raise InvalidRecordError(f"{files}: code tables could not be read ({type(err).__name__}: {err})") from err


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
    for source, agg, (_, path, reason, column) in zip(sources, aggregates, queries):
        bad = sorted(set(agg["bad"].explode().drop_nulls().to_list()))
        if bad:
            raise InvalidRecordError(f"{path}: table {source!r} column 'icd_version' has value(s) {bad}: unknown code system; "
                                     "expected 9 (ICD-9) or 10 (ICD-10)")  # fmt: skip
        for name, what, expected in (("hadm", "hadm_id", "integer ids (or empty: no admission)"),
                                     ("code", column, "codes of letters and digits (a shifted column or a damaged row?)")):  # fmt: skip
            n_bad = int(agg[f"n_bad_{name}"].sum())
            if n_bad:  # the row, not the value: the value may be an id
                raise InvalidRecordError(f"{path}: table {source!r} column {what!r}: {n_bad} value(s) are not {expected}; first at row "
                                         f"{agg[f'bad_{name}'].min()} (0-based data row, header excluded)")  # fmt: skip
        report.n_rows[source] = int(agg["n_rows"].sum())
        report.n_skipped[reason] = int(agg["n_skipped"].sum())
        report.n_without_hadm[source] = int(agg.filter(pl.col("hadm_id").is_null())["n_rows"].sum())
        orphans = agg.filter(pl.col("hadm_id").is_not_null()).join(known, on="hadm_id", how="anti").sort("hadm_id")
        report.n_orphan_rows[source] = int(orphans["n_rows"].sum())
        report.orphan_hadm_ids[source] = orphans["hadm_id"].head(MAX_LISTED).to_list()
        if orphans.height:  # counts only at WARNING: hadm_ids identify patients' stays, they go to DEBUG
            logger.warning("%s: %d %s rows name %d hadm_id(s) absent from admissions; they are not used (listed in the report)",
                           path, report.n_orphan_rows[source], source, orphans.height)  # fmt: skip
            logger.debug("%s: orphan hadm_ids %s", path, report.orphan_hadm_ids[source])
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
