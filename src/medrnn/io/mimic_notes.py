"""MIMIC-III NOTEEVENTS / MIMIC-IV-Note notes + ICD codes per admission (+ CAML or MIMIC-IV ICD splits) -> NoteRecord.

One record per admission (hadm_id), the unit of the CAML (Mullenbach et al. 2018) and MIMIC-IV ICD (Nguyen et al.
2023; Edin et al. 2023) benchmarks. Several notes of one admission (a summary and its addenda) are concatenated in
chart order, as CAML does: MIMIC-III by (chartdate, charttime, row_id), MIMIC-IV by (charttime, note_seq, note_id),
missing times last, joined by NOTE_SEPARATOR. Dates are compared as written (ISO text sorts chronologically).

Layout: MIMIC-III has NOTEEVENTS, DIAGNOSES_ICD and PROCEDURES_ICD at the root; MIMIC-IV has `hosp/diagnoses_icd`,
`hosp/procedures_icd` and the notes module's `note/discharge` (and `note/radiology`), either under the same root or
under `notes_root`. Each table may be `.parquet`, `.csv.gz` or `.csv`; tables are scanned lazily with polars and only
the rows of the asked note categories reach Python (the helpers of io/mimic.py are reused).

Codes carry their dot (transforms.icd): ICD-9 as CAML writes them (diagnoses after 3 characters, E-codes after 4,
procedures after 2), ICD-10-CM after 3, ICD-10-PCS none; diagnoses first, in seq_num order, then procedures. Notes
flagged iserror=1 (MIMIC-III), notes without hadm_id and admissions absent from the split file are counted and listed.
Empty notes are dropped and counted (an empty record would teach codes from nothing); damaged tables, repeated columns
and unknown iserror flags raise InvalidRecordError naming the file.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from medrnn.errors import ConfigError, DataNotFoundError, InvalidRecordError
from medrnn.io.mimic import MAX_LISTED
from medrnn.io.mimic_tables import EXTENSIONS, READ_ERRORS, check_columns, collect_table, csv_header, scan_table, table_path
from medrnn.records import NoteRecord
from medrnn.transforms.icd import icd_with_dot

logger = logging.getLogger(__name__)

VERSIONS: tuple[str, ...] = ("mimic-iii", "mimic-iv")
NOTE_SEPARATOR = "\n\n"
SPLIT_ALIASES: dict[str, str] = {"train": "train", "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev", "test": "test"}
# MIMIC-IV-Note note_type -> (file in note/, the MIMIC-III category it corresponds to)
MIMIC4_NOTE_TYPES: dict[str, tuple[str, str]] = {"DS": ("discharge", "Discharge summary"), "RR": ("radiology", "Radiology"),
                                                 "AR": ("radiology", "Radiology addendum")}  # fmt: skip
_NOTE_COLUMNS = {"mimic-iii": (["row_id", "subject_id", "hadm_id", "chartdate", "category", "text"], ["charttime", "iserror"]),
                 "mimic-iv": (["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "text"], [])}  # fmt: skip
_ORDER = {"mimic-iii": ["chartdate", "charttime", "row_id"], "mimic-iv": ["charttime", "note_seq", "note_id"]}


@dataclass
class NotesReport:
    """What a read did: notes and admissions kept, codes per system, and everything not turned into a record."""

    root: str = ""
    version: str = ""
    notes_files: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    n_notes: dict[str, int] = field(default_factory=dict)  # category -> notes of the asked categories, before any drop
    n_error_notes: int = 0  # MIMIC-III iserror = 1: dropped
    n_notes_without_hadm: int = 0  # no hadm_id: no codes can be linked, dropped
    n_empty_notes: int = 0  # empty or blank text: dropped (never trained on)
    n_admissions_only_empty_notes: int = 0  # admissions whose every note was empty: no record
    n_admissions: int = 0  # records returned
    n_multi_note_admissions: int = 0  # admissions whose text joins more than one note
    max_notes_per_admission: int = 0
    n_code_rows: dict[str, int] = field(default_factory=dict)  # table -> rows read
    n_codes: dict[str, int] = field(default_factory=dict)  # "ICD9_D", "ICD10_P", ... -> codes kept on records
    n_skipped_codes: dict[str, int] = field(default_factory=dict)  # "table: reason" -> code rows not used
    n_mixed_version_admissions: int = 0  # MIMIC-IV: ICD-9 and ICD-10 codes on one admission
    admissions_without_codes: list[int] = field(default_factory=list)  # kept with codes=(); first MAX_LISTED
    n_admissions_without_codes: int = 0
    code_admissions_without_notes: list[int] = field(default_factory=list)  # hadm_ids with codes but no note; first MAX_LISTED
    n_code_admissions_without_notes: int = 0
    n_split: dict[str, int] = field(default_factory=dict)  # split -> records
    not_in_split_file: list[int] = field(default_factory=list)  # kept with split=""; first MAX_LISTED
    n_not_in_split_file: int = 0
    split_ids_without_notes: list[int] = field(default_factory=list)  # first MAX_LISTED
    n_split_ids_without_notes: int = 0
    unknown_split_names: list[str] = field(default_factory=list)  # split names other than train/dev/test (and aliases), kept

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One paragraph for logs and the CLI."""
        return (f"{self.root} ({self.version}): {self.n_admissions} admissions from {sum(self.n_notes.values())} notes "
                f"({self.n_multi_note_admissions} with several); {self.n_empty_notes} empty notes dropped "
                f"({self.n_admissions_only_empty_notes} admissions left without text); codes {self.n_codes}; "
                f"{self.n_admissions_without_codes} admissions without codes, {self.n_code_admissions_without_notes} coded admissions "
                f"without notes; splits {self.n_split}, {self.n_not_in_split_file} not in the split file")  # fmt: skip


