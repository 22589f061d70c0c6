"""Note readers under hostile input (CodiEsp and MIMIC notes): mutated copies of real CodiEsp cases and of a notes table
built on real MIMIC-III demo ids either read into valid records or raise MedrnnError, nothing else; plus regressions."""

from __future__ import annotations

import csv
import gzip
import io
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medrnn.testing import Files, byte_mutations, mutate_bytes, write_files
from medrnn import paths
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.io.codiesp import RELEASE_FOLDER, read_codiesp
from medrnn.io.mimic_notes import NOTE_SEPARATOR, read_mimic_notes

N_DOCS = 4  # CodiEsp train cases copied
N_ADMISSIONS = 8  # MIMIC-III demo admissions given notes
TOKENS = ["nan", "inf", "-1", "0", "1e400", "9" * 30, "", " ", "\t", "123.0", "r52", "R5 2", "2163 2171;", "99999 100000", "-5 3",
          "DIAGNOSTICO", "HADM_ID", '"', "\x00", "é", "\r\n"]  # fmt: skip
KINDS = ["bytes", "bytes", "bytes", "empty", "blank", "latin1", "dir", "dangling", "loop"]
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ICD = re.compile(r"^[A-Z0-9]+(\.[A-Z0-9]+)?$")


MUTATIONS = byte_mutations(
    TOKENS,
    st.tuples(st.just("field"), st.floats(0, 1), st.tuples(st.integers(0, 10), st.sampled_from(TOKENS))),
)


def mutate(data: bytes, mutation: tuple, sep: bytes) -> bytes:
    """One byte-level damage, or one `sep`-separated field of a line replaced by an extreme or malformed token."""
    damaged = mutate_bytes(data, mutation)
    if damaged is not None:
        return damaged
    op, where, arg = mutation
    lines = data.split(b"\n")
    i = min(int(where * len(lines)), len(lines) - 1)
    fields = lines[i].split(sep)
    fields[min(arg[0], len(fields) - 1)] = arg[1].encode()
    lines[i] = sep.join(fields)
    return b"\n".join(lines)


def damage(folder: Path, target: str, kind: str, mutation: tuple, sep: bytes) -> None:
    """Damage one file in place: mutate its bytes, empty it, make it non-UTF-8, or replace it by a folder or a bad link."""
    path = folder / target
    gz = target.endswith(".gz")
    if kind == "bytes":
        data = path.read_bytes()
        path.write_bytes(
            gzip.compress(mutate(gzip.decompress(data), mutation, sep)) if gz and mutation[0] == "field" else mutate(data, mutation, sep)
        )
    elif kind in ("empty", "blank"):
        path.write_bytes(b"" if kind == "empty" else b" \n\t\n")
    elif kind == "latin1":
        data = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
        data = data.replace(b"\n", "é\n".encode("latin-1"), 1) + "ñ".encode("latin-1")
        path.write_bytes(gzip.compress(data) if gz else data)
    else:
        path.unlink()
        {"dir": path.mkdir, "dangling": lambda: path.symlink_to(folder / "gone"), "loop": lambda: path.symlink_to(path)}[kind]()


# --- CodiEsp -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def codiesp() -> Files:
    """N_DOCS real train cases (Spanish and English) with their D, P and X rows."""
    train = paths.dataset_dir("codiesp") / RELEASE_FOLDER / "train"
    if not (train / "trainD.tsv").is_file():
        pytest.skip(f"CodiEsp not found under the data root ({train}); run `medrnn data fetch codiesp` or set MEDRNN_DATA")
    docs = sorted(p.stem for p in (train / "text_files").glob("*.txt"))[:N_DOCS]
    files = Files()
    for doc in docs:
        for folder in ("text_files", "text_files_en"):
            files[f"train/{folder}/{doc}.txt"] = (train / folder / f"{doc}.txt").read_bytes()
    for kind in "DPX":
        rows = (train / f"train{kind}.tsv").read_bytes().splitlines(keepends=True)
        files[f"train/train{kind}.tsv"] = b"".join(r for r in rows if r.split(b"\t")[0].decode() in docs)
    return files


