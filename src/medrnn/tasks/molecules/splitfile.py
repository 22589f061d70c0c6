"""A published split, reproduced: `data.split_file` names the data rows of train, validation and test.

Two forms: JSON `{"train": [rows], "val": [rows], "test": [rows]}` (also `valid`/`validation`, or chemprop's
`[{"train": ..., "val": ..., "test": ...}]` with one entry), or a CSV with columns `row` and `split` (values train,
val/valid/validation, test). Rows are 0-based data rows of the dataset's file, header excluded, as `medrnn` reports
them. A row the reader rejected (unparsable SMILES) is left out and counted; a row in two parts, a row past the end of
the file, or an unknown part name is refused naming the file and the row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.data.splits import Split
from medrnn.errors import ConfigError

PARTS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
MAX_BYTES = 64 << 20


def read_split_file(path: str | Path) -> dict[str, list[int]]:
    """{train, val, test: data rows} from a JSON or CSV split file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data.split_file {path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise ConfigError(f"data.split_file {path}: {path.stat().st_size:,} bytes; a split file of row numbers is far smaller")
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    if path.suffix.lower() == ".json":
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(raw, list) and len(raw) == 1:
            raw = raw[0]
        if not isinstance(raw, dict):
            raise ConfigError(f"data.split_file {path}: expected a JSON object {{\"train\": [...], \"val\": [...], \"test\": [...]}}")
        for name, rows in raw.items():
            part = part_name(path, name)
            if not isinstance(rows, list) or not all(isinstance(r, int) and not isinstance(r, bool) for r in rows):
                raise ConfigError(f"data.split_file {path}: field {name!r}: expected a list of integer row numbers")
            parts[part] += rows
        return parts
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"row", "split"} <= set(reader.fieldnames):
            raise ConfigError(f"data.split_file {path}: expected CSV columns 'row' and 'split', found {reader.fieldnames}")
        for line, rec in enumerate(reader, start=2):
            try:
                row = int(rec["row"])
            except (TypeError, ValueError):
                raise ConfigError(f"data.split_file {path}: line {line}: row {rec['row']!r} is not an integer") from None
            parts[part_name(path, rec["split"], line)].append(row)
    return parts


def part_name(path: Path, name: Any, line: int | None = None) -> str:
    """train / val / test from the names split files use."""
    part = PARTS.get(str(name).strip().lower())
    if part is None:
        where = f"line {line}: " if line else ""
        raise ConfigError(f"data.split_file {path}: {where}part {name!r}: expected one of train, val (valid, validation), test")
    return part


def split_from_file(path: str | Path, table_rows: np.ndarray, n_rows: int) -> tuple[Split, dict[str, Any]]:
    """The split of the file as positions in the table (`n_rows` data rows were read), and what was left out (rows the
    reader rejected, rows in no part)."""
    parts = read_split_file(path)
    position = {int(r): i for i, r in enumerate(np.asarray(table_rows))}
    seen: dict[int, str] = {}
    out, rejected = {}, {}
    for name, rows in parts.items():
        kept = []
        for r in rows:
            if r in seen:
                raise ConfigError(f"data.split_file {path}: row {r} is in both {seen[r]} and {name}")
            seen[r] = name
            if r in position:
                kept.append(position[r])
            elif not 0 <= r < n_rows:
                raise ConfigError(f"data.split_file {path}: row {r} is not a data row of the dataset (rows 0 to {n_rows - 1})")
        rejected[name] = len(rows) - len(kept)
        out[name] = np.array(sorted(kept), dtype=np.int64)
    unassigned = len(position) - sum(len(v) for v in out.values())
    info = {"file": str(path), "rows_rejected_by_reader": rejected, "rows_in_no_part": unassigned}
    return Split(out["train"], out["val"], out["test"]), info
