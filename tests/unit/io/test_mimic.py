"""MIMIC-III/IV readers: real demo counts from SOURCE.md, code systems kept, order, and the errors of bad tables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from medrnn import paths
from medrnn.errors import ConfigError, DataNotFoundError, InvalidRecordError
from medrnn.io.mimic import MimicReport, detect_version, read_mimic, visit_frame

CODE = re.compile(r"^(ICD9_DX|ICD10_DX|ICD9_PX|ICD10_PX|NDC|LAB):\S+$")


def _demo(name: str, marker: str) -> Path:
    folder = paths.dataset_dir(name)
    if not (folder / marker).exists():
        pytest.skip(f"{name} not found under {folder}; set MEDRNN_DATA to the folder that holds it")
    return folder


@pytest.fixture(scope="module")
def mimic3() -> Path:
    return _demo("mimic3-demo", "ADMISSIONS.csv")


@pytest.fixture(scope="module")
def mimic4() -> Path:
    return _demo("mimic4-demo", "hosp/admissions.csv.gz")


@pytest.fixture(scope="module")
def read3(mimic3: Path):
    return read_mimic(mimic3)


@pytest.fixture(scope="module")
def read4(mimic4: Path):
    return read_mimic(mimic4)


def test_mimic3_demo_counts_match_source_md(read3) -> None:
    sequences, report = read3
    assert report.version == "mimic-iii"
    assert (report.n_patients, report.n_admissions, len(sequences)) == (100, 129, 100)
    assert sum(len(s) for s in sequences) == 129
    assert report.n_in_hospital_deaths == 40 == sum(a.death_time is not None for s in sequences for a in s.admissions)
    assert report.n_rows == {"diagnoses": 1761, "procedures": 506, "prescriptions": 10398}
    assert report.n_codes["ICD9_DX"] == 1761 and report.n_codes["ICD10_DX"] == 0  # MIMIC-III is ICD-9 only
    assert report.n_skipped["prescriptions: ndc empty or 0"] > 0
    assert sum(report.n_orphan_rows.values()) == 0 and report.n_admissions_without_patient == 0


def test_mimic4_demo_counts_match_source_md_with_both_icd_versions(read4) -> None:
    sequences, report = read4
    assert report.version == "mimic-iv"
    assert (report.n_patients, report.n_admissions, report.n_in_hospital_deaths) == (100, 275, 15)
    assert report.n_rows == {"diagnoses": 4506, "procedures": 722, "prescriptions": 18087}
    assert (report.n_codes["ICD9_DX"], report.n_codes["ICD10_DX"]) == (2193, 2313)  # SOURCE.md: 2,193 + 2,313 rows
    assert report.n_codes["ICD9_PX"] > 0 and report.n_codes["ICD10_PX"] > 0
    codes = [c for s in sequences for a in s.admissions for c in a.codes]
    assert all(CODE.match(c) for c in codes)
    assert "NDC:0" not in codes and not any(c.endswith(":") for c in codes)
    per_system = {s: sum(c.startswith(s + ":") for c in codes) for s in report.n_codes}
    assert per_system == report.n_codes


def test_admissions_are_ordered_and_times_are_consistent(read3, read4) -> None:
    for sequences, _ in (read3, read4):
        for seq in sequences:
            keys = [(a.admit_time, int(a.hadm_id)) for a in seq.admissions]
            assert keys == sorted(keys)
            assert all(isinstance(a.admit_time, np.datetime64) and a.discharge_time >= a.admit_time - np.timedelta64(1, "D")
                       for a in seq.admissions)  # fmt: skip
            assert len({a.hadm_id for a in seq.admissions}) == len(seq)
    patient = next(s for s in read4[0] if s.patient_id == "10000032")
    assert len(patient) == 4 and patient.date_of_death == np.datetime64("2180-09-09T00:00:00")


def test_diagnoses_follow_seq_num(mimic4: Path, read4) -> None:
    raw = pl.read_csv(mimic4 / "hosp" / "diagnoses_icd.csv.gz", infer_schema=False)
    first = raw.filter(pl.col("seq_num") == "1").select("hadm_id", "icd_code", "icd_version")
    by_hadm = {a.hadm_id: a.codes for s in read4[0] for a in s.admissions}
    for hadm_id, code, version in first.iter_rows():
        assert by_hadm[hadm_id][0] == f"ICD{version}_DX:{code}"


def test_visit_frame_is_one_row_per_admission_with_list_columns(mimic4: Path) -> None:
    report = MimicReport()
    frame = visit_frame(mimic4, code_sources=("diagnoses", "labevents"), report=report)
    assert frame.height == 275 and frame["hadm_id"].n_unique() == 275
    assert frame.schema["diagnoses"] == pl.List(pl.String) and frame.schema["labevents"] == pl.List(pl.String)
    assert report.n_codes["LAB"] > 0 and report.n_without_hadm["labevents"] > 0  # outpatient labs have no hadm_id
    labs = frame["labevents"].explode().drop_nulls()
    assert labs.str.starts_with("LAB:").all()


def test_code_sources_are_checked(mimic4: Path) -> None:
    with pytest.raises(ConfigError, match="diagnoses, procedures, prescriptions, labevents"):
        visit_frame(mimic4, code_sources=("notes",))


# --- malformed tables written here (MIMIC-IV layout, plain CSV) --------------------------------------------------

ADMISSIONS = """subject_id,hadm_id,admittime,dischtime,deathtime,admission_type,hospital_expire_flag
1,12,2150-03-01 10:00:00,2150-03-05 12:00:00,,URGENT,0
1,11,2150-01-01 08:00:00,2150-01-04 09:00:00,,URGENT,0
1,13,2150-03-01 10:00:00,2150-03-02 12:00:00,2150-03-02 12:00:00,URGENT,1
2,21,2151-05-05 00:00:00,2151-05-06 00:00:00,,ELECTIVE,1
"""
PATIENTS = "subject_id,gender,dod\n1,F,2150-03-02\n2,M,\n"
DIAGNOSES = "subject_id,hadm_id,seq_num,icd_code,icd_version\n1,11,2,4019,9\n1,11,1,I10,10\n1,12,1,4019,9\n2,21,1,E119,10\n"
PROCEDURES = "subject_id,hadm_id,seq_num,chartdate,icd_code,icd_version\n1,11,1,2150-01-02,0DTJ4ZZ,10\n"
PRESCRIPTIONS = "subject_id,hadm_id,starttime,drug,ndc\n1,11,2150-01-02 10:00:00,A,00338004904\n1,11,2150-01-02 11:00:00,B,0\n1,12,,C,\n"


def _write(root: Path, **tables: str) -> Path:
    files = {"admissions": ADMISSIONS, "patients": PATIENTS, "diagnoses_icd": DIAGNOSES, "procedures_icd": PROCEDURES,
             "prescriptions": PRESCRIPTIONS, **tables}  # fmt: skip
    (root / "hosp").mkdir(parents=True)
    for name, text in files.items():
        if text is not None:
            (root / "hosp" / f"{name}.csv").write_text(text)
    return root


def test_small_folder_reads_with_order_ties_deaths_and_skips(tmp_path: Path) -> None:
    sequences, report = read_mimic(_write(tmp_path))
    first = sequences[0]
    assert [a.hadm_id for a in first.admissions] == ["11", "12", "13"]  # admit time, then hadm_id on the tie
    assert first.admissions[0].codes == ("ICD10_DX:I10", "ICD9_DX:4019", "ICD10_PX:0DTJ4ZZ", "NDC:00338004904")
    assert first.admissions[2].death_time == np.datetime64("2150-03-02T12:00:00")
    assert sequences[1].admissions[0].death_time == np.datetime64("2151-05-06T00:00:00")  # flag without deathtime
    assert first.date_of_death == np.datetime64("2150-03-02") and sequences[1].date_of_death is None
    assert report.n_skipped["prescriptions: ndc empty or 0"] == 2
    assert report.n_admissions_without_codes == 1  # hadm 13


def test_orphan_codes_are_reported_not_dropped_silently(tmp_path: Path) -> None:
    _, report = read_mimic(_write(tmp_path, diagnoses_icd=DIAGNOSES + "1,999,1,4019,9\n1,999,2,25000,9\n"))
    assert report.n_orphan_rows["diagnoses"] == 2 and report.orphan_hadm_ids["diagnoses"] == [999]
    assert report.n_codes["ICD9_DX"] == 2 and "unknown hadm_id" in report.summary()


def test_missing_column_names_table_column_and_the_columns_it_has(tmp_path: Path) -> None:
    root = _write(tmp_path, diagnoses_icd="subject_id,hadm_id,seq_num,icd_code\n1,11,1,4019\n")
    with pytest.raises(InvalidRecordError, match=r"diagnoses_icd\.csv: table 'diagnoses' has no column 'icd_version'; its columns"):
        read_mimic(root)


def test_unparsable_date_names_table_column_value_and_row(tmp_path: Path) -> None:
    root = _write(tmp_path, admissions=ADMISSIONS.replace("2150-03-05 12:00:00", "05/03/2150 noon"))
    with pytest.raises(InvalidRecordError, match=r"table 'admissions' column 'dischtime'.*'05/03/2150 noon' at row 0"):
        read_mimic(root)


def test_unknown_icd_version_is_an_unknown_code_system(tmp_path: Path) -> None:
    root = _write(tmp_path, procedures_icd=PROCEDURES + "1,12,1,2150-03-02,XYZ,11\n")
    with pytest.raises(InvalidRecordError, match=r"table 'procedures' column 'icd_version' has value\(s\) \['11'\]: unknown code system"):
        read_mimic(root)


def test_missing_table_names_the_expected_paths(tmp_path: Path) -> None:
    root = _write(tmp_path, procedures_icd=None)
    with pytest.raises(DataNotFoundError, match=r"'procedures' not found; expected one of .*procedures_icd\.csv\.gz"):
        read_mimic(root)
    read_mimic(root, code_sources=("diagnoses",))  # a table that is not asked for is not needed
    with pytest.raises(DataNotFoundError, match="neither MIMIC-IV.*hosp/ folder: pass its parent"):
        detect_version(tmp_path / "hosp")


def test_mimic3_layout_with_upper_case_headers(tmp_path: Path) -> None:
    (tmp_path / "ADMISSIONS.csv").write_text(ADMISSIONS.upper())
    (tmp_path / "PATIENTS.csv").write_text(PATIENTS.upper())
    (tmp_path / "DIAGNOSES_ICD.csv").write_text("ROW_ID,SUBJECT_ID,HADM_ID,SEQ_NUM,ICD9_CODE\n1,1,11,1,V707\n2,1,11,2,\n")
    sequences, report = read_mimic(tmp_path, code_sources=("diagnoses",))
    assert report.version == "mimic-iii" and sequences[0].admissions[0].codes == ("ICD9_DX:V707",)
    assert report.n_skipped["diagnoses: empty code"] == 1


def test_inverted_times_and_admissions_after_death_are_excluded_and_listed(tmp_path: Path) -> None:
    extra = "2,22,2151-06-01 00:00:00,2151-05-31 00:00:00,,URGENT,0\n2,23,2151-07-01 00:00:00,2151-07-02 00:00:00,,URGENT,0\n"
    sequences, report = read_mimic(_write(tmp_path, admissions=ADMISSIONS + extra))
    assert report.excluded_discharge_before_admission == [22]  # discharged before admitted
    assert report.excluded_after_death == [23]  # patient 2 died in hadm 21 (flag), so 23 cannot be a real admission
    assert [a.hadm_id for a in sequences[1].admissions] == ["21"]
    assert report.to_dict()["excluded_after_death"] == [23]