def check_codiesp(records: list, report) -> None:
    """Every record has text, normalised codes with their types, and spans inside its text on its own codes."""
    for r in records:
        assert r.text.strip() and r.note_id and len(r.codes) == len(r.code_types)
        assert all(ICD.match(c) for c in r.codes) and set(r.code_types) <= {"D", "P"}
        assert len(set(zip(r.codes, r.code_types))) == len(r.codes)
        assert all(0 <= s < e <= len(r.text) and c in r.codes for c, s, e in r.spans)
    assert sum(report.n_documents.values()) == len(records) and len(records) + len(report.excluded_documents) == N_DOCS


@SETTINGS
@given(target_index=st.integers(0, 2 * N_DOCS + 2), kind=st.sampled_from(KINDS), mutation=MUTATIONS, language=st.sampled_from(["es", "en"]))
def test_mutated_codiesp_reads_valid_or_raises_medrnn_error(codiesp: Files, tmp_path: Path, target_index: int, kind: str, mutation: tuple,
                                                            language: str) -> None:  # fmt: skip
    root = write_files(Path(tempfile.mkdtemp(dir=tmp_path)) / RELEASE_FOLDER, codiesp)
    target = sorted(codiesp)[target_index]
    damage(root, target, kind, mutation, b"\t")
    try:
        records, report = read_codiesp(root, splits=("train",), language=language, code_types=("D", "P"))
    except MedrnnError:
        return
    check_codiesp(records, report)


@pytest.mark.parametrize("kind", ["dir", "dangling", "loop", "empty", "blank", "latin1"])
def test_bad_codiesp_text_file_is_excluded_and_reported(codiesp: Files, tmp_path: Path, kind: str) -> None:
    root = write_files(tmp_path / RELEASE_FOLDER, codiesp)
    target = sorted(k for k in codiesp if k.startswith("train/text_files/"))[0]
    damage(root, target, kind, ("flip", 0, 1), b"\t")
    records, report = read_codiesp(root, splits=("train",), code_types=("D", "P"))
    doc = Path(target).stem
    assert len(records) == N_DOCS - 1 and doc not in {r.note_id for r in records} and report.n_documents == {"train": N_DOCS - 1}
    (path, reason), = report.excluded_documents.items()  # fmt: skip
    assert path == str(root / target)
    expected = {"dir": "cannot read the file", "dangling": "cannot read the file", "loop": "cannot read the file", "empty": "empty text",
                "blank": "empty text", "latin1": "not UTF-8"}[kind]  # fmt: skip
    assert expected in reason
    n_rows = sum(ln.startswith(doc.encode()) for k in ("D", "P") for ln in codiesp[f"train/train{k}.tsv"].splitlines())
    assert report.n_code_rows_of_excluded_documents == n_rows > 0 and not report.codes_without_document
    assert all("empty or unreadable" in b.reason for b in report.malformed_rows)  # its X rows, and no others
    assert "1 documents excluded" in report.summary() and doc not in report.summary().replace(str(root), "")


# --- MIMIC notes ---------------------------------------------------------------------------------------------------