def detect_notes_version(root: str | Path) -> str:
    """'mimic-iv' when root has hosp/ or note/, 'mimic-iii' when NOTEEVENTS is at the root, else DataNotFoundError."""
    root = Path(root)
    if (root / "hosp").is_dir() or (root / "note").is_dir():
        return "mimic-iv"
    if any((root / f"NOTEEVENTS{ext}").is_file() for ext in EXTENSIONS):
        return "mimic-iii"
    raise DataNotFoundError(f"{root}: neither MIMIC-IV (no hosp/ or note/ folder) nor MIMIC-III (no NOTEEVENTS.csv[.gz] at the "
                            "root); point the reader at that folder (MIMIC data are credentialed: https://physionet.org)")  # fmt: skip


def _find(folder: Path, stem: str, what: str) -> Path:
    """The `.parquet`, `.csv.gz` or `.csv` file of a table, or DataNotFoundError naming every path tried."""
    candidates = [folder / f"{stem}{ext}" for ext in EXTENSIONS]
    for path in candidates:
        if path.is_file():
            return path
    raise DataNotFoundError(f"{what} not found; expected one of {[str(p) for p in candidates]}")


def _note_types(categories: Sequence[str] | None) -> list[str]:
    """MIMIC-IV note_type codes for the asked categories (long names as MIMIC-III's, or the codes themselves)."""
    if categories is None:
        return list(MIMIC4_NOTE_TYPES)
    lookup = {k.lower(): k for k in MIMIC4_NOTE_TYPES} | {v[1].lower(): k for k, v in MIMIC4_NOTE_TYPES.items()}
    unknown = [c for c in categories if c.strip().lower() not in lookup]
    if unknown:
        raise ConfigError(f"MIMIC-IV note categories {unknown}: expected some of {sorted(lookup.values())} or their names "
                          f"{[v[1] for v in MIMIC4_NOTE_TYPES.values()]}")  # fmt: skip
    return sorted({lookup[c.strip().lower()] for c in categories})


def _scan_notes(path: Path, table: str, version: str) -> pl.LazyFrame:
    """Notes table with its required columns (error naming the missing one) and the optional ones present (else null)."""
    required, optional = _NOTE_COLUMNS[version]
    return scan_table(path, table, required, optional=optional)


