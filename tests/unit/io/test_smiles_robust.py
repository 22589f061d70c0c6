"""read_smiles_csv against hostile files: the first 50 rows of real BBBP.csv (plain and gzipped), mutated.

The property: the reader returns a consistent table (finite or missing targets only, every kept SMILES within
the caps, kept + rejected = read) or raises a MedrnnError naming the file; and RDKit is never handed a string
above the caps. Then one regression test per known failure.
"""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from medrnn.data.splits import murcko_scaffold
from medrnn.errors import ConfigError, InvalidRecordError, MedrnnError
from medrnn.testing import replace_file
from medrnn.io.smiles import MAX_HEAVY_ATOMS, MAX_SMILES_CHARS, find_smiles_column, parse_smiles, read_smiles_csv, screen_smiles
from medrnn.transforms.smiles import randomize_smiles

N_ROWS = 50
EXTREMES = ["1e-300", "1e308", "1e999", "-1e999", "inf", "-inf", "Infinity", "nan", "-nan", "-1", "", " ", "x" * 300,
            "C" * 20_000, "C" * (MAX_HEAVY_ATOMS + 1), "[C@@H](F)" * 600, "c1ccccc1" * 200, "(" * 5000, "\x00", "é", "\ud800",
            "smiles", "p_np", '"', "\n", ",", "C\x00C"]  # fmt: skip


@pytest.fixture(scope="session")
def bbbp_head(moleculenet_dir: Path) -> bytes:
    """The header and first 50 data rows of BBBP.csv, as bytes."""
    with (moleculenet_dir / "BBBP.csv").open("rb") as f:
        return b"".join(f.readline() for _ in range(N_ROWS + 1))


