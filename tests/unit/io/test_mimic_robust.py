"""MIMIC reader under hostile input: mutated trimmed copies of the real MIMIC-III demo tables (plain and gzipped) either
read into valid visit sequences or raise MedrnnError, nothing else; plus one regression test per hardening."""

from __future__ import annotations

import gzip
import logging
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medrnn.testing import Files, byte_mutations, mutate_bytes
from medrnn import paths
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.io.mimic import read_mimic

TABLES = ("ADMISSIONS", "PATIENTS", "DIAGNOSES_ICD", "PROCEDURES_ICD", "PRESCRIPTIONS")
N_ROWS = 100  # data rows kept per table (PATIENTS: all 100)
CODE = re.compile(r"^(ICD9_DX|ICD9_PX|NDC):[A-Za-z0-9][A-Za-z0-9.-]*$")
COLUMNS = ["subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "hospital_expire_flag", "dod", "seq_num", "icd9_code",
           "ndc", "startdate"]  # fmt: skip
TOKENS = ["nan", "NaN", "inf", "-inf", "-1", "123", "0", "2", "1e308", "1e400", "9" * 30, "", " ", "123.0", "9999-99-99",
          "0001-01-01 00:00:00", "2150-13-01", "HADM_ID", '"', "\x00", "é", "\\N", "NULL"]  # fmt: skip
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def tables() -> Files:
    """The first N_ROWS data rows of each table read_mimic needs, from the real MIMIC-III demo."""
    root = paths.dataset_dir("mimic3-demo")
    if not all((root / f"{t}.csv").is_file() for t in TABLES):
        pytest.skip(f"MIMIC-III demo not found under {root}; run `medrnn data fetch mimic3-demo` or set MEDRNN_DATA")
    return Files({t: b"".join((root / f"{t}.csv").read_bytes().splitlines(keepends=True)[: N_ROWS + 1]) for t in TABLES})