def _notes(root: Path, notes_root: Path, version: str, categories: Sequence[str] | None, report: NotesReport) -> pl.DataFrame:
    """One row per admission: hadm_id, subject_id, text (notes joined in chart order), n_notes; drops counted."""
    if version == "mimic-iii":
        path = _find(notes_root, "NOTEEVENTS", f"{notes_root}: MIMIC-III table 'NOTEEVENTS'")
        lf, sources = _scan_notes(path, "noteevents", version), [path]
        category = pl.col("category").cast(pl.String).str.strip_chars()
        if categories is not None:
            lf = lf.filter(category.str.to_lowercase().is_in([c.strip().lower() for c in categories]))
        lf = lf.with_columns(category.alias("category"))
    else:
        types = _note_types(categories)
        folder = notes_root / "note" if (notes_root / "note").is_dir() else notes_root
        stems = sorted({MIMIC4_NOTE_TYPES[t][0] for t in types})
        sources = [_find(folder, s, f"{folder}: MIMIC-IV-Note table {s!r}") for s in stems]
        lf = pl.concat([_scan_notes(p, s, version) for p, s in zip(sources, stems)])
        lf = lf.with_columns(pl.col("note_type").cast(pl.String).str.strip_chars().alias("category"))
        lf = lf.filter(pl.col("category").is_in(types))
    report.notes_files = [str(p) for p in sources]
    lf = lf.with_columns(pl.col(c).cast(pl.String) for c in ("subject_id", "hadm_id", "text"))
    # streaming: of NOTEEVENTS' 2M notes (~4 GB) only the asked categories are held in memory
    frame = collect_table(lf, ", ".join(map(str, sources)), "notes", streaming=True)
    report.n_notes = dict(sorted(frame.group_by(pl.col("category").fill_null("<empty>")).len().iter_rows()))
    if version == "mimic-iii":
        iserror = pl.col("iserror").cast(pl.String).str.strip_chars()
        unknown = frame.filter(iserror.is_not_null() & ~iserror.is_in(["", "0", "1"]))
        if unknown.height:  # a flag we cannot read could hide an erroneous note: refused, not guessed
            raise InvalidRecordError(f"{sources[0]}: table 'notes' column 'iserror': {unknown.height} value(s) are not empty, 0 or 1, "
                                     f"first {unknown['iserror'][0]!r}; expected 1 for a note flagged as an error, else empty")  # fmt: skip
        report.n_error_notes = frame.filter(iserror == "1").height
        frame = frame.filter((iserror != "1") | iserror.is_null())
    hadm = pl.col("hadm_id").str.strip_chars()
    report.n_notes_without_hadm = frame.filter(hadm.is_null() | (hadm == "")).height
    frame = frame.filter(hadm.is_not_null() & (hadm != ""))
    for column in ("subject_id", "hadm_id", *(["row_id"] if version == "mimic-iii" else ["note_seq"])):
        parsed = pl.col(column).cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
        bad = frame.filter(parsed.is_null() | (parsed <= 0))
        if bad.height:
            raise InvalidRecordError(f"{sources[0]}: table 'notes' column {column!r}: {bad.height} value(s) are not positive integers, "
                                     f"first {bad[column][0]!r}")  # fmt: skip
        frame = frame.with_columns(parsed)
    text = pl.col("text").fill_null("")
    empty = text.str.strip_chars() == ""  # an empty note is no evidence for any code: dropped and counted, never trained on
    report.n_empty_notes = frame.filter(empty).height
    with_text = frame.filter(~empty)
    report.n_admissions_only_empty_notes = (
        frame.select("hadm_id").unique().join(with_text.select("hadm_id"), on="hadm_id", how="anti").height
    )
    grouped = with_text.group_by("hadm_id").agg(
        pl.col("subject_id").n_unique().alias("n_subjects"),
        pl.col("subject_id").first(),
        text.sort_by(_ORDER[version], nulls_last=True).str.join(NOTE_SEPARATOR).alias("text"),
        pl.len().alias("n_notes"),
    )
    clash = grouped.filter(pl.col("n_subjects") > 1)
    if clash.height:  # ids at DEBUG only: they identify patients' stays
        logger.debug("%s: hadm_ids with notes of several subject_ids: %s", sources[0], clash["hadm_id"].head(MAX_LISTED).to_list())
        raise InvalidRecordError(f"{sources[0]}: {clash.height} hadm_id(s) have notes of more than one subject_id; an admission belongs "
                                 "to one patient (the ids are logged at DEBUG level)")  # fmt: skip
    return grouped.drop("n_subjects").sort("hadm_id")


