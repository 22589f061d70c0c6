"""SMILES tables (CSV, .csv.gz) -> MoleculeTable, with every row RDKit cannot parse reported, never dropped silently.

Every string is screened before RDKit sees it (`screen_smiles`): RDKit takes seconds on a 10,000-atom chain
and crashes the process (SIGSEGV) on a 20,000-atom one, so no size check after the fact could help.
Nothing but a MedrnnError leaves `read_smiles_csv`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.io.files import regular_file
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.records import MoleculeTable

SMILES_COLUMN_NAMES = ("smiles", "canonical_smiles", "smi", "mol")  # tried in this order, case-insensitive
# Caps on what RDKit is ever given. MoleculeNet's largest: 1,340 characters and 492 heavy atoms (sider.csv). At the caps
# RDKit parses, sanitizes and canonicalises in 0.01-0.2 s and a Murcko scaffold takes 0.9 s; a 20,000-atom chain crashes it.
MAX_SMILES_CHARS = 5_000
MAX_HEAVY_ATOMS = 1_000
# An upper bound on the atoms a SMILES writes: bracket atoms, Cl/Br, and every other letter or '*' as one atom.
_ATOM_BOUND_RE = re.compile(r"\[[^\]]*\]|Br|Cl|[A-Za-z*]")
_HYDROGEN_RE = re.compile(r"\[\d*H(?![a-z])")  # [H], [2H], [H+]: not heavy ([Hg], [He], [Ho] are)
_SHOWN_CHARS = 120  # a rejected row quotes at most this much of an over-long SMILES


@dataclass(frozen=True)
class RejectedRow:
    """One input row that was not kept: 0-based data row, the text found and why."""

    row: int
    smiles: str
    reason: str


@dataclass
class ReadReport:
    """What a read did: rows read, kept and rejected (each with its reason)."""

    source: str
    n_read: int = 0
    n_kept: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    n_missing_labels: int = 0  # empty target cells among kept rows
    n_unlabelled_rows: int = 0  # kept rows with every target empty

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "n_read": self.n_read, "n_kept": self.n_kept, "n_rejected": len(self.rejected),
                "n_missing_labels": self.n_missing_labels, "n_unlabelled_rows": self.n_unlabelled_rows,
                "rejected": [{"row": r.row, "smiles": r.smiles, "reason": r.reason} for r in self.rejected]}  # fmt: skip

    def summary(self) -> str:
        return f"{self.source}: {self.n_read} rows read, {self.n_kept} kept, {len(self.rejected)} rejected"


class _RDKitLogCapture(logging.Handler):
    """Collects RDKit's error messages (routed to Python logging) so a rejected row can say why."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(re.sub(r"^\[\d\d:\d\d:\d\d\]\s*", "", record.getMessage().strip()))


def screen_smiles(smiles: str) -> str | None:
    """Why RDKit must not be given this string (too long, too many heavy atoms, not printable ASCII), else None.

    Runs in linear time without RDKit, so every RDKit call site can afford it: a SMILES is printable ASCII,
    and the caps (MAX_SMILES_CHARS, MAX_HEAVY_ATOMS) keep RDKit's time bounded and its crash unreachable.
    """
    if len(smiles) > MAX_SMILES_CHARS:
        return f"SMILES has {len(smiles):,} characters, more than the {MAX_SMILES_CHARS:,} allowed (medrnn.io.smiles.MAX_SMILES_CHARS)"
    if not (smiles.isascii() and smiles.isprintable()):
        bad = next(i for i, ch in enumerate(smiles) if not (ch.isascii() and ch.isprintable()))
        return f"SMILES has character {smiles[bad]!r} (U+{ord(smiles[bad]):04X}) at position {bad}; SMILES is printable ASCII"
    written = smiles.split(maxsplit=1)[0] if smiles.strip() else ""  # RDKit reads atoms up to the first blank
    n_heavy = sum(1 for token in _ATOM_BOUND_RE.findall(written) if not _HYDROGEN_RE.match(token))
    if n_heavy > MAX_HEAVY_ATOMS:
        return f"SMILES writes up to {n_heavy:,} heavy atoms, more than the {MAX_HEAVY_ATOMS:,} allowed (medrnn.io.smiles.MAX_HEAVY_ATOMS)"
    return None


def _shown(text: str) -> str:
    """The text of a rejected row, shortened when it is over-long so reports stay small."""
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}... ({len(text):,} characters)"


