"""SMILES CSV reader: every rejected row reported with row, text and RDKit's reason; missing labels kept as NaN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrnn.errors import InvalidRecordError
from medrnn.io.smiles import read_smiles_csv


def test_bbbp_rejects_exactly_the_rows_rdkit_cannot_parse(moleculenet_dir: Path) -> None:
    table, report = read_smiles_csv(moleculenet_dir / "BBBP.csv", ["p_np"])
    assert (report.n_read, report.n_kept, len(report.rejected)) == (2050, 2039, 11)
    assert [r.row for r in report.rejected] == [59, 61, 391, 614, 642, 645, 646, 647, 648, 649, 685]  # as SOURCE.md
    assert all("valence" in r.reason for r in report.rejected)
    assert table.targets.shape == (2039, 1) and set(np.unique(table.targets)) == {0.0, 1.0}
    assert 59 not in table.rows and table.rows[0] == 0


def test_tox21_missing_labels_are_nan_not_dropped(moleculenet_dir: Path) -> None:
    targets = ["NR-AR", "SR-p53"]
    table, report = read_smiles_csv(moleculenet_dir / "tox21.csv", targets, id_column="mol_id")
    assert report.n_kept == 7823 and report.n_missing_labels == int(np.isnan(table.targets).sum()) > 0
    assert table.ids[0].startswith("TOX")


def test_bad_rows_are_reported_and_good_rows_kept(tmp_path: Path) -> None:
    path = tmp_path / "mols.csv"
    path.write_text("name,SMILES,y\na,CCO,1\nb,C1CC,0\nc,c1ccccc1,\nd,CC(C)(C)(C)C,1\ne,CCN,abc\nf,,1\n")
    table, report = read_smiles_csv(path, ["y"])
    assert table.smiles == ("CCO", "c1ccccc1") and np.isnan(table.targets[1, 0])
    reasons = {r.row: r.reason for r in report.rejected}
    assert set(reasons) == {1, 3, 4, 5}
    assert "unclosed ring" in reasons[1] and not reasons[1].startswith("SMILES parse error: [")  # RDKit's words, no timestamp
    assert "valence" in reasons[3] and "'abc'" in reasons[4] and reasons[5] == "empty SMILES"
    assert report.to_dict()["n_rejected"] == 4 and "4 rejected" in report.summary()


def test_canonicalisation_makes_one_string_per_molecule(tmp_path: Path) -> None:
    path = tmp_path / "same.csv"
    path.write_text("smiles\nOCC\nC(O)C\n[CH3][CH2]O\n")
    table, _ = read_smiles_csv(path)
    assert set(table.smiles) == {"CCO"} and table.input_smiles == ("OCC", "C(O)C", "[CH3][CH2]O")


def test_missing_columns_name_the_file_and_what_exists(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("structure,y\nCCO,1\n")
    with pytest.raises(InvalidRecordError, match=r"x.csv: no SMILES column found.*\['structure', 'y'\]"):
        read_smiles_csv(path, ["y"])
    with pytest.raises(InvalidRecordError, match="target column 'z' not found"):
        read_smiles_csv(path, ["z"], smiles_column="structure")
    with pytest.raises(InvalidRecordError, match="file not found"):
        read_smiles_csv(tmp_path / "absent.csv")