@contextmanager
def _file(content: bytes, name: str = "bbbp.csv") -> Iterator[Path]:
    """`content` in a new folder for each hypothesis example (a fixture's tmp_path is shared by all examples)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        yield path


@contextmanager
def _rdkit_spy() -> Iterator[list[str]]:
    """Record every string handed to Chem.MolFromSmiles while the block runs."""
    seen: list[str] = []
    real = Chem.MolFromSmiles

    def spy(smiles: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(smiles)
        return real(smiles, *args, **kwargs)

    Chem.MolFromSmiles = spy
    try:
        yield seen
    finally:
        Chem.MolFromSmiles = real


def _assert_valid(path: Path, targets: tuple[str, ...] = ("p_np",)) -> None:
    """The property: a consistent table, or a MedrnnError naming the file; RDKit only sees screened strings."""
    with _rdkit_spy() as seen:
        try:
            table, report = read_smiles_csv(path, targets)
        except MedrnnError as err:
            assert str(path) in str(err), f"the message does not name the file: {err}"
            return
        finally:
            too_big = [s[:40] for s in seen if screen_smiles(s) is not None]
            assert not too_big, f"RDKit was called with {too_big}"
    assert report.n_kept == len(table.smiles) == len(table.rows) == table.targets.shape[0]
    assert report.n_kept + len(report.rejected) == report.n_read
    assert not np.isinf(table.targets).any()
    assert all(screen_smiles(s) is None for s in table.smiles)
    assert all(r.reason for r in report.rejected) and all(len(r.smiles) < 200 for r in report.rejected)


pytestmark = pytest.mark.timeout(60)  # a reader that blocks (on a FIFO, say) fails instead of hanging the suite


# --- properties --------------------------------------------------------------------------------------------

_SETTINGS = settings(max_examples=40, deadline=None)


def _mutate(raw: bytes, where: float, op: str, data: bytes) -> bytes:
    out = bytearray(raw)
    i = min(int(where * len(out)), max(len(out) - 1, 0))
    if op == "flip" and out:
        out[i] ^= data[0] or 0x01
    elif op == "truncate":
        del out[i:]
    elif op == "insert":
        out[i:i] = data
    else:
        del out[i : i + len(data)]
    return bytes(out)


@_SETTINGS
@given(
    gz=st.booleans(),
    where=st.floats(0, 1),
    op=st.sampled_from(["flip", "truncate", "insert", "delete"]),
    data=st.binary(min_size=1, max_size=8),
)
@example(gz=True, where=0.5, op="truncate", data=b"\x00")  # a truncated download
@example(gz=False, where=0.01, op="insert", data=b"\xff\xfe")  # not UTF-8
def test_byte_mutations_never_leak(bbbp_head: bytes, gz: bool, where: float, op: str, data: bytes) -> None:
    raw = gzip.compress(bbbp_head, mtime=0) if gz else bbbp_head
    with _file(_mutate(raw, where, op, data), "bbbp.csv.gz" if gz else "bbbp.csv") as path:
        _assert_valid(path)


@_SETTINGS
@given(row=st.integers(0, N_ROWS), column=st.integers(0, 3), value=st.sampled_from(EXTREMES) | st.text(max_size=20), gz=st.booleans())
@example(row=3, column=2, value="inf", gz=False)  # an infinite target
@example(row=3, column=3, value="C" * 20_000, gz=False)  # the chain that crashes RDKit
@example(row=0, column=0, value="smiles", gz=False)  # two columns named 'smiles'
def test_cell_substitutions_never_leak(bbbp_head: bytes, row: int, column: int, value: str, gz: bool) -> None:
    rows = list(csv.reader(io.StringIO(bbbp_head.decode())))
    rows[row][column] = value
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    raw = text.getvalue().encode("utf-8", "surrogatepass")
    with _file(gzip.compress(raw, mtime=0) if gz else raw, "bbbp.csv.gz" if gz else "bbbp.csv") as path:
        _assert_valid(path)


@_SETTINGS
@given(
    kind=st.sampled_from(["empty", "directory", "dangling", "loop", "fifo", "garbage", "header-only", "latin-1"]),
    garbage=st.binary(max_size=200),
)
def test_replaced_files_never_leak(bbbp_head: bytes, kind: str, garbage: bytes) -> None:
    header_only = bbbp_head.splitlines(keepends=True)[0]
    contents = {"empty": b"", "garbage": garbage, "header-only": header_only, "latin-1": "smiles,p_np\nCé,1\n".encode("latin-1")}
    with _file(b"") as path:
        replace_file(path, kind, contents)
        _assert_valid(path)


@settings(max_examples=60, deadline=None)
@given(smiles=st.sampled_from(EXTREMES) | st.text(max_size=40) | st.text("CNOc1()=#[]@+-%0123456789HBrl", max_size=3000))
def test_parse_smiles_never_raises_and_screens_first(smiles: str) -> None:
    with _rdkit_spy() as seen:
        mol, reason = parse_smiles(smiles)
    assert (mol is None) != (reason is None)
    assert all(screen_smiles(s) is None for s in seen)


# --- regressions: each bullet of the hostile-user report ------------------------------------------------


def test_truncated_gzip(bbbp_head: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bbbp.csv.gz"
    whole = gzip.compress(bbbp_head, mtime=0)
    for cut in (len(whole) // 2, len(whole) - 4, 5):
        path.write_bytes(whole[:cut])
        with pytest.raises(
            InvalidRecordError, match=r"bbbp\.csv\.gz: compressed file is truncated or corrupt \((EOFError|zlib\.error|BadGzipFile)"
        ):
            read_smiles_csv(path, ["p_np"])


def test_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("smiles,y,y\nCCO,1,0\n")
    with pytest.raises(InvalidRecordError, match=r"dup\.csv: columns 2 and 3 are both named 'y'; give every column a distinct name"):
        read_smiles_csv(path, ["y"])
    path.write_text("SMILES,y,smiles\nCCO,1,CCC\n")
    with pytest.raises(InvalidRecordError, match=r"dup\.csv: columns \['SMILES', 'smiles'\] could each be the SMILES column"):
        read_smiles_csv(path, ["y"])


def test_non_finite_targets_are_rejected_rows(tmp_path: Path) -> None:
    path = tmp_path / "inf.csv"
    path.write_text("smiles,y\nCCO,inf\nCCN,-Infinity\nCCC,1e999\nCCCC,1e308\nCCCCC,nan\nCCCCCC,\n")
    table, report = read_smiles_csv(path, ["y"])
    assert [r.row for r in report.rejected] == [0, 1, 2]
    assert all("expected a finite number" in r.reason for r in report.rejected)
    assert table.smiles == ("CCCC", "CCCCC", "CCCCCC") and table.targets[0, 0] == 1e308 and np.isnan(table.targets[1:, 0]).all()


def test_huge_chain_is_rejected_fast_without_rdkit(tmp_path: Path) -> None:
    path = tmp_path / "chain.csv"
    path.write_text(f"smiles,y\nCCO,1\n{'C' * 20_000},0\n{'C' * (MAX_HEAVY_ATOMS + 1)},0\n{'C' * MAX_HEAVY_ATOMS},1\n")
    start = time.perf_counter()
    with _rdkit_spy() as seen:
        table, report = read_smiles_csv(path, ["y"])
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert max(len(s) for s in seen) == MAX_HEAVY_ATOMS  # the two over-cap rows never reached RDKit
    assert table.rows.tolist() == [0, 3]
    reasons = {r.row: r.reason for r in report.rejected}
    assert reasons[1] == f"SMILES has 20,000 characters, more than the {MAX_SMILES_CHARS:,} allowed (medrnn.io.smiles.MAX_SMILES_CHARS)"
    assert (
        reasons[2] == f"SMILES writes up to 1,001 heavy atoms, more than the {MAX_HEAVY_ATOMS:,} allowed (medrnn.io.smiles.MAX_HEAVY_ATOMS)"
    )
    assert report.rejected[0].smiles.endswith("... (20,000 characters)")


def test_screen_counts_heavy_atoms_not_hydrogens() -> None:
    assert screen_smiles("[H]" * 4 + "C" * MAX_HEAVY_ATOMS) is None
    assert screen_smiles("[Hg]" + "C" * MAX_HEAVY_ATOMS) is not None  # mercury is heavy
    assert screen_smiles("Cl" * MAX_HEAVY_ATOMS) is None and screen_smiles("Cl" * (MAX_HEAVY_ATOMS + 1)) is not None
    assert screen_smiles("CCO \u00e9thanol") is not None  # printable ASCII only
    assert screen_smiles("CCO " + "C" * 2000) is None  # RDKit reads a name after the blank, not atoms


def test_other_rdkit_call_sites_screen_too() -> None:
    chain = "C" * 20_000
    start = time.perf_counter()
    with pytest.raises(InvalidRecordError, match=r"20,000 characters.*cannot be enumerated"):
        randomize_smiles(chain, 1, 0)
    with pytest.raises(ConfigError, match=r"cannot compute a scaffold .*20,000 characters"):
        murcko_scaffold(chain)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", r"file is empty"),
        (b"\n\n\n", r"holds no table"),
        (b"smiles,p_np\n", r"header line only \(\['smiles', 'p_np'\]\), no data rows"),
        ("smiles,p_np\nCé,1\n".encode("latin-1"), r"not UTF-8 text \(byte b'\\xe9' in b'C\\xe9'\)"),
        (b"\x00\x01\x02\x03binary\x00\x00,\x00\n\x00\x00,\x00\n", r"the header line holds NUL bytes: a binary file"),
        (b"\x1f\x8b\x08\x00garbage", r"not UTF-8 text|no SMILES column"),
    ],
    ids=["empty", "blank-lines", "header-only", "latin-1", "binary", "gzip-magic-in-csv"],
)
def test_unreadable_tables(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidRecordError, match=expected) as info:
        read_smiles_csv(path, ["p_np"])
    assert str(info.value).startswith(str(path))


def test_directory_and_dangling_symlink(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InvalidRecordError, match=r"dir\.csv: CSV file is a directory, expected a regular file"):
        read_smiles_csv(tmp_path / "dir.csv")
    (tmp_path / "link.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(InvalidRecordError, match=r"link\.csv: CSV file is a dangling symbolic link"):
        read_smiles_csv(tmp_path / "link.csv")
    with pytest.raises(InvalidRecordError, match=r"cannot access CSV file \(File name too long\)"):
        read_smiles_csv(tmp_path / ("x" * 300 + ".csv"))


def test_gzipped_head_reads_like_the_plain_one(bbbp_head: bytes, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(bbbp_head)
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(bbbp_head))
    plain, _ = read_smiles_csv(tmp_path / "a.csv", ["p_np"])
    packed, _ = read_smiles_csv(tmp_path / "a.csv.gz", ["p_np"])
    assert plain.smiles == packed.smiles and len(plain.smiles) == N_ROWS - 0
    np.testing.assert_array_equal(plain.targets, packed.targets)


def test_caps_admit_every_moleculenet_smiles(moleculenet_dir: Path) -> None:
    """The caps are far above the real data: no MoleculeNet SMILES is refused by them (longest: 1,340 characters)."""
    longest = 0
    for path in sorted(moleculenet_dir.glob("*.csv*")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        column = find_smiles_column(list(frame.columns), str(path))
        refused = [s for s in frame[column] if screen_smiles(s.strip()) is not None]
        assert not refused, f"{path.name}: {refused[:1]}"
        longest = max(longest, int(frame[column].str.len().max()))
    assert longest < MAX_SMILES_CHARS / 3
