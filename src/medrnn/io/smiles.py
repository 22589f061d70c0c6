"""SMILES tables (CSV, .csv.gz) -> MoleculeTable, with every row RDKit cannot parse reported, never dropped silently."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import InvalidRecordError
from medrnn.records import MoleculeTable

SMILES_COLUMN_NAMES = ("smiles", "canonical_smiles", "smi", "mol")  # tried in this order, case-insensitive


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


def parse_smiles(smiles: str, capture: _RDKitLogCapture | None = None) -> tuple[Any, str | None]:
    """(RDKit Mol, None) for a valid SMILES, else (None, RDKit's reason)."""
    from rdkit import Chem

    if not isinstance(smiles, str) or not smiles.strip():
        return None, "empty SMILES"
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
    lowered = {c.lower(): c for c in columns}
    for name in SMILES_COLUMN_NAMES:
        if name in lowered:
            return lowered[name]
    raise InvalidRecordError(
        f"{source}: no SMILES column found (looked for {', '.join(SMILES_COLUMN_NAMES)}); columns are {list(columns)}; "
        "name it with --smiles-column"
    )


def read_smiles_csv(
    path: str | Path,
    targets: Sequence[str] | None = None,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> tuple[MoleculeTable, ReadReport]:
    """Read a CSV (or .csv.gz) of SMILES with zero or more numeric target columns.

    Empty target cells become NaN (missing labels). Rows whose SMILES RDKit cannot parse, or whose target
    is not a number, are returned in the report with row number, text and reason; the rest are kept.
    """
    import pandas as pd
    from rdkit import RDLogger, rdBase

    path = Path(path)
    if not path.exists():
        raise InvalidRecordError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise InvalidRecordError(f"{path}: not a readable CSV table ({err})") from err
    source = str(path)
    column = smiles_column or find_smiles_column(list(frame.columns), source)
    targets = list(targets or [])
    for name, role in [(column, "SMILES"), *((t, "target") for t in targets), *([(id_column, "id")] if id_column else [])]:
        if name not in frame.columns:
            raise InvalidRecordError(f"{source}: {role} column {name!r} not found; columns are {list(frame.columns)}")

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
            if reason is not None:
                report.rejected.append(RejectedRow(row, str(text), reason))
                continue
            kept_smiles.append(canonical_smiles(mol))
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
    """Target cells -> floats (empty -> NaN), or the reason the row cannot be used."""
    values = []
    for name, cell in zip(names, cells):
        cell = str(cell).strip()
        if cell == "" or cell.lower() in ("nan", "na"):
            values.append(float("nan"))
            continue
        try:
            values.append(float(cell))
        except ValueError:
            return [], f"target {name!r} is {cell!r}, expected a number or an empty cell (missing label)"
    return values, None
