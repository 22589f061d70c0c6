"""CodiEsp reader: counts on the real v4 files (SOURCE.md), spans, and every oddity reported on tiny folders built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from medrnn import paths
from medrnn.errors import ConfigError, DataNotFoundError
from medrnn.io.codiesp import RELEASE_FOLDER, read_codiesp
from medrnn.records import NoteRecord


@pytest.fixture(scope="module")
def codiesp_root() -> Path:
    root = paths.dataset_dir("codiesp")
    if not (root / RELEASE_FOLDER / "train" / "trainD.tsv").is_file():
        pytest.skip(f"CodiEsp not found under the data root ({root}); run `medrnn data fetch codiesp` or set MEDRNN_DATA")
    return root


@pytest.fixture(scope="module")
def spanish(codiesp_root: Path) -> tuple[list[NoteRecord], object]:
    return read_codiesp(codiesp_root, code_types=("D", "P"))


def test_real_counts_match_source_md(spanish: tuple) -> None:
    records, report = spanish
    assert report.n_documents == {"train": 500, "dev": 250, "test": 250}
    assert {s: sum(r.split == s for r in records) for s in ("train", "dev", "test")} == {"train": 500, "dev": 250, "test": 250}
    # the files hold no repeated (document, code) row, so de-duplication leaves SOURCE.md's row counts intact
    assert report.n_code_rows == {"train/D": 5639, "train/P": 1550, "dev/D": 2677, "dev/P": 817, "test/D": 2842, "test/P": 879}
    assert report.n_codes == {"D": 5639 + 2677 + 2842, "P": 1550 + 817 + 879}
    assert report.duplicate_code_rows == [] and report.malformed_rows == [] and report.codes_without_document == []
    assert (
        report.n_distinct_codes["train/D"] == 1767
        and report.n_distinct_codes["dev/D"] == 1158
        and report.n_distinct_codes["test/D"] == 1143
    )
    assert (report.n_distinct_codes["all/D"], report.n_distinct_codes["all/P"]) == (2557, 870)
    assert all(not r.split or r.codes for r in records) and sum(map(len, report.documents_without_codes.values())) == 0
    first = next(r for r in records if r.note_id == "S0004-06142005000700014-1")
    assert first.codes[:5] == ("N44.8", "Z20.818", "R60.9", "R52", "A23.9") and first.code_types[0] == "D"
    assert "BW03ZZZ" in first.codes and first.code_types[first.codes.index("BW03ZZZ")] == "P"


def test_spans_incl_discontinuous(spanish: tuple) -> None:
    records, report = spanish
    by_id = {r.note_id: r for r in records}
    case = by_id["S0004-06142005000700014-1"]
    assert ("3E02329", 2787, 2801) in case.spans and ("3E02329", 2810, 2823) in case.spans  # "2787 2801;2810 2823"
    assert (case.text[2787:2801], case.text[2810:2823]) == ("Estreptomicina", "intramuscular")
    masa = by_id["S0004-06142005000900015-1"]
    assert {("R19.00", 549, 564), ("R19.00", 654, 658)} <= set(masa.spans)
    assert masa.text[549:564] + " " + masa.text[654:658] == "retroperitoneal masa"
    assert report.n_discontinuous_mentions == 3707 and report.n_spans == 22402
    assert all(0 <= s < e <= len(r.text) and c in r.codes for r in records for c, s, e in r.spans)
    assert len(report.span_text_mismatches) == 8  # annotators' evidence texts that drop a final '.' or '%' (kept, listed)


def test_english_texts_without_spans(codiesp_root: Path, spanish: tuple) -> None:
    records, report = read_codiesp(codiesp_root, splits=("dev",), language="en")
    assert len(records) == 250 and all(r.language == "en" and r.text.strip() for r in records)
    es = {r.note_id: r for r in spanish[0]}
    diagnoses = {i: tuple(c for c, t in zip(r.codes, r.code_types) if t == "D") for i, r in es.items()}
    assert all(r.text != es[r.note_id].text and r.codes == diagnoses[r.note_id] for r in records)
    assert all(r.spans == () for r in records) and "Spanish" in report.spans_note


def _corpus(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / RELEASE_FOLDER / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """train: a1 coded, a2 without codes; a code of a missing document; a repeat; a malformed row; an extra split folder."""
    files = {"train/text_files/a1.txt": "Dolor torácico y fiebre.", "train/text_files/a2.txt": "Sin hallazgos.",
             "train/text_files_en/a1.txt": "Chest pain and fever.", "train/text_files_en/a2.txt": "No findings.",
             "train/trainD.tsv": "a1\tr07.9\na1\t R50.9 \nghost\ti10\na1\tR07.9\na1\n",
             "train/trainP.tsv": "",
             "train/trainX.tsv": "a1\tDIAGNOSTICO\tr07.9\tDolor torácico\t0 5;6 14\na1\tDIAGNOSTICO\tr50.9\tfiebre\t17 x\n",
             "background/text_files/b1.txt": "Texto sin anotar."}  # fmt: skip
    for split in ("dev", "test"):
        files |= {f"{split}/text_files/{split}1.txt": "Texto.", f"{split}/{split}D.tsv": f"{split}1\tj18.9\n",
                  f"{split}/{split}P.tsv": "", f"{split}/{split}X.tsv": ""}  # fmt: skip
    return _corpus(tmp_path, files)


def test_problems_reported_not_dropped(tiny: Path) -> None:
    records, report = read_codiesp(tiny / RELEASE_FOLDER)  # the release folder itself is accepted too
    by_id = {r.note_id: r for r in records}
    assert set(by_id) == {"a1", "a2", "dev1", "test1"}
    assert by_id["a1"].codes == ("R07.9", "R50.9") and by_id["dev1"].codes == ("J18.9",)
    assert by_id["a2"].codes == () and report.documents_without_codes["train"] == ["a2"]
    [orphan] = report.codes_without_document
    assert (orphan.note_id, orphan.code, orphan.row, orphan.split) == ("ghost", "I10", 3, "train")
    [duplicate] = report.duplicate_code_rows
    assert duplicate.row == 4 and "R07.9" in duplicate.reason
    reasons = {(Path(b.file).name, b.row): b.reason for b in report.malformed_rows}
    assert reasons[("trainD.tsv", 5)].startswith("1 tab-separated fields")
    assert "offsets '17 x'" in reasons[("trainX.tsv", 2)]
    assert by_id["a1"].spans == (("R07.9", 0, 5), ("R07.9", 6, 14))
    assert report.unknown_splits == ["background"]  # found beside train/dev/test, not read unless asked for


def test_unknown_split_read_when_asked(tiny: Path) -> None:
    records, report = read_codiesp(tiny, splits=("train", "background"))
    assert [r.note_id for r in records if r.split == "background"] == ["b1"]
    assert report.unknown_splits == ["background"] and report.documents_without_codes["background"] == ["b1"]
    with pytest.raises(DataNotFoundError, match="split 'validation' not found"):
        read_codiesp(tiny, splits=("validation",))


def test_english_and_bad_arguments(tiny: Path) -> None:
    records, _ = read_codiesp(tiny, splits="train", language="en")
    assert {r.note_id: r.text for r in records} == {"a1": "Chest pain and fever.", "a2": "No findings."}
    with pytest.raises(ConfigError, match="language 'fr'"):
        read_codiesp(tiny, language="fr")
    with pytest.raises(ConfigError, match="code_types"):
        read_codiesp(tiny, code_types=("X",))


def test_missing_folder_and_file(tmp_path: Path, tiny: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"CodiEsp not found.*medrnn data fetch codiesp"):
        read_codiesp(tmp_path / "nowhere")
    (tiny / RELEASE_FOLDER / "dev" / "devD.tsv").unlink()
    with pytest.raises(DataNotFoundError, match=r"devD\.tsv: CodiEsp dev D codes not found"):
        read_codiesp(tiny)