def _write(folder: Path, files: dict[str, bytes], gz: bool) -> Path:
    for name, data in files.items():
        if gz:
            (folder / f"{name}.csv.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / f"{name}.csv").write_bytes(data)
    return folder


# --- mutations -----------------------------------------------------------------------------------------------------

MUTATIONS = byte_mutations(
    TOKENS,
    st.tuples(st.just("field"), st.floats(0, 1), st.tuples(st.sampled_from(COLUMNS), st.sampled_from(TOKENS))),
    st.tuples(st.just("case_dup"), st.floats(0, 1), st.sampled_from(COLUMNS)),
)


def mutate(data: bytes, mutation: tuple) -> bytes:
    """One byte-level or CSV-field damage at a relative position of the (uncompressed) table."""
    damaged = mutate_bytes(data, mutation)
    if damaged is not None:
        return damaged
    op, where, arg = mutation
    lines = data.split(b"\n")
    header = [h.decode(errors="replace").lower() for h in lines[0].split(b",")]
    if op == "case_dup":  # one more column: the same name upper-cased, its values copied (as a bad join would write it)
        if arg not in header:
            return data
        j = header.index(arg)
        rows = [ln.split(b",") for ln in lines]
        return b"\n".join(b",".join([*r, (r[j].upper() if i == 0 else r[j]) if j < len(r) else b""]) for i, r in enumerate(rows))
    column, token = arg
    if column not in header or len(lines) < 2:
        return data
    i = 1 + min(int(where * (len(lines) - 1)), len(lines) - 2)
    fields = lines[i].split(b",")
    if header.index(column) < len(fields):
        fields[header.index(column)] = token.encode()
    lines[i] = b",".join(fields)
    return b"\n".join(lines)


def check_sequences(sequences: list, report) -> None:
    """What every read promises: positive integer ids, ordered admissions, plausible times, well-formed codes."""
    assert report.n_admissions == sum(len(s) for s in sequences) and report.n_patients == len(sequences)
    for seq in sequences:
        assert seq.patient_id.isdigit() and int(seq.patient_id) > 0
        keys = [(a.admit_time, int(a.hadm_id)) for a in seq.admissions]
        assert keys == sorted(keys)
        for a in seq.admissions:
            assert a.hadm_id.isdigit() and int(a.hadm_id) > 0 and a.discharge_time >= a.admit_time
            for t in (a.admit_time, a.discharge_time, a.death_time, seq.date_of_death):
                assert t is None or np.datetime64("1800-01-01") <= t < np.datetime64("2300-01-01")
            assert all(CODE.match(c) for c in a.codes) and len(set(a.codes)) == len(a.codes)


# --- properties ----------------------------------------------------------------------------------------------------


@SETTINGS
@given(target=st.sampled_from(TABLES), gz=st.booleans(), mutations=st.lists(MUTATIONS, min_size=1, max_size=2))
def test_mutated_table_reads_valid_or_raises_medrnn_error(tables: Files, tmp_path: Path, target: str, gz: bool, mutations: list) -> None:
    files = Files(tables)
    for m in mutations:
        files[target] = mutate(files[target], m)
    folder = _write(Path(tempfile.mkdtemp(dir=tmp_path)), files, gz)
    try:
        sequences, report = read_mimic(folder)
    except MedrnnError:
        return
    check_sequences(sequences, report)


@SETTINGS
@given(target=st.sampled_from(TABLES), damage=st.sampled_from(["gzip_flip", "gzip_truncate", "gzip_append", "empty", "latin1", "dir",
                                                               "dangling", "loop", "not_gzip"]),
       where=st.floats(0, 1), byte=st.integers(1, 255))  # fmt: skip
def test_damaged_file_raises_medrnn_error(tables: Files, tmp_path: Path, target: str, damage: str, where: float, byte: int) -> None:
    folder = _write(Path(tempfile.mkdtemp(dir=tmp_path)), tables, gz=True)
    path = folder / f"{target}.csv.gz"
    data = path.read_bytes()
    at = min(int(where * len(data)), len(data) - 1)
    if damage == "gzip_flip":
        path.write_bytes(data[:at] + bytes([data[at] ^ byte]) + data[at + 1 :])
    elif damage == "gzip_truncate":
        path.write_bytes(data[:at])
    elif damage == "gzip_append":
        path.write_bytes(data + bytes([byte]) * 7)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "latin1":
        path.write_bytes(gzip.compress(tables[target].replace(b"\n", "é\n".encode("latin-1"), 2)))
    elif damage == "not_gzip":
        path.write_bytes(tables[target])  # plain text under a .gz name: read as the text it is
    else:
        path.unlink()
        {"dir": path.mkdir, "dangling": lambda: path.symlink_to(folder / "gone"), "loop": lambda: path.symlink_to(path)}[damage]()
    try:
        sequences, report = read_mimic(folder)
    except MedrnnError:
        return
    check_sequences(sequences, report)


# --- regressions, one per hardening --------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["ADMISSIONS", "DIAGNOSES_ICD", "PRESCRIPTIONS"])
@pytest.mark.parametrize("damage", ["truncate_early", "truncate_late", "flip_late"])
def test_damaged_gzip_table_names_its_file(tables: Files, tmp_path: Path, table: str, damage: str) -> None:
    """Damage past the header is only met when the rows are read (polars raises a raw OSError there): still named."""
    folder = _write(tmp_path, tables, gz=True)
    path = folder / f"{table}.csv.gz"
    data = path.read_bytes()
    path.write_bytes({"truncate_early": data[:15], "truncate_late": data[:-20],
                      "flip_late": data[:-12] + bytes([data[-12] ^ 0x5A]) + data[-11:]}[damage])  # fmt: skip
    with pytest.raises(InvalidRecordError, match=rf"{re.escape(str(path))}.*(could not be read|not a readable)"):
        read_mimic(folder)


@pytest.mark.parametrize(("table", "column"), [("DIAGNOSES_ICD", "hadm_id"), ("ADMISSIONS", "hospital_expire_flag"), ("PATIENTS", "dod")])
def test_case_duplicate_columns_are_refused_naming_both(tables: Files, tmp_path: Path, table: str, column: str) -> None:
    """`hadm_id` and `HADM_ID` in one table made 1,761 diagnosis codes vanish into n_without_hadm: now refused."""
    files = Files(tables)
    files[table] = mutate(files[table], ("case_dup", 0, column))
    folder = _write(tmp_path, files, gz=False)
    with pytest.raises(InvalidRecordError, match=rf"{table}\.csv: table '\w+' has columns '{column}' and '{column.upper()}'"):
        read_mimic(folder)
    exact = files[table].replace(column.upper().encode(), column.encode(), 1)  # an exact repeat, which polars would rename
    (folder / f"{table}.csv").write_bytes(exact)
    with pytest.raises(InvalidRecordError, match=rf"has columns '{column}' and '{column}'"):
        read_mimic(folder)


@pytest.mark.parametrize("flag", ["nan", "NaN", "-1", "123", "", "1.0", "yes"])
def test_unknown_hospital_expire_flag_is_refused_never_read_as_survived(tables: Files, tmp_path: Path, flag: str) -> None:
    files = Files(tables)
    files["ADMISSIONS"] = mutate(files["ADMISSIONS"], ("field", 0, ("hospital_expire_flag", flag)))
    with pytest.raises(InvalidRecordError, match=r"column 'hospital_expire_flag': 1 value\(s\) are not 0 or 1 .*at row 0"):
        read_mimic(_write(tmp_path, files, gz=False))


@pytest.mark.parametrize(
    ("table", "column", "token", "message"),
    [
        ("ADMISSIONS", "admittime", "0001-01-01 00:00:00", r"column 'admittime': 1 value\(s\) are not plausible dates"),
        ("PATIENTS", "dod", "2999-01-01 00:00:00", r"column 'dod': 1 value\(s\) are not plausible dates"),
        ("ADMISSIONS", "subject_id", "-5", r"column 'subject_id': 1 value\(s\) are not positive integer ids"),
        ("PRESCRIPTIONS", "ndc", "2 mg Tab", r"table 'prescriptions' column 'ndc': 1 value\(s\) are not codes of letters and digits"),
        (
            "DIAGNOSES_ICD",
            "hadm_id",
            "142345.0",
            r"table 'diagnoses' column 'hadm_id': 1 value\(s\) are not integer ids \(or empty: no admission\); first at row 0",
        ),
    ],
)
def test_implausible_values_are_refused(tables: Files, tmp_path: Path, table: str, column: str, token: str, message: str) -> None:
    files = Files(tables)
    files[table] = mutate(files[table], ("field", 0, (column, token)))
    with pytest.raises(InvalidRecordError, match=message):
        read_mimic(_write(tmp_path, files, gz=False))


def test_logs_count_orphans_and_name_hadm_ids_only_at_debug(tables: Files, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = Files(tables)
    files["DIAGNOSES_ICD"] += b"999999,10006,987654,1,4019\n"
    folder = _write(tmp_path, files, gz=False)
    with caplog.at_level(logging.WARNING, logger="medrnn.io.mimic"):
        _, report = read_mimic(folder)
    assert report.orphan_hadm_ids["diagnoses"] == [987654]
    warnings = [r.getMessage() for r in caplog.records]
    assert any("1 diagnoses rows name 1 hadm_id(s) absent" in m for m in warnings) and not any("987654" in m for m in warnings)
    assert "987654" not in report.summary()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="medrnn.io.mimic"):
        read_mimic(folder)
    assert any("987654" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_duplicate_ids_name_rows_not_ids(tables: Files, tmp_path: Path) -> None:
    files = Files(tables)
    first = files["ADMISSIONS"].split(b"\n")[1]
    files["ADMISSIONS"] += first + b"\n"
    with pytest.raises(InvalidRecordError, match=r"column 'hadm_id': 2 value\(s\) are not unique .*first at row 0") as info:
        read_mimic(_write(tmp_path, files, gz=False))
    assert "142345" not in str(info.value)