def _codes(root: Path, version: str, icd_version: int | None, report: NotesReport) -> pl.DataFrame:
    """One row per admission with a list of (kind, version, code) structs: diagnoses then procedures, seq_num order."""
    parts = []
    for source, kind in (("diagnoses", "D"), ("procedures", "P")):
        path = table_path(root, version, source)
        if version == "mimic-iii":
            lf = scan_table(path, source, ["hadm_id", "seq_num", "icd9_code"]).rename({"icd9_code": "code"})
            lf = lf.with_columns(pl.lit("9").alias("ver"))
        else:
            lf = scan_table(path, source, ["hadm_id", "seq_num", "icd_code", "icd_version"])
            lf = lf.rename({"icd_code": "code", "icd_version": "ver"})
        hadm = pl.col("hadm_id").cast(pl.String).str.strip_chars()
        lf = lf.select(hadm.cast(pl.Int64, strict=False).alias("hadm_id"), hadm.alias("hadm_text"),
                       pl.col("seq_num").cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False).alias("order"),
                       pl.col("code").cast(pl.String).str.strip_chars().alias("code"),
                       pl.col("ver").cast(pl.String).str.strip_chars().alias("ver"), pl.lit(kind).alias("kind"))  # fmt: skip
        rows = collect_table(lf, path, source)
        report.n_code_rows[source] = rows.height
        # an empty hadm_id links the code to no admission (counted); a written one that is not a positive integer is damage
        damaged = rows.with_row_index("_row").filter((pl.col("hadm_text").fill_null("") != "") & ~(pl.col("hadm_id") > 0).fill_null(False))
        if damaged.height:
            raise InvalidRecordError(f"{path}: table {source!r} column 'hadm_id': {damaged.height} value(s) are not positive integer ids; "
                                     f"first at row {damaged['_row'][0]} (0-based data row, header excluded)")  # fmt: skip
        checks = [(pl.col("hadm_id").is_null(), "no hadm_id"), (pl.col("code").is_null() | (pl.col("code") == ""), "empty code"),
                  (~pl.col("ver").is_in(["9", "10"]), "icd_version not 9 or 10")]  # fmt: skip
        if icd_version is not None:
            other = 10 if icd_version == 9 else 9
            checks.append((pl.col("ver") != str(icd_version), f"ICD-{other} code, only ICD-{icd_version} asked for"))
        keep = pl.lit(True)
        for bad, reason in checks:
            n = rows.filter(keep & bad.fill_null(True)).height
            if n:
                report.n_skipped_codes[f"{source}: {reason}"] = n
            keep = keep & ~bad.fill_null(True)
        parts.append(rows.filter(keep).with_columns(pl.lit(0 if kind == "D" else 1).alias("kind_order")))
    rows = pl.concat(parts)
    return rows.group_by("hadm_id").agg(
        pl.struct("kind", "ver", "code").sort_by("kind_order", "order", "code", nulls_last=True).alias("codes")
    )


@functools.cache
def _dotted(code: str, kind: str, version: str) -> str | None:
    """Code with its dot (cached: MIMIC has ~30k distinct codes over millions of rows); None when not an ICD code."""
    try:
        return icd_with_dot(code, kind, int(version))
    except InvalidRecordError:
        return None


def caml_split_files(folder: str | Path, variant: str = "full") -> dict[str, Path]:
    """CAML's split files in `folder`: {split: folder/<split>_<variant>_hadm_ids.csv} for train, dev, test ("full" or "50")."""
    folder = Path(folder)
    files = {s: folder / f"{s}_{variant}_hadm_ids.csv" for s in ("train", "dev", "test")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"{folder}: CAML split files not found: {missing} (variant {variant!r}; CAML has 'full' and '50')")
    return files


