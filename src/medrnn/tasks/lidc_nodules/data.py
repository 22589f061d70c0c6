"""LIDC nodules of a run: reading (every nodule not read is counted by id), labels from an explicit mapping, grey
levels in [0, 1], and the split by patient (all nodules of a patient on one side)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medrnn import paths
from medrnn.data.splits import Split, patient_split
from medrnn.errors import ConfigError, InvalidRecordError, MedrnnError
from medrnn.io.dicom import apply_window
from medrnn.io.lidc import NoduleRow, read_lidc_nodule, read_lidc_table
from medrnn.records import VolumeRecord
from medrnn.tasks.base import TaskData
from medrnn.tasks.lidc_nodules.config import LidcDataConfig, LidcRunConfig

log = logging.getLogger(__name__)
DATASET = "lidc-nodules"
NODULE_LABELS = ("benign", "indeterminate", "malignant")  # nodules.csv `label`: median rating < 3, = 3, > 3
# label scheme -> (class names, nodules.csv label -> class index); labels not in the mapping are left out and counted.
# rating: a regression on the mean of the radiologists' malignancy ratings (1-5), every nodule kept; the classes are
# the nodules.csv labels, for counts and the benign-vs-malignant AUROC of the predicted rating
RATING = "rating"
LABEL_SCHEMES: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    "binary": (("benign", "malignant"), {"benign": 0, "malignant": 1}),
    "three_class": (NODULE_LABELS, {"benign": 0, "indeterminate": 1, "malignant": 2}),
    RATING: (NODULE_LABELS, {"benign": 0, "indeterminate": 1, "malignant": 2}),
}


@dataclass
class NoduleSet:
    """Nodules as grey-level slice stacks in [0, 1] (each (n_slices, H, W) float32), their outlines and labels.

    `y` is the class index as float, or the mean malignancy rating (labels=rating); NaN where unknown (a user's input).
    `masks[i]` is the radiologists' vote map (uint8, 0-4) or None; `labels[i]` the nodules.csv label ("" when unknown).
    """

    ids: list[str]
    patients: list[str]
    images: list[np.ndarray]
    masks: list[np.ndarray | None]
    y: np.ndarray  # (n,) float64
    spacing_mm: list[tuple[float, float, float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> NoduleSet:
        """The nodules at positions `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        pick = lambda seq: [seq[i] for i in index]  # noqa: E731
        return NoduleSet(pick(self.ids), pick(self.patients), pick(self.images), pick(self.masks), self.y[index],
                         pick(self.spacing_mm) if self.spacing_mm else [], pick(self.labels) if self.labels else [])  # fmt: skip

    @staticmethod
    def concat(parts: list[NoduleSet]) -> NoduleSet:
        """The nodules of every part, in order."""
        spacing = [s for p in parts for s in p.spacing_mm] if all(p.spacing_mm for p in parts) else []
        labels = [label for p in parts for label in p.labels] if all(p.labels for p in parts) else []
        y = np.concatenate([p.y for p in parts]) if parts else np.zeros(0)
        return NoduleSet([i for p in parts for i in p.ids], [q for p in parts for q in p.patients], [a for p in parts for a in p.images],
                         [m for p in parts for m in p.masks], y, spacing, labels)  # fmt: skip

    def strata(self) -> np.ndarray:
        """Per nodule, its nodules.csv label as 0 benign, 1 indeterminate, 2 malignant (-1 unknown): the split's strata."""
        return np.array([NODULE_LABELS.index(x) if x in NODULE_LABELS else -1 for x in self.labels], dtype=np.int64)


def grey_levels(record: VolumeRecord, window: str) -> tuple[np.ndarray, str]:
    """The record's slices as grey levels in [0, 1], and how: 8-bit stacks / 255 (as the LIDC crops), HU through a window."""
    if "slice_numbers" in record.geometry:  # a PNG/TIFF stack: 8-bit grey levels, as the training crops
        top = float(record.slices.max()) if record.slices.size else 0.0
        if record.slices.min() < 0 or top > 255:
            raise InvalidRecordError(f"{record.source}: slice values {record.slices.min():g}..{top:g}; the model reads 8-bit grey "
                                     "levels 0..255 (window the CT to 8 bits first, or give the DICOM series)")  # fmt: skip
        return record.slices / np.float32(255.0), "8-bit grey levels / 255"
    return apply_window(record.slices, window), f"{window} window on the stored values (HU for CT)"


def data_folder(dataset: str) -> Path:
    """The folder a config's `data.dataset` names: an existing folder, else the catalogue dataset under the data root."""
    path = Path(dataset).expanduser()
    if path.is_dir():
        return path
    if dataset == DATASET:
        return paths.dataset_dir(DATASET)
    raise ConfigError(f"data.dataset {dataset!r}: no such folder and not {DATASET!r} (a folder with nodules.csv and "
                      "<patient>/nodule-<k>/images/ slices)")  # fmt: skip


def chosen_rows(rows: list[NoduleRow], config: LidcDataConfig) -> tuple[list[NoduleRow], dict[str, int]]:
    """The rows of the configured patients whose label the scheme uses, and counts of those left out by reason."""
    patients = sorted({r.patient_id for r in rows})
    if config.max_patients is not None:
        keep = set(patients[: config.max_patients])
        rows = [r for r in rows if r.patient_id in keep]
    mapping = LABEL_SCHEMES[config.labels][1]
    left_out: dict[str, int] = {}
    for r in rows:
        if r.label not in mapping:
            left_out[r.label] = left_out.get(r.label, 0) + 1
    return [r for r in rows if r.label in mapping], left_out


def load_nodules(config: LidcDataConfig) -> TaskData:
    """Read the configured nodules; a nodule that cannot be read is a failure keyed by its id, the rest go on."""
    root = data_folder(config.dataset)
    names, mapping = LABEL_SCHEMES[config.labels]
    rows, left_out = chosen_rows(read_lidc_table(root), config)
    ids, patients, images, masks, labels, spacing, names_read = [], [], [], [], [], [], []
    failures: dict[str, str] = {}
    for row in rows:
        try:
            record = read_lidc_nodule(root, row)
        except MedrnnError as err:
            failures[row.nodule_id] = str(err)
            continue
        ids.append(row.nodule_id)
        patients.append(row.patient_id)
        images.append(grey_levels(record, config.window)[0])
        masks.append(record.mask)
        labels.append(float(np.mean(row.malignancy_ratings)) if config.labels == RATING else mapping[row.label])
        spacing.append(record.spacing_mm)
        names_read.append(row.label)
    if failures:
        log.warning("%d nodules not read (ids and reasons: metrics.json data.failures)", len(failures))
    if not ids:
        raise ConfigError(f"{root}: no nodule of the chosen patients and labels could be read ({len(failures)} failed)")
    y = np.asarray(labels, dtype=np.float64)
    info: dict[str, Any] = {
        "dataset": config.dataset, "labels": config.labels, "classes": list(names), "nodules": len(ids),
        "patients": len(set(patients)), "left_out_by_label": left_out, "failures": failures,
        "class_counts": {n: int(sum(label == n for label in names_read)) for n in names},
        "slices_per_nodule": {"median": float(np.median([len(a) for a in images])), "max": int(max(len(a) for a in images))},
        "caveats": ["8-bit windowed crops, not Hounsfield units", "labels are radiologists' suspicion, not pathology"],
    }  # fmt: skip
    if config.labels == RATING:
        info["target"] = {"name": "malignancy_rating", "what": "mean of the radiologists' malignancy ratings (1-5) per nodule",
                          "mean": round(float(y.mean()), 4), "sd": round(float(y.std()), 4)}  # fmt: skip
    samples = NoduleSet(ids, patients, images, masks, y, spacing, names_read)
    return TaskData(samples, np.array(patients, dtype=str), ids, info)


def make_lidc_split(data: TaskData, config: LidcRunConfig) -> Split:
    """Patients split train/val/test, stratified by each patient's most suspicious nodule (seeded)."""
    return patient_split(list(data.units), config.data.split_sizes, seed=config.train.seed, stratify=data.samples.strata())


__all__ = ["DATASET", "LABEL_SCHEMES", "NODULE_LABELS", "RATING", "NoduleSet", "data_folder", "grey_levels", "load_nodules",
           "make_lidc_split"]
