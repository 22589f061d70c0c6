"""MIMIC-III / MIMIC-IV notes reader on tiny folders written here (the MIMIC-III demo's NOTEEVENTS.csv has a header only)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from medrnn import paths
from medrnn.errors import ConfigError, DataNotFoundError, InvalidRecordError
from medrnn.io.mimic_notes import NOTE_SEPARATOR, read_mimic_notes, read_split_file

NOTE3 = ["row_id", "subject_id", "hadm_id", "chartdate", "charttime", "storetime", "category", "description", "cgid", "iserror", "text"]
CODES3 = ["row_id", "subject_id", "hadm_id", "seq_num", "icd9_code"]
NOTE4 = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
CODES4 = ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"]


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def mimic3(tmp_path: Path) -> Path:
    """Admission 100: an addendum written first in the file but charted later; 200: one note, no codes; 300: no hadm_id."""
    root = tmp_path / "mimic3"
    _write(root / "NOTEEVENTS.csv", NOTE3, [
        [2, 1, 100, "2150-01-03", "", "", "Discharge summary", "Addendum", "", "", "Addendum: patient stable."],
        [1, 1, 100, "2150-01-02", "", "", "Discharge summary", "Report", "", "", "Admission Date: [**2150-1-1**]\nDx: sepsis,\n\"CHF\""],
        [3, 2, 200, "2151-05-01", "", "", "Discharge summary", "Report", "", "", "Short stay."],
        [4, 3, "", "2152-01-01", "", "", "Discharge summary", "Report", "", "", "Outpatient letter."],
        [5, 1, 100, "2150-01-01", "", "", "Radiology", "CXR", "", "", "Chest x-ray: clear."],
        [6, 1, 100, "2150-01-02", "", "", "Discharge summary", "Report", "", "1", "Erroneous note."],
    ])  # fmt: skip
    _write(root / "DIAGNOSES_ICD.csv", CODES3, [[1, 1, 100, 2, "4019"], [2, 1, 100, 1, "99591"], [3, 1, 100, 3, "E8809"],
                                               [4, 1, 100, 4, "V707"], [5, 9, 900, 1, "4280"]])  # fmt: skip
    _write(root / "PROCEDURES_ICD.csv", CODES3, [[1, 1, 100, 1, "9604"], [2, 1, 100, 2, "3893"]])
    return root


@pytest.fixture
def mimic4(tmp_path: Path) -> Path:
    """hadm 10 (ICD-10, two notes), 11 (ICD-9); compressed tables as MIMIC-IV ships them."""
    root = tmp_path / "mimic4"
    _write(root / "note" / "discharge.csv.gz", NOTE4, [
        ["1-DS-2", 1, 10, "DS", 2, "2180-07-02 10:00:00", "", "Second part."],
        ["1-DS-1", 1, 10, "DS", 1, "2180-07-01 09:00:00", "", "First part."],
        ["2-DS-1", 2, 11, "DS", 1, "2170-01-01 08:00:00", "", "Old admission."],
    ])  # fmt: skip
    _write(root / "hosp" / "diagnoses_icd.csv.gz", CODES4, [[1, 10, 1, "I8290", 10], [1, 10, 2, "R52", 10], [2, 11, 1, "25000", 9]])
    _write(root / "hosp" / "procedures_icd.csv.gz", CODES4, [[1, 10, 1, "0DTJ4ZZ", 10], [2, 11, 1, "9604", 9]])
    return root


def test_mimic3_codes_dotted_as_caml_and_notes_in_chart_order(mimic3: Path) -> None:
    records, report = read_mimic_notes(mimic3)
    assert report.version == "mimic-iii"
    by_id = {r.note_id: r for r in records}
    assert set(by_id) == {"100", "200"}
    first = by_id["100"]
    assert first.codes == ("995.91", "401.9", "E880.9", "V70.7", "96.04", "38.93")  # seq_num order, diagnoses first
    assert first.code_types == ("D", "D", "D", "D", "P", "P")
    # the note charted on 01-02 comes before the addendum of 01-03, whatever the file order; quoted newlines survive
    assert first.text == 'Admission Date: [**2150-1-1**]\nDx: sepsis,\n"CHF"' + NOTE_SEPARATOR + "Addendum: patient stable."
    assert first.patient_id == "1" and first.language == "en" and first.split == ""
    assert by_id["200"].codes == ()
    assert report.n_notes == {"Discharge summary": 5}
    assert (report.n_error_notes, report.n_notes_without_hadm) == (1, 1)
    assert (report.n_multi_note_admissions, report.max_notes_per_admission) == (1, 2)
    assert report.admissions_without_codes == [200]
    assert report.code_admissions_without_notes == [900]
    assert report.n_codes == {"ICD9_D": 4, "ICD10_D": 0, "ICD9_P": 2, "ICD10_P": 0}


def test_mimic3_all_categories(mimic3: Path) -> None:
    records, report = read_mimic_notes(mimic3, categories=None)
    assert report.n_notes == {"Discharge summary": 5, "Radiology": 1}
    assert {r.note_id: r.text.split(NOTE_SEPARATOR)[0] for r in records}["100"] == "Chest x-ray: clear."


def test_caml_split_files(mimic3: Path, tmp_path: Path) -> None:
    (tmp_path / "train_full_hadm_ids.csv").write_text("100\n900\n")
    (tmp_path / "dev_full_hadm_ids.csv").write_text("")
    (tmp_path / "test_full_hadm_ids.csv").write_text("")
    records, report = read_mimic_notes(mimic3, splits_file=tmp_path)
    assert {r.note_id: r.split for r in records} == {"100": "train", "200": ""}
    assert (report.not_in_split_file, report.split_ids_without_notes) == ([200], [900])
    assert report.n_split == {"": 1, "train": 1}


def test_split_file_leak_and_bad_line(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1\n2\n")
    (tmp_path / "b.csv").write_text("2\n")
    with pytest.raises(InvalidRecordError, match=r"a\.csv line 2 \('train'\) and .*b\.csv line 1 \('test'\) list the same hadm_id"):
        read_split_file({"train": tmp_path / "a.csv", "test": tmp_path / "b.csv"})
    (tmp_path / "c.csv").write_text("hadm_id\n3\nx4\n")
    with pytest.raises(InvalidRecordError, match=r"c\.csv: line 3"):
        read_split_file({"train": tmp_path / "c.csv"})


def test_mimic4_dots_versions_and_split_table(mimic4: Path, tmp_path: Path) -> None:
    split = _write(tmp_path / "mimiciv_icd10_split.csv", ["_id", "split"], [[10, "train"], [11, "val"], [12, "holdout"]])
    records, report = read_mimic_notes(mimic4, splits_file=split)
    by_id = {r.note_id: r for r in records}
    assert report.version == "mimic-iv"
    assert by_id["10"].codes == ("I82.90", "R52", "0DTJ4ZZ") and by_id["10"].code_types == ("D", "D", "P")
    assert by_id["10"].text == "First part." + NOTE_SEPARATOR + "Second part."
    assert by_id["11"].codes == ("250.00", "96.04")
    assert {r.note_id: r.split for r in records} == {"10": "train", "11": "dev"}  # "val" is read as "dev"
    assert report.unknown_split_names == ["holdout"] and report.split_ids_without_notes == [12]
    assert report.n_codes == {"ICD9_D": 1, "ICD10_D": 2, "ICD9_P": 1, "ICD10_P": 1}

    ten, report10 = read_mimic_notes(mimic4, icd_version=10)
    assert {r.note_id: r.codes for r in ten}["11"] == ()
    assert report10.n_skipped_codes == {
        "diagnoses: ICD-9 code, only ICD-10 asked for": 1,
        "procedures: ICD-9 code, only ICD-10 asked for": 1,
    }


def test_missing_column_names_table_and_column(mimic3: Path, mimic4: Path) -> None:
    _write(mimic3 / "DIAGNOSES_ICD.csv", ["row_id", "subject_id", "hadm_id", "seq_num", "icd_code"], [[1, 1, 100, 1, "4019"]])
    with pytest.raises(InvalidRecordError, match=r"DIAGNOSES_ICD\.csv: table 'diagnoses' has no column 'icd9_code'"):
        read_mimic_notes(mimic3)
    _write(mimic4 / "note" / "discharge.csv.gz", [c for c in NOTE4 if c != "note_seq"], [["1-DS-1", 1, 10, "DS", "", "", "x"]])
    with pytest.raises(InvalidRecordError, match=r"discharge\.csv\.gz: table 'discharge' has no column 'note_seq'"):
        read_mimic_notes(mimic4)


def test_errors_for_missing_data_and_bad_arguments(tmp_path: Path, mimic4: Path) -> None:
    with pytest.raises(DataNotFoundError, match="neither MIMIC-IV"):
        read_mimic_notes(tmp_path)
    with pytest.raises(ConfigError, match="MIMIC-IV note categories"):
        read_mimic_notes(mimic4, categories=("Nursing",))
    with pytest.raises(DataNotFoundError, match="split file not found"):
        read_mimic_notes(mimic4, splits_file=tmp_path / "nope.csv")


def test_mimic3_demo_header_only_noteevents() -> None:
    """The public MIMIC-III demo ships NOTEEVENTS.csv without rows: no records, every coded admission reported."""
    root = paths.dataset_dir("mimic3-demo")
    if not (root / "NOTEEVENTS.csv").is_file():
        pytest.skip(f"MIMIC-III demo not found under the data root ({root}); run `medrnn data fetch mimic3-demo`")
    records, report = read_mimic_notes(root)
    assert records == [] and report.n_notes == {}
    assert report.n_code_admissions_without_notes > 100 and report.n_code_rows["diagnoses"] > 1000
