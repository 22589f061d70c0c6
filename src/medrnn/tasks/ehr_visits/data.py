"""MIMIC tables -> patients -> candidate samples of the prediction target, and the split by patient.

Samples are built per patient, in patient order, before any split: a sample's features never depend on other
patients, and the next_visit_diagnosis labels (a label set fitted on training patients) are attached later by the
pipeline from each sample's `target_codes`. The split is drawn over *all* patients (also those without a sample),
so it is the same split whatever the target.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from medrnn import paths
from medrnn.data.splits import Split, patient_split
from medrnn.errors import ConfigError
from medrnn.io.mimic import read_mimic
from medrnn.records import VisitSequence
from medrnn.tasks.ehr_visits.config import VisitDataConfig
from medrnn.tasks.ehr_visits.targets import EhrSample, EhrSampleSet, make_target


@dataclass
class VisitData:
    """Every patient of a run and the samples built from them, in patient order.

    `owner[i]` is the position (in `patients`) of the patient of sample i; `dropped[p]` counts patient p's candidate
    samples that were not made, by reason. `patient_parts` is the patient-level split (positions into `patients`),
    set by `split_patients`: the vocabulary and label set are fitted on every training patient, also those that
    give no sample.
    """

    patients: list[VisitSequence]
    samples: list[EhrSample]
    owner: np.ndarray  # (n_samples,) int64
    dropped: list[Counter[str]]
    patient_parts: dict[str, np.ndarray] | None = field(default=None)

    def subset(self, index: np.ndarray) -> EhrSampleSet:
        """The samples at positions `index` with the dropped counts of their patients' parts unknown (empty)."""
        return EhrSampleSet([self.samples[i] for i in np.asarray(index, dtype=np.int64)])

    def train_patients(self, split: Split) -> list[VisitSequence]:
        """The training patients of `split`: the patient-level part when `split` came from `split_patients`,
        else the patients of the training samples."""
        with_samples = sorted(set(self.owner[split.train].tolist()))
        parts = self.patient_parts
        if parts is not None and set(with_samples) <= set(parts["train"].tolist()):
            return [self.patients[i] for i in parts["train"]]
        return [self.patients[i] for i in with_samples]


def build_samples(patients: list[VisitSequence], config: VisitDataConfig, progress: bool = False) -> VisitData:
    """Candidate samples of the target `config.task` for every patient, in patient order (no label set fitted)."""
    target = make_target(config.task, config.top_k_labels)
    samples: list[EhrSample] = []
    owner: list[int] = []
    dropped: list[Counter[str]] = []
    for p, patient in enumerate(tqdm(patients, desc="building samples", disable=not progress, leave=False)):
        made, why = target.candidates(patient)
        samples += made
        owner += [p] * len(made)
        dropped.append(why)
    return VisitData(patients, samples, np.asarray(owner, dtype=np.int64), dropped)


def load_visits(config: VisitDataConfig, progress: bool = False) -> tuple[VisitData, dict[str, Any]]:
    """Read the MIMIC folder of `config.data` and build the target's samples; returns them and the read report."""
    patients, report = read_mimic(paths.resolve_dataset(config.data), code_sources=tuple(config.code_sources), progress=progress)
    return build_samples(patients, config, progress), report.to_dict()


def split_patients(data: VisitData, config: VisitDataConfig, seed: int) -> tuple[Split, dict[str, Any]]:
    """Split the patients (all of them) with `patient_split`, then take each part's samples in patient order.

    Returns the sample split and what metrics.json records: patients per part and dropped candidates per part.
    """
    by_patient = patient_split([p.patient_id for p in data.patients], config.split_sizes, seed=seed)
    data.patient_parts = by_patient._asdict()
    in_part = np.zeros(len(data.patients), dtype=np.int64)
    for k, name in enumerate(by_patient._fields):
        in_part[getattr(by_patient, name)] = k
    sample_part = in_part[data.owner]
    split = Split(*(np.flatnonzero(sample_part == k) for k in range(3)))
    dropped = {}
    for name in by_patient._fields:
        total: Counter[str] = Counter()
        for p in getattr(by_patient, name):
            total.update(data.dropped[p])
        dropped[name] = dict(total)
        if len(getattr(split, name)) == 0:
            n_patients = len(getattr(by_patient, name))
            raise ConfigError(f"{config.task}: no {name} samples from {n_patients} patients (dropped: {dropped[name]}); "
                              "too few patients with two or more admissions for this split")  # fmt: skip
    info = {"patients": {name: int(len(index)) for name, index in by_patient._asdict().items()},
            "samples": {name: int(len(index)) for name, index in split._asdict().items()}, "dropped": dropped}  # fmt: skip
    return split, info
