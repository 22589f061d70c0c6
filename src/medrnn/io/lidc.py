"""The LIDC-IDRI nodule folder (`lidc-nodules/`, see its SOURCE.md): `nodules.csv` and one slice stack per nodule
(`<patient>/nodule-<k>/images/slice-<n>.png` with `mask/slice-<n>.png`, the radiologists' vote map 0-4). No torch."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from medrnn.errors import InvalidRecordError
from medrnn.io.files import regular_file
from medrnn.io.slices import read_slice_stack
from medrnn.records import VolumeRecord

TABLE = "nodules.csv"
COLUMNS = ("patient_id", "nodule", "slice_thickness_mm", "pixel_spacing_mm", "n_slices", "malignancy_ratings",
           "malignancy_median", "label", "diameter_mm_mean", "n_annotations")  # fmt: skip
LABELS = ("benign", "indeterminate", "malignant")


@dataclass(frozen=True)
class NoduleRow:
    """One row of nodules.csv: which nodule, the scan's spacing, the radiologists' malignancy ratings and the label."""

    patient_id: str
    nodule: int
    slice_thickness_mm: float
    pixel_spacing_mm: float
    n_slices: int
    malignancy_ratings: tuple[int, ...]
    malignancy_median: float
    label: str  # benign (median < 3), indeterminate (= 3), malignant (> 3)
    diameter_mm: float
    n_annotations: int

    @property
    def nodule_id(self) -> str:
        """`LIDC-IDRI-0001/nodule-0`."""
        return f"{self.patient_id}/nodule-{self.nodule}"


def _row(raw: dict[str, str], line: int, path: Path) -> NoduleRow:
    try:
        row = NoduleRow(raw["patient_id"].strip(), int(raw["nodule"]), float(raw["slice_thickness_mm"]), float(raw["pixel_spacing_mm"]),
                        int(raw["n_slices"]), tuple(int(r) for r in raw["malignancy_ratings"].split()), float(raw["malignancy_median"]),
                        raw["label"].strip(), float(raw["diameter_mm_mean"]), int(raw["n_annotations"]))  # fmt: skip
    except (TypeError, ValueError, AttributeError) as err:
        raise InvalidRecordError(f"{path}: line {line}: a field is not a number where one is expected ({err})") from err
    if row.label not in LABELS:
        raise InvalidRecordError(f"{path}: line {line}: label {row.label!r}; expected one of {', '.join(LABELS)}")
    if not row.patient_id or row.nodule < 0 or row.n_slices < 1 or row.slice_thickness_mm <= 0 or row.pixel_spacing_mm <= 0:
        raise InvalidRecordError(f"{path}: line {line}: patient_id empty, or nodule, n_slices or a spacing not positive")
    if not row.malignancy_ratings or not all(1 <= r <= 5 for r in row.malignancy_ratings):
        raise InvalidRecordError(f"{path}: line {line}: malignancy_ratings {raw['malignancy_ratings']!r}; expected one to four "
                                 "space-separated ratings from 1 to 5")  # fmt: skip
    return row


def read_lidc_table(root: str | os.PathLike[str]) -> list[NoduleRow]:
    """Every row of `root/nodules.csv`, checked: the columns, numbers where numbers belong, a known label."""
    path = Path(root).expanduser() / TABLE
    regular_file(path, "nodule table", "expected the lidc-nodules folder, see its SOURCE.md")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidRecordError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
            rows = [_row(raw, k + 2, path) for k, raw in enumerate(reader)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InvalidRecordError(f"{path}: unreadable table ({type(err).__name__}: {err})") from err
    seen: set[str] = set()
    for row in rows:
        if row.nodule_id in seen:
            raise InvalidRecordError(f"{path}: nodule {row.nodule_id} listed twice")
        seen.add(row.nodule_id)
    return rows


def read_lidc_nodule(root: str | os.PathLike[str], row: NoduleRow) -> VolumeRecord:
    """The slices and vote map of one nodule; a slice count that differs from the table's is an error naming both."""
    folder = Path(root).expanduser() / row.patient_id / f"nodule-{row.nodule}"
    spacing = (row.slice_thickness_mm, row.pixel_spacing_mm, row.pixel_spacing_mm)
    record = read_slice_stack(folder, volume_id=row.nodule_id, patient_id=row.patient_id, spacing_mm=spacing, modality="CT")
    if len(record) != row.n_slices:
        raise InvalidRecordError(f"{folder}: {len(record)} slice files, nodules.csv says n_slices={row.n_slices}")
    if record.mask is None:
        raise InvalidRecordError(f"{folder}: no mask/ folder; every LIDC nodule has the radiologists' vote map")
    return record


__all__ = ["LABELS", "NoduleRow", "read_lidc_nodule", "read_lidc_table"]