def parse_smiles(smiles: str, capture: _RDKitLogCapture | None = None) -> tuple[Any, str | None]:
    """(RDKit Mol, None) for a valid SMILES, else (None, the reason); RDKit only sees strings `screen_smiles` passes."""
    from rdkit import Chem

    if not isinstance(smiles, str) or not smiles.strip():
        return None, "empty SMILES"
    reason = screen_smiles(smiles.strip())
    if reason is not None:
        return None, reason
    if capture is not None:
        capture.messages.clear()
    mol = Chem.MolFromSmiles(smiles.strip(), sanitize=False)
    if mol is None:
        detail = "; ".join(m for m in (capture.messages if capture else []) if m) or "syntax error"
        return None, f"SMILES parse error: {detail}"
    try:
        Chem.SanitizeMol(mol)
    except Exception as err:  # noqa: BLE001  RDKit raises several unrelated Boost.Python types (valence, kekulize)
        return None, f"RDKit sanitization failed: {str(err).strip()}"
    if mol.GetNumAtoms() == 0:
        return None, "no atoms"
    return mol, None


def canonical_smiles(mol: Any) -> str:
    """RDKit canonical isomeric SMILES: one string per molecule, whatever way the file wrote it."""
    from rdkit import Chem

    return Chem.MolToSmiles(mol, isomericSmiles=True, canonical=True)


def find_smiles_column(columns: Sequence[str], source: str) -> str:
    """The column holding SMILES: the first of SMILES_COLUMN_NAMES present (any case), else a clear error."""
    for name in SMILES_COLUMN_NAMES:
        found = [c for c in columns if c.lower() == name]
        if len(found) > 1:
            raise InvalidRecordError(f"{source}: columns {found} could each be the SMILES column; name one with --smiles-column")
        if found:
            return found[0]
    raise InvalidRecordError(
        f"{source}: no SMILES column found (looked for {', '.join(SMILES_COLUMN_NAMES)}); columns are {_columns(columns)}; "
        "name it with --smiles-column"
    )


def _columns(columns: Sequence[str]) -> str:
    """Column names for a message, shortened: a binary file read as CSV has absurd ones."""
    shown = repr([_shown(str(c)) for c in columns[:20]])
    return shown if len(columns) <= 20 else f"{shown[:-1]}, ... ({len(columns):,} columns)]"


def _check_file(path: Path) -> None:
    """`path` is a regular, non-empty file we can open, else an InvalidRecordError saying what is there instead."""
    if regular_file(path, "CSV file").st_size == 0:
        raise InvalidRecordError(f"{path}: file is empty, expected a CSV table with a header line and one row per molecule")