NOTE3 = ["row_id", "subject_id", "hadm_id", "chartdate", "charttime", "storetime", "category", "description", "cgid", "iserror", "text"]


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def mimic_notes() -> Files:
    """NOTEEVENTS for N_ADMISSIONS real demo admissions (the demo ships its header only) and their real code rows."""
    root = paths.dataset_dir("mimic3-demo")
    if not (root / "ADMISSIONS.csv").is_file():
        pytest.skip(f"MIMIC-III demo not found under the data root ({root}); run `medrnn data fetch mimic3-demo`")
    admissions = list(csv.DictReader(io.StringIO((root / "ADMISSIONS.csv").read_text())))[:N_ADMISSIONS]
    rows = []
    for i, a in enumerate(admissions):
        day = a["dischtime"][:10]
        rows.append([10 * i + 1, a["subject_id"], a["hadm_id"], day, "", "", "Discharge summary", "Report", "", "",
                     f"Admission Date: [**{a['admittime'][:10]}**]\nDiagnosis: {a['diagnosis']}, \"stable\"."])  # fmt: skip
        if i % 3 == 0:
            rows.append(
                [10 * i + 2, a["subject_id"], a["hadm_id"], day, "", "", "Discharge summary", "Addendum", "", "", "Addendum: none."]
            )
        if i % 4 == 1:
            rows.append([10 * i + 3, a["subject_id"], a["hadm_id"], day, "", "", "Radiology", "CXR", "", "", "Chest x-ray: clear."])
    ids = {a["hadm_id"].encode() for a in admissions}
    files = Files({"NOTEEVENTS.csv": _csv(NOTE3, rows)})
    for table in ("DIAGNOSES_ICD", "PROCEDURES_ICD"):
        lines = (root / f"{table}.csv").read_bytes().splitlines(keepends=True)
        files[f"{table}.csv"] = lines[0] + b"".join(ln for ln in lines[1:] if ln.split(b",")[2] in ids)
    return files


def _gz(files: Files, gz: bool) -> Files:
    return Files({f"{k}.gz": gzip.compress(v, mtime=0) for k, v in files.items()}) if gz else files


def check_notes(records: list, report) -> None:
    for r in records:
        assert r.note_id.isdigit() and int(r.note_id) > 0 and r.patient_id.isdigit() and int(r.patient_id) > 0
        assert r.text.strip() and not r.text.startswith(NOTE_SEPARATOR) and len(r.codes) == len(r.code_types)
        assert all(ICD.match(c) for c in r.codes) and set(r.code_types) <= {"D", "P"}
    assert report.n_admissions == len(records) and len({r.note_id for r in records}) == len(records)


@SETTINGS
@given(target=st.sampled_from(["NOTEEVENTS.csv", "NOTEEVENTS.csv", "DIAGNOSES_ICD.csv", "PROCEDURES_ICD.csv"]), gz=st.booleans(),
       kind=st.sampled_from(KINDS), mutation=MUTATIONS)  # fmt: skip
def test_mutated_mimic_notes_read_valid_or_raise_medrnn_error(mimic_notes: Files, tmp_path: Path, target: str, gz: bool, kind: str,
                                                             mutation: tuple) -> None:  # fmt: skip
    folder = write_files(Path(tempfile.mkdtemp(dir=tmp_path)), _gz(mimic_notes, gz))
    damage(folder, target + (".gz" if gz else ""), kind, mutation, b",")
    try:
        records, report = read_mimic_notes(folder)
    except MedrnnError:
        return
    check_notes(records, report)


def test_mimic_notes_of_the_demo_ids_read(mimic_notes: Files, tmp_path: Path) -> None:
    records, report = read_mimic_notes(write_files(tmp_path, mimic_notes))
    assert len(records) == N_ADMISSIONS and report.n_notes == {"Discharge summary": N_ADMISSIONS + 3}
    assert sum(bool(r.codes) for r in records) == N_ADMISSIONS and report.n_empty_notes == 0
    check_notes(records, report)


def _note_rows(files: Files) -> list[list[str]]:
    """The data rows of the NOTEEVENTS table (texts hold quoted newlines: parsed, not split on lines)."""
    return list(csv.reader(io.StringIO(files["NOTEEVENTS.csv"].decode())))[1:]


def test_empty_notes_are_dropped_and_counted(mimic_notes: Files, tmp_path: Path) -> None:
    """Empty notes were kept without a word: an empty record trains codes from nothing. Now dropped, counted, summarised."""
    rows = _note_rows(mimic_notes)
    first, second = rows[0], rows[2]  # admission 0: a report (emptied here) and an addendum (kept); admission 1: one report
    assert rows[1][2] == first[2] != second[2] and rows[1][-1] == "Addendum: none."
    first[-1], second[-1] = "", "  \n "
    records, report = read_mimic_notes(write_files(tmp_path, Files(mimic_notes, **{"NOTEEVENTS.csv": _csv(NOTE3, rows)})))
    by_id = {r.note_id: r for r in records}
    assert (report.n_empty_notes, report.n_admissions_only_empty_notes) == (2, 1) and len(records) == N_ADMISSIONS - 1
    assert second[2] not in by_id and by_id[first[2]].text == "Addendum: none."
    assert int(second[2]) in report.code_admissions_without_notes
    assert "2 empty notes dropped (1 admissions left without text)" in report.summary()


