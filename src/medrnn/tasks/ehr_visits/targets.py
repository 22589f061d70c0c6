"""Visit-sequence tasks over VisitSequence (MIMIC admissions): next-admission mortality, 30-day readmission, next-visit diagnoses.

Each target turns one patient into samples, each with a prediction time. A sample's features are the codes and times
of the admissions that come before the labelled one *and* were discharged at or before the prediction time (codes
are assigned at discharge), so nothing recorded after the prediction time reaches the features; the labels may look
ahead. Split unit: the patient (see `medrnn.data.splits.patient_split`); fit vocabularies on training patients only.

These are the prediction targets of the `ehr_visits` task (`data.task` picks one from `TARGETS`); they are not
registered in `TASKS`, which holds data worlds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from medrnn.errors import ConfigError, NotFittedError
from medrnn.records import Admission, VisitSequence

DIAGNOSIS_SYSTEMS: tuple[str, ...] = ("ICD9_DX", "ICD10_DX")
INPUT_SCHEMA: dict[str, str] = {
    "visits": "tuple of code tuples, one per history admission, oldest first",
    "admit_times": "datetime64 per history admission",
    "discharge_times": "datetime64 per history admission",
}


@dataclass(frozen=True)
class EhrSample:
    """One prediction: the history visits known at `prediction_time` and the label of admission `hadm_id`."""

    patient_id: str
    hadm_id: str  # the admission the label is about (the index admission for readmission)
    prediction_time: np.datetime64
    visits: tuple[tuple[str, ...], ...]  # codes of each history admission, oldest first
    admit_times: tuple[np.datetime64, ...]
    discharge_times: tuple[np.datetime64, ...]
    label: Any  # int 0/1, float32 multi-hot (num_labels,), or None before labelling (candidates, new patients)
    target_codes: tuple[str, ...] = ()  # next_visit_diagnosis: the diagnosis codes of admission hadm_id

    @property
    def sample_id(self) -> str:
        return f"{self.patient_id}/{self.hadm_id}"


@dataclass
class EhrSampleSet:
    """Samples of many patients, with the count of every candidate sample that was not made, by reason."""

    samples: list[EhrSample]
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    @staticmethod
    def concat(parts: list[EhrSampleSet]) -> EhrSampleSet:
        """The samples of every part, in order, and their dropped counts summed."""
        dropped: Counter[str] = Counter()
        for p in parts:
            dropped.update(p.dropped)
        return EhrSampleSet([s for p in parts for s in p.samples], dict(dropped))

    @property
    def patient_ids(self) -> list[str]:
        return [s.patient_id for s in self.samples]

    def labels(self) -> np.ndarray:
        """(n,) int64 for binary tasks, (n, num_labels) float32 for multi-label ones."""
        return np.stack([np.asarray(s.label) for s in self.samples]) if self.samples else np.zeros(0, dtype=np.int64)


def history(patient: VisitSequence, before: int, at: np.datetime64) -> list[Admission]:
    """Admissions with index < `before` that were discharged at or before `at` (the features a sample may use)."""
    return [a for a in patient.admissions[:before] if a.discharge_time <= at]


def _sample(patient: VisitSequence, target: Admission, at: np.datetime64, past: list[Admission], label: Any,
            target_codes: tuple[str, ...] = ()) -> EhrSample:  # fmt: skip
    return EhrSample(patient.patient_id, target.hadm_id, at, tuple(a.codes for a in past),
                     tuple(a.admit_time for a in past), tuple(a.discharge_time for a in past), label, target_codes)  # fmt: skip


def latest_sample(patient: VisitSequence, at: np.datetime64 | None = None) -> EhrSample:
    """The unlabelled sample of a new patient at `at` (default: the discharge of its latest admission) from the
    admissions discharged by then; `hadm_id` is the latest such admission."""
    at = patient.admissions[-1].discharge_time if at is None else at
    past = [a for a in patient.admissions if a.discharge_time <= at]
    if not past:
        raise ConfigError(f"patient {patient.patient_id}: no admission discharged at or before {at}; nothing to predict from")
    return _sample(patient, past[-1], at, past, None)


class EhrTask:
    """Base: a callable over one patient with declared inputs, outputs, prediction point and split unit."""

    name: ClassVar[str] = ""
    prediction_point: ClassVar[str] = ""  # "admission" or "discharge"
    input_schema: ClassVar[dict[str, str]] = INPUT_SCHEMA
    output_schema: ClassVar[dict[str, str]] = {}
    split_unit: ClassVar[str] = "patient"

    def samples(self, patient: VisitSequence) -> tuple[list[EhrSample], Counter[str]]:
        """Samples of one patient and the count of candidates dropped, by reason."""
        raise NotImplementedError

    def candidates(self, patient: VisitSequence) -> tuple[list[EhrSample], Counter[str]]:
        """Samples before any fitted labelling (what `samples` gives for targets that need no fit)."""
        return self.samples(patient)

    def __call__(self, patient: VisitSequence) -> list[EhrSample]:
        return self.samples(patient)[0]

    def build(self, patients: Iterable[VisitSequence]) -> EhrSampleSet:
        """Samples of every patient, dropped candidates counted by reason."""
        out: list[EhrSample] = []
        dropped: Counter[str] = Counter()
        for patient in patients:
            samples, why = self.samples(patient)
            out += samples
            dropped.update(why)
        return EhrSampleSet(out, dict(dropped))


class NextAdmissionMortalityTask(EhrTask):
    """At admission i >= 1 (its admit time), from admissions 0..i-1: does the patient die in admission i?"""

    name = "next_admission_mortality"
    prediction_point = "admission"
    output_schema = {"label": "binary: 1 when admission i ends in in-hospital death (death_time set)"}

    def samples(self, patient: VisitSequence) -> tuple[list[EhrSample], Counter[str]]:
        out, dropped = [], Counter[str]()
        for i, target in enumerate(patient.admissions[1:], start=1):
            past = history(patient, i, target.admit_time)
            if not past:  # every earlier admission overlaps this one: nothing known yet at admit time
                dropped["no earlier admission discharged before the admit time"] += 1
                continue
            out.append(_sample(patient, target, target.admit_time, past, int(target.death_time is not None)))
        return out, dropped


class ReadmissionTask(EhrTask):
    """At the discharge of each admission i (i >= 0), from admissions 0..i: is the patient readmitted within the window?

    Label 1 when the next admission starts at most `window_days` after this discharge. Excluded and counted: index
    admissions that end in death (no readmission possible); those whose next admission began before this discharge
    (overlapping stays: the label would be known at prediction time); and, with `exclude_death_in_window`, patients
    who die out of hospital (`date_of_death`) within the window without a readmission, whose 0 would be censoring.
    A last admission with no later one and no death is labelled 0: MIMIC records no end of follow-up.
    """

    name = "readmission_30d"
    prediction_point = "discharge"
    output_schema = {"label": "binary: 1 when the next admission starts <= window_days after this discharge"}

    def __init__(self, window_days: float = 30.0, exclude_death_in_window: bool = True) -> None:
        if window_days <= 0:
            raise ConfigError(f"window_days={window_days}; expected a positive number of days")
        self.window_days = window_days
        self.exclude_death_in_window = exclude_death_in_window

    def samples(self, patient: VisitSequence) -> tuple[list[EhrSample], Counter[str]]:
        window = np.timedelta64(round(self.window_days * 86400), "s")
        out, dropped = [], Counter[str]()
        for i, index in enumerate(patient.admissions):
            at = index.discharge_time
            if index.death_time is not None:
                dropped["died in the index admission"] += 1
                continue
            later = patient.admissions[i + 1] if i + 1 < len(patient.admissions) else None
            if later is not None and later.admit_time < at:
                dropped["next admission began before this discharge"] += 1
                continue
            readmitted = later is not None and later.admit_time - at <= window
            dod = patient.date_of_death
            if not readmitted and self.exclude_death_in_window and dod is not None and dod - at <= window:
                dropped["died out of hospital within the window, not readmitted"] += 1
                continue
            out.append(_sample(patient, index, at, history(patient, i + 1, at), int(readmitted)))
        return out, dropped


class NextVisitDiagnosisTask(EhrTask):
    """At the discharge of admission i-1, from admissions 0..i-1: multi-hot of admission i's diagnosis codes.

    The label vocabulary is the `k` diagnosis codes (systems `systems`) found in the most admissions of the training
    patients (`fit`); rarer codes of admission i are not labels. Dropped and counted: admissions without any diagnosis
    code, and those admitted before admission i-1's discharge (overlapping stays, already under way at prediction time).
    """

    name = "next_visit_diagnosis"
    prediction_point = "discharge"
    output_schema = {"label": "float32 multi-hot (num_labels,) over label_codes_"}

    def __init__(self, k: int = 100, systems: Sequence[str] = DIAGNOSIS_SYSTEMS) -> None:
        self.k = k
        self.systems = tuple(systems)

    def _is_diagnosis(self, code: str) -> bool:
        return code.split(":", 1)[0] in self.systems

    def fit(self, train_patients: Iterable[VisitSequence]) -> NextVisitDiagnosisTask:
        """Choose the label codes: the top `k` by number of training admissions (ties by code)."""
        if self.k < 1:
            raise ConfigError(f"k={self.k}; expected the number of label codes, an integer >= 1")
        counts: Counter[str] = Counter()
        for patient in train_patients:
            for admission in patient.admissions:
                counts.update({c for c in admission.codes if self._is_diagnosis(c)})
        if not counts:
            raise ConfigError(f"no diagnosis codes of systems {list(self.systems)} in the training patients")
        self.label_codes_ = sorted(counts, key=lambda c: (-counts[c], c))[: self.k]
        self._index = {c: i for i, c in enumerate(self.label_codes_)}
        return self

    @property
    def num_labels(self) -> int:
        self._check_fitted()
        return len(self.label_codes_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "label_codes_"):
            raise NotFittedError("NextVisitDiagnosisTask has no label codes; call fit(train_patients) or from_state_dict first")

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-ready state to store in a model artifact."""
        self._check_fitted()
        return {"k": self.k, "systems": list(self.systems), "label_codes": list(self.label_codes_)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> NextVisitDiagnosisTask:
        """Rebuild a fitted task from `state_dict()` output."""
        task = cls(int(state["k"]), state["systems"])
        task.label_codes_ = list(state["label_codes"])
        task._index = {c: i for i, c in enumerate(task.label_codes_)}
        return task

    def candidates(self, patient: VisitSequence) -> tuple[list[EhrSample], Counter[str]]:
        """Samples with `target_codes` (the next admission's diagnoses) and no label yet: needs no fitted label set."""
        out, dropped = [], Counter[str]()
        for i, target in enumerate(patient.admissions[1:], start=1):
            diagnoses = tuple(c for c in target.codes if self._is_diagnosis(c))
            if not diagnoses:
                dropped["next admission has no diagnosis code"] += 1
                continue
            at = patient.admissions[i - 1].discharge_time
            if target.admit_time < at:
                dropped["next admission began before the previous discharge"] += 1
                continue
            out.append(_sample(patient, target, at, history(patient, i, at), None, diagnoses))
        return out, dropped

    def label(self, target_codes: Sequence[str]) -> np.ndarray:
        """float32 multi-hot (num_labels,) of the label codes among `target_codes` (other codes are no label)."""
        self._check_fitted()
        label = np.zeros(len(self.label_codes_), dtype=np.float32)
        label[[self._index[c] for c in target_codes if c in self._index]] = 1.0
        return label

    def samples(self, patient: VisitSequence) -> tuple[list[EhrSample], Counter[str]]:
        self._check_fitted()
        out, dropped = self.candidates(patient)
        return [replace(s, label=self.label(s.target_codes)) for s in out], dropped


TARGETS: dict[str, type[EhrTask]] = {cls.name: cls for cls in (NextAdmissionMortalityTask, ReadmissionTask, NextVisitDiagnosisTask)}


def make_target(name: str, top_k_labels: int = 100) -> EhrTask:
    """The (unfitted) target `name` of `TARGETS`; an unknown name lists the valid ones."""
    if name not in TARGETS:
        raise ConfigError(f"unknown prediction target {name!r}; valid: {', '.join(TARGETS)}")
    return NextVisitDiagnosisTask(k=top_k_labels) if name == NextVisitDiagnosisTask.name else TARGETS[name]()