def _read_table(path: Path) -> Any:
    """The CSV as strings, header checked: no duplicate names (pandas would rename the second 'a' to 'a.1')."""
    import gzip
    import lzma
    import zlib

    import pandas as pd

    try:  # header=None: the first line is read as data, so repeated names stay visible to the check below
        raw = pd.read_csv(path, dtype=str, header=None, keep_default_na=False, skip_blank_lines=True)
    except UnicodeDecodeError as err:
        near = bytes(err.object[max(err.start - 30, 0) : err.start + 1])  # pandas decodes in chunks: no file offset
        raise InvalidRecordError(f"{path}: not UTF-8 text (byte {near[-1:]!r} in {near!r}); save the table as UTF-8") from err
    except pd.errors.EmptyDataError as err:
        raise InvalidRecordError(f"{path}: holds no table (empty after decompression?), expected a header line") from err
    except (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as err:
        name = "zlib.error" if isinstance(err, zlib.error) else type(err).__name__
        raise InvalidRecordError(f"{path}: compressed file is truncated or corrupt ({name}: {err}); download it again") from err
    except pd.errors.ParserError as err:
        raise InvalidRecordError(f"{path}: not a well-formed CSV table ({err})") from err
    except (OSError, ValueError, ImportError) as err:  # a bad gzip/zip/xz stream, no codec for .zst, NUL bytes...
        raise InvalidRecordError(f"{path}: not a readable CSV table ({type(err).__name__}: {err})") from err
    if raw.empty:
        raise InvalidRecordError(f"{path}: holds no table, expected a header line and one row per molecule")
    names = [str(name) or f"Unnamed: {i}" for i, name in enumerate(raw.iloc[0])]
    if any("\x00" in name for name in names):
        raise InvalidRecordError(f"{path}: the header line holds NUL bytes: a binary file, not a CSV table")
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            raise InvalidRecordError(
                f"{path}: columns {first[name] + 1} and {i + 1} are both named {_shown(name)!r}; give every column a distinct name"
            )
        first[name] = i
    if len(raw) == 1:
        raise InvalidRecordError(f"{path}: header line only ({_columns(names)}), no data rows")
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = names
    return frame


def read_smiles_csv(
    path: str | Path,
    targets: Sequence[str] | None = None,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> tuple[MoleculeTable, ReadReport]:
    """Read a CSV (or .csv.gz) of SMILES with zero or more numeric target columns.

    Empty target cells become NaN (missing labels). Rows whose SMILES RDKit cannot parse or exceeds the caps
    (MAX_SMILES_CHARS, MAX_HEAVY_ATOMS), or whose target is not a finite number, are returned in the report with
    row number, text and reason; the rest are kept. A file that is not a UTF-8 CSV table with a header, distinct
    column names and at least one data row raises InvalidRecordError; no other exception type leaves this function.
    """
    try:
        return _read_smiles_csv(Path(path), targets, smiles_column, id_column)
    except (MedrnnError, ImportError):  # a missing optional package is not a bad file: the CLI names its extra
        raise
    except Exception as err:  # noqa: BLE001  last resort: a reader never lets a foreign exception out
        raise InvalidRecordError(
            f"{path}: unexpected {type(err).__name__} while reading the SMILES table ({err}); please report it with the file"
        ) from err


def _read_smiles_csv(
    path: Path, targets: Sequence[str] | None, smiles_column: str | None, id_column: str | None
) -> tuple[MoleculeTable, ReadReport]:
    from rdkit import RDLogger, rdBase

    _check_file(path)
    frame = _read_table(path)
    source = str(path)
    column = smiles_column or find_smiles_column(list(frame.columns), source)
    targets = list(targets or [])
    for name, role in [(column, "SMILES"), *((t, "target") for t in targets), *([(id_column, "id")] if id_column else [])]:
        if name not in frame.columns:
            raise InvalidRecordError(f"{source}: {role} column {name!r} not found; columns are {_columns(list(frame.columns))}")

    report = ReadReport(source=source, n_read=len(frame))
    capture = _RDKitLogCapture()
    rdkit_logger = logging.getLogger("rdkit")
    RDLogger.logger().setLevel(RDLogger.ERROR)
    rdBase.LogToPythonLogger()
    # RDKit's own handler prints every failure to stderr; the report carries them instead
    handlers, propagate = rdkit_logger.handlers[:], rdkit_logger.propagate
    rdkit_logger.handlers, rdkit_logger.propagate = [capture], False
    kept_smiles, kept_input, kept_rows, kept_targets, kept_ids = [], [], [], [], []
    try:
        smiles_values = frame[column].tolist()
        target_values = frame[targets].to_numpy() if targets else np.empty((len(frame), 0), dtype=object)
        for row, text in enumerate(smiles_values):
            values, reason = _parse_targets(target_values[row], targets)
            if reason is None:
                mol, reason = parse_smiles(text, capture)
            canonical = canonical_smiles(mol) if reason is None else ""
            if reason is None and (too_big := screen_smiles(canonical)) is not None:  # later RDKit calls get this string
                reason = f"canonical {too_big}"
            if reason is not None:
                report.rejected.append(RejectedRow(row, _shown(str(text)), reason))
                continue
            kept_smiles.append(canonical)
            kept_input.append(text.strip())
            kept_rows.append(row)
            kept_targets.append(values)
            kept_ids.append(str(frame[id_column].iat[row]) if id_column else str(row))
    finally:
        rdkit_logger.handlers, rdkit_logger.propagate = handlers, propagate
    y = np.array(kept_targets, dtype=np.float64).reshape(len(kept_rows), len(targets))
    report.n_kept = len(kept_rows)
    report.n_missing_labels = int(np.isnan(y).sum())
    report.n_unlabelled_rows = int(np.isnan(y).all(axis=1).sum()) if targets else 0
    table = MoleculeTable(tuple(kept_smiles), tuple(kept_input), np.array(kept_rows, dtype=np.int64), y, tuple(targets),
                          tuple(kept_ids), source)  # fmt: skip
    return table, report


def _parse_targets(cells: Sequence[str], names: Sequence[str]) -> tuple[list[float], str | None]:
    """Target cells -> floats (empty -> NaN), or the reason the row cannot be used (not a number, or infinite)."""
    values = []
    for name, cell in zip(names, cells):
        cell = str(cell).strip()
        if cell == "" or cell.lower() in ("nan", "na"):
            values.append(float("nan"))
            continue
        try:
            value = float(cell)
        except ValueError:
            return [], f"target {name!r} is {_shown(cell)!r}, expected a number or an empty cell (missing label)"
        if not math.isfinite(value):  # 'inf', '-Infinity', or '1e999', which float() rounds to inf
            return [], f"target {name!r} is {_shown(cell)!r}, expected a finite number or an empty cell (missing label)"
        values.append(value)
    return values, None