@pytest.mark.parametrize("damage_kind", ["truncate", "flip_late", "garbage"])
def test_damaged_gzip_notes_table_names_its_file(mimic_notes: Files, tmp_path: Path, damage_kind: str) -> None:
    folder = write_files(tmp_path, _gz(mimic_notes, True))
    path = folder / "NOTEEVENTS.csv.gz"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "flip_late": data[:-12] + bytes([data[-12] ^ 0x5A]) + data[-11:],
                      "garbage": b"\x1f\x8b" + bytes(range(256))}[damage_kind])  # fmt: skip
    with pytest.raises(InvalidRecordError, match=rf"{re.escape(str(path))}.*(could not be read|not a readable)"):
        read_mimic_notes(folder)


@pytest.mark.parametrize(
    ("table", "column"), [("NOTEEVENTS.csv", "hadm_id"), ("NOTEEVENTS.csv", "text"), ("DIAGNOSES_ICD.csv", "icd9_code")]
)
def test_case_duplicate_columns_in_notes_tables_are_refused(mimic_notes: Files, tmp_path: Path, table: str, column: str) -> None:
    data = mimic_notes[table].replace(b"\n", f",{column.upper()}\n".encode(), 1)  # header only: a ragged repeat is enough to be refused
    folder = write_files(tmp_path, Files(mimic_notes, **{table: data}))
    with pytest.raises(InvalidRecordError, match=rf"{table}: table '\w+' has columns '{column}' and '{column.upper()}'"):
        read_mimic_notes(folder)


@pytest.mark.parametrize("flag", ["2", "-1", "nan", "yes"])
def test_unknown_iserror_flag_is_refused(mimic_notes: Files, tmp_path: Path, flag: str) -> None:
    rows = _note_rows(mimic_notes)
    rows[0][NOTE3.index("iserror")] = flag
    with pytest.raises(InvalidRecordError, match=rf"column 'iserror': 1 value\(s\) are not empty, 0 or 1, first '{flag}'"):
        read_mimic_notes(write_files(tmp_path, Files(mimic_notes, **{"NOTEEVENTS.csv": _csv(NOTE3, rows)})))


def test_damaged_hadm_id_in_a_code_table_is_refused_not_counted_as_missing(mimic_notes: Files, tmp_path: Path) -> None:
    lines = mimic_notes["DIAGNOSES_ICD.csv"].split(b"\n")
    fields = lines[1].split(b",")
    fields[2] += b".0"  # a pandas export: 142345.0
    lines[1] = b",".join(fields)
    with pytest.raises(
        InvalidRecordError, match=r"table 'diagnoses' column 'hadm_id': 1 value\(s\) are not positive integer ids; first at row 0"
    ):
        read_mimic_notes(write_files(tmp_path, Files(mimic_notes, **{"DIAGNOSES_ICD.csv": b"\n".join(lines)})))


def test_split_file_damage_is_refused(tmp_path: Path) -> None:
    from medrnn.io.mimic_notes import read_split_file

    (tmp_path / "s.csv").write_text("_id,split,SPLIT\n1,train,test\n")
    with pytest.raises(InvalidRecordError, match="has columns 'split' and 'SPLIT'"):
        read_split_file(tmp_path / "s.csv")
    (tmp_path / "t.csv").write_bytes(b"1\n\xff\n")
    with pytest.raises(InvalidRecordError, match="not readable UTF-8"):
        read_split_file({"train": tmp_path / "t.csv"})
    (tmp_path / "u.csv").write_text("\u00b2\n")  # a superscript two: isdigit() is true, int() fails
    with pytest.raises(InvalidRecordError, match="line 1"):
        read_split_file({"train": tmp_path / "u.csv"})