def _id_list(path: Path) -> list[tuple[int, int]]:
    """(hadm_id, line) of a CAML split file: one id per line, no header (a header line 'hadm_id' is accepted)."""
    if not path.is_file():
        raise DataNotFoundError(f"{path}: split file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidRecordError(f"{path}: split file is not readable UTF-8 text ({type(err).__name__}: {err})") from err
    ids = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip().split(",")[0].strip()
        if not value or (number == 1 and value.lower() in ("hadm_id", "_id")):
            continue
        if not (value.isascii() and value.isdigit()) or len(value) > 18 or int(value) == 0:
            raise InvalidRecordError(f"{path}: line {number} is {line[:60]!r}, expected one hadm_id (a positive integer) per line")
        ids.append((int(value), number))
    return ids


def _split_table(path: Path) -> list[tuple[int, str, str]]:
    """(hadm_id, split, where) of a MIMIC-IV ICD split table (CSV, parquet or feather) with columns split and _id or hadm_id."""
    if not path.is_file():
        raise DataNotFoundError(f"{path}: split file not found")
    try:
        if path.suffix in (".feather", ".arrow", ".ipc"):
            table = pl.read_ipc(path)
        elif path.suffix == ".parquet":
            table = pl.read_parquet(path)
        else:
            check_columns(csv_header(path), path, "split")  # before polars, which renames a repeated column
            table = pl.read_csv(path, infer_schema=False)
    except READ_ERRORS as err:
        raise InvalidRecordError(
            f"{path}: split file is not a readable CSV, parquet or feather table ({type(err).__name__}: {err})"
        ) from err
    check_columns(table.columns, path, "split")
    id_column = next((c for c in ("_id", "hadm_id") if c in table.columns), None)
    if id_column is None or "split" not in table.columns:
        raise InvalidRecordError(f"{path}: split table needs columns '_id' (or 'hadm_id') and 'split'; its columns are {table.columns}")
    ids = table[id_column].cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    bad = (ids.is_null() | (ids <= 0)).fill_null(True)
    if bad.any():
        row = bad.arg_true()[0]
        raise InvalidRecordError(
            f"{path}: column {id_column!r} row {row} is {table[id_column][row]!r}, expected a positive integer hadm_id"
        )
    names = table["split"].cast(pl.String).str.strip_chars()
    if (names.is_null() | (names == "")).any():
        row = (names.is_null() | (names == "")).fill_null(True).arg_true()[0]
        raise InvalidRecordError(f"{path}: column 'split' row {row} is empty, expected a split name (train, dev/val, test)")
    return [(i, n, f"{path} row {r}") for r, (i, n) in enumerate(zip(ids.to_list(), names.to_list()))]


def read_split_file(splits_file: str | Path | Mapping[str, str | Path]) -> dict[int, str]:
    """hadm_id -> split name, from CAML's per-split id lists (a {split: path} mapping or their folder) or a MIMIC-IV ICD table.

    The table (CSV, parquet or feather) has a `split` column and an id column `_id` (Edin et al.) or `hadm_id`.
    Split names val/valid/validation become "dev"; an admission listed in two different splits raises (a leak).
    """
    if isinstance(splits_file, Mapping) or Path(splits_file).is_dir():
        files = dict(splits_file) if isinstance(splits_file, Mapping) else caml_split_files(splits_file)
        triples = [(i, str(name), f"{path} line {n}") for name, path in files.items() for i, n in _id_list(Path(path))]
    else:
        triples = _split_table(Path(splits_file))
    assigned: dict[int, tuple[str, str]] = {}
    for hadm_id, name, where in triples:
        name = SPLIT_ALIASES.get(name.lower(), name)
        first, first_where = assigned.setdefault(hadm_id, (name, where))
        if first != name:  # the lines, not the id: error messages end up in logs
            raise InvalidRecordError(f"{first_where} ({first!r}) and {where} ({name!r}) list the same hadm_id; each admission must be in "
                                     "one split (else test notes leak into training)")  # fmt: skip
    return {hadm_id: name for hadm_id, (name, _) in assigned.items()}


def read_mimic_notes(
    root: str | Path,
    version: str | None = None,
    categories: Sequence[str] | None = ("Discharge summary",),
    splits_file: str | Path | Mapping[str, str | Path] | None = None,
    notes_root: str | Path | None = None,
    icd_version: int | None = None,
) -> tuple[list[NoteRecord], NotesReport]:
    """Read notes of the asked categories (None: all) with their ICD codes, one NoteRecord per admission.

    `notes_root`: where MIMIC-IV-Note lies when not under `root` (its note/ folder or the folder holding discharge.csv.gz).
    `icd_version` (MIMIC-IV): keep only ICD-9 or ICD-10 codes, as the MIMIC-IV ICD-9 and ICD-10 benchmarks do.
    """
    root = Path(root)
    if version is None:
        version = detect_notes_version(root)
    if version not in VERSIONS:
        raise ConfigError(f"version {version!r}: expected one of {list(VERSIONS)} or None (detect)")
    if icd_version not in (None, 9, 10):
        raise ConfigError(f"icd_version {icd_version!r}: expected None (all), 9 or 10")
    if isinstance(categories, str):
        categories = (categories,)
    report = NotesReport(root=str(root), version=version, categories=list(categories) if categories is not None else [])
    notes = _notes(root, Path(notes_root) if notes_root is not None else root, version, categories, report)
    codes = _codes(root, version, icd_version, report)
    frame = notes.join(codes, on="hadm_id", how="left")
    orphans = codes.join(notes.select("hadm_id"), on="hadm_id", how="anti").sort("hadm_id")["hadm_id"]
    report.n_code_admissions_without_notes, report.code_admissions_without_notes = orphans.len(), orphans.head(MAX_LISTED).to_list()
    assigned = read_split_file(splits_file) if splits_file is not None else {}
    report.unknown_split_names = sorted({s for s in assigned.values() if s not in ("train", "dev", "test")})

    records, counts, no_codes, not_split = [], dict.fromkeys(("ICD9_D", "ICD10_D", "ICD9_P", "ICD10_P"), 0), [], []
    source = report.notes_files[0] if report.notes_files else str(root)
    for hadm_id, subject_id, text, n_notes, code_rows in frame.select("hadm_id", "subject_id", "text", "n_notes", "codes").iter_rows():
        kept: dict[tuple[str, str], None] = {}
        versions = set()
        for row in code_rows or ():
            dotted = _dotted(row["code"], row["kind"], row["ver"])
            if dotted is None:
                report.n_skipped_codes["codes: not an ICD code"] = report.n_skipped_codes.get("codes: not an ICD code", 0) + 1
            elif (dotted, row["kind"]) not in kept:
                kept[(dotted, row["kind"])] = None
                counts[f"ICD{row['ver']}_{row['kind']}"] += 1
                versions.add(row["ver"])
        report.n_mixed_version_admissions += len(versions) > 1
        if not kept:
            no_codes.append(hadm_id)
        split = assigned.get(hadm_id, "")
        if splits_file is not None and not split:
            not_split.append(hadm_id)
        report.n_multi_note_admissions += n_notes > 1
        report.max_notes_per_admission = max(report.max_notes_per_admission, n_notes)
        records.append(NoteRecord(note_id=str(hadm_id), text=text, language="en", codes=tuple(c for c, _ in kept),
                                  code_types=tuple(k for _, k in kept), split=split, patient_id=str(subject_id),
                                  source=source))  # fmt: skip
    report.n_admissions, report.n_codes = len(records), counts
    report.n_admissions_without_codes, report.admissions_without_codes = len(no_codes), no_codes[:MAX_LISTED]
    report.n_not_in_split_file, report.not_in_split_file = len(not_split), not_split[:MAX_LISTED]
    report.n_split = {s: sum(r.split == s for r in records) for s in sorted({r.split for r in records})}
    missing = sorted(set(assigned) - set(notes["hadm_id"].to_list()))
    report.n_split_ids_without_notes, report.split_ids_without_notes = len(missing), missing[:MAX_LISTED]
    return records, report
