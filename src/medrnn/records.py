"""Frozen record types: what a reader returns, before any task or tensor exists."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Annotations:
    """Point annotations of a record: sample index and symbol (e.g. WFDB beat labels)."""

    sample: np.ndarray  # (n,) int64, sample index of each annotation
    symbol: tuple[str, ...]  # (n,) annotation symbols, e.g. "N", "V", "+"
    aux_note: tuple[str, ...] = ()  # (n,) free text such as rhythm changes "(AFIB"

    def __len__(self) -> int:
        return len(self.symbol)


@dataclass(frozen=True)
class SignalRecord:
    """A multi-lead physiological signal (ECG, EEG) with optional reference annotations.

    `signal` is float32 with shape (n_leads, n_samples), in physical units (`units`).
    """

    signal: np.ndarray
    sfreq_hz: float
    lead_names: tuple[str, ...]
    record_id: str
    patient_id: str
    units: tuple[str, ...] = ()
    annotations: Annotations | None = None
    source: str = ""  # path the record was read from, for error messages
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sfreq_hz

    def lead(self, name: str) -> np.ndarray:
        """Return one lead by name, or raise listing the leads the record has."""
        from medrnn.errors import InvalidRecordError

        if name not in self.lead_names:
            raise InvalidRecordError(
                f"{self.source or self.record_id}: lead {name!r} not found; the record has {list(self.lead_names)}"
            )
        return self.signal[self.lead_names.index(name)]


@dataclass(frozen=True)
class MoleculeTable:
    """Molecules read from a table: canonical SMILES, their source rows and (possibly missing) targets.

    `targets` is float64 with shape (n_molecules, n_targets); NaN marks a missing label (empty cell).
    """

    smiles: tuple[str, ...]  # canonical isomeric SMILES (RDKit)
    input_smiles: tuple[str, ...]  # as written in the file
    rows: np.ndarray  # (n,) int64, 0-based data row in the file (header excluded)
    targets: np.ndarray  # (n, n_targets) float64, NaN = missing
    target_names: tuple[str, ...]
    ids: tuple[str, ...] = ()  # from an id column when given, else the row numbers
    source: str = ""

    def __len__(self) -> int:
        return len(self.smiles)

    @staticmethod
    def concat(parts: list[MoleculeTable]) -> MoleculeTable:
        """The rows of every part, in order; targets kept only when every part has the same target columns."""
        same = all(p.target_names == parts[0].target_names for p in parts)
        n = sum(len(p) for p in parts)
        targets = np.concatenate([p.targets for p in parts]) if same else np.zeros((n, 0))
        ids = tuple(i for p in parts for i in p.ids) if all(p.ids for p in parts) else ()
        return MoleculeTable(tuple(s for p in parts for s in p.smiles), tuple(s for p in parts for s in p.input_smiles),
                             np.concatenate([p.rows for p in parts]), targets, parts[0].target_names if same else (), ids)  # fmt: skip

    def subset(self, index: np.ndarray) -> MoleculeTable:
        """Rows `index` (integer positions) as a new table."""
        index = np.asarray(index, dtype=np.int64)
        pick = lambda seq: tuple(seq[i] for i in index)  # noqa: E731
        return MoleculeTable(pick(self.smiles), pick(self.input_smiles), self.rows[index], self.targets[index],
                             self.target_names, pick(self.ids) if self.ids else (), self.source)  # fmt: skip


@dataclass(frozen=True)
class IcuStay:
    """One ICU stay as an irregular multivariate time series (PhysioNet 2012 style), before any binning.

    Each observation is one (time, variable, value) triple; variables are measured on their own clocks, so
    there is no common grid here. `static` holds the admission descriptors (Age, Gender, ...), NaN = missing.
    """

    record_id: str
    times_min: np.ndarray  # (n_obs,) float64, minutes since ICU admission
    variables: np.ndarray  # (n_obs,) int64, index into `variable_names`
    values: np.ndarray  # (n_obs,) float64, in the file's units
    variable_names: tuple[str, ...]
    static: dict[str, float]  # descriptor -> value, NaN where the file says -1
    outcome: dict[str, float] = field(default_factory=dict)  # e.g. {"In-hospital_death": 1.0, "SAPS-I": 17.0}
    source: str = ""

    def __len__(self) -> int:
        return int(self.times_min.shape[0])


@dataclass(frozen=True)
class Admission:
    """One hospital admission with the codes recorded for it; times are naive datetimes as in MIMIC."""

    hadm_id: str
    admit_time: np.datetime64
    discharge_time: np.datetime64
    death_time: np.datetime64 | None  # in-hospital death time, None when the patient left alive
    codes: tuple[str, ...]  # "<system>:<code>" e.g. "ICD9_DX:4139", "ICD10_PX:0DTJ4ZZ", "NDC:00338004904"


@dataclass(frozen=True)
class VisitSequence:
    """All admissions of one patient ordered by admission time (the unit of EHR splits is the patient)."""

    patient_id: str
    admissions: tuple[Admission, ...]
    date_of_death: np.datetime64 | None = None  # out-of-hospital death date when the source has it
    source: str = ""

    def __len__(self) -> int:
        return len(self.admissions)


@dataclass(frozen=True)
class NoteRecord:
    """One clinical document with its gold codes (e.g. a CodiEsp case report, a MIMIC discharge summary).

    `spans` are evidence annotations: (code, start, end) character offsets into `text` (CodiEsp-X); empty when
    the source has none.
    """

    note_id: str
    text: str
    language: str  # "es", "en"
    codes: tuple[str, ...] = ()  # normalised (upper case, with the dot), in file order, duplicates removed
    code_types: tuple[str, ...] = ()  # per code: "D" (diagnosis) or "P" (procedure)
    spans: tuple[tuple[str, int, int], ...] = ()
    split: str = ""  # "train", "dev", "test" when the source defines one
    patient_id: str = ""  # MIMIC: subject_id; CodiEsp: the article id (one document per case)
    source: str = ""

    def __len__(self) -> int:
        return len(self.text)


@dataclass(frozen=True)
class VolumeRecord:
    """A 3-D image read slice by slice (CT, MRI, a folder of slice crops), before any task or tensor exists.

    `slices` is float32 with shape (n_slices, height, width) in the source's units (Hounsfield units for CT DICOM,
    the file's grey levels for PNG/TIFF stacks and NIfTI); slice k follows slice k-1 along the slice normal.
    `spacing_mm` is (between slices, between rows, between columns). `mask` (same shape, uint8) holds an outline
    when the source has one (LIDC: how many radiologists outlined each pixel). `geometry` reports what a reader found
    about the acquisition (gantry tilt, uneven spacing, orientation) so that callers can refuse or note it.
    """

    slices: np.ndarray
    spacing_mm: tuple[float, float, float]
    modality: str  # "CT", "MR", "" when the file does not say
    volume_id: str
    patient_id: str
    series_uid: str = ""
    mask: np.ndarray | None = None  # (n_slices, height, width) uint8
    slice_positions_mm: np.ndarray | None = None  # (n_slices,) float64, position along the slice normal
    geometry: dict[str, object] = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return int(self.slices.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_slices, height, width)."""
        return tuple(int(s) for s in self.slices.shape)  # type: ignore[return-value]
