"""New patients for `medrnn predict`: a JSON file of one patient (or a list of them) or a MIMIC folder (every patient).

A patient is predicted at the discharge of its latest admission (or at its `prediction_time`) from the admissions
discharged by then, the history a model trained on this target sees at that point. JSON layout:

    {"patient_id": "p1", "date_of_death": null, "prediction_time": null,
     "admissions": [{"hadm_id": "h1", "admit_time": "2180-05-06 22:23:00", "discharge_time": "2180-05-07 17:15:00",
                     "death_time": null, "codes": ["ICD10_DX:I10", "ICD10_PX:0DTJ4ZZ", "NDC:00338004904"]}]}

Times are ISO dates or date-times; codes are "<system>:<code>" with the systems of `medrnn.io.mimic.SYSTEMS`. Codes of
systems the model was not trained on (its code sources) are left out and reported; codes unseen in training map to
<unk>, as they did in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.io.mimic import SOURCE_SYSTEMS, SYSTEMS, read_mimic
from medrnn.records import Admission, VisitSequence
from medrnn.tasks.ehr_visits.targets import EhrSample, EhrSampleSet, latest_sample

TOP_K = 10  # next_visit_diagnosis: label codes written per patient, most probable first
PATIENT_KEYS = {"patient_id", "admissions", "date_of_death", "prediction_time"}
ADMISSION_KEYS = {"hadm_id", "admit_time", "discharge_time", "death_time", "codes"}


@dataclass
class PatientInputs(EhrSampleSet):
    """One unlabelled sample per patient of one input, and how many of its label codes to write."""

    top_k: int = TOP_K
    read_report: dict[str, Any] | None = None  # a MIMIC folder's MimicReport: what the reader skipped or excluded


def read_patients(source: str, code_sources: list[str], options: dict[str, Any]) -> tuple[PatientInputs, list[dict[str, Any]]]:
    """A JSON patient file or a MIMIC folder -> one sample per patient, and the problems (codes or patients left out)."""
    path = Path(source).expanduser()
    top_k = _top_k(options)
    if path.is_dir():
        return _read_folder(path, code_sources, top_k)
    if not path.is_file():
        raise InvalidRecordError(f"{source}: no such file or folder; expected a JSON patient file or a MIMIC folder")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidRecordError(f'{path}: not a JSON file ({err}); expected a patient object {{"patient_id", "admissions"}}') from err
    entries = raw if isinstance(raw, list) else [raw]
    if not entries:
        raise InvalidRecordError(f"{path}: an empty list; expected one patient object or a list of them")
    allowed = {s for src in code_sources for s in SOURCE_SYSTEMS.get(src, ())}
    samples, problems = [], []
    for n, entry in enumerate(entries):
        where = f"{path}: " + (f"[{n}]." if isinstance(raw, list) else "")
        patient, left_out = parse_patient(entry, where, allowed)
        problems += left_out
        samples.append(_predict_point(patient, entry.get("prediction_time"), where))
    return PatientInputs(samples, top_k=top_k), problems


def parse_patient(entry: Any, where: str, allowed_systems: set[str]) -> tuple[VisitSequence, list[dict[str, Any]]]:
    """One patient object -> VisitSequence (admissions by admit time, then hadm_id), and the codes left out."""
    label = where.rstrip(". :")
    if not isinstance(entry, dict):
        raise InvalidRecordError(f"{label}: a {type(entry).__name__}; expected a patient object with patient_id and admissions")
    _check_keys(entry, PATIENT_KEYS, {"patient_id", "admissions"}, label)
    patient_id = _identifier(entry["patient_id"], f"{where}patient_id")
    admissions_raw = entry["admissions"]
    if not isinstance(admissions_raw, list) or not admissions_raw:
        raise InvalidRecordError(f"{where}admissions: expected a non-empty list of admission objects, got {admissions_raw!r:.60}")
    admissions, left_out = [], []
    for i, adm in enumerate(admissions_raw):
        field = f"{where}admissions[{i}]"
        if not isinstance(adm, dict):
            raise InvalidRecordError(f"{field}: a {type(adm).__name__}; expected an object with {sorted(ADMISSION_KEYS)}")
        _check_keys(adm, ADMISSION_KEYS, ADMISSION_KEYS - {"death_time"}, field)
        admit = _time(adm["admit_time"], f"{field}.admit_time")
        discharge = _time(adm["discharge_time"], f"{field}.discharge_time")
        if discharge < admit:
            raise InvalidRecordError(f"{field}.discharge_time: {discharge} is before admit_time {admit}")
        death = None if adm.get("death_time") is None else _time(adm["death_time"], f"{field}.death_time")
        codes = _codes(adm["codes"], f"{field}.codes")
        kept = tuple(c for c in codes if c.split(":", 1)[0] in allowed_systems)
        if len(kept) < len(codes):
            dropped = sorted({c.split(":", 1)[0] for c in codes if c not in kept})
            left_out.append({"patient_id": patient_id, "field": f"{field}.codes", "left_out": len(codes) - len(kept),
                             "reason": f"code systems {dropped} are not among the model's inputs {sorted(allowed_systems)}"})  # fmt: skip
        admissions.append(Admission(_identifier(adm["hadm_id"], f"{field}.hadm_id"), admit, discharge, death, kept))
    hadm_ids = [a.hadm_id for a in admissions]
    repeated = sorted({h for h in hadm_ids if hadm_ids.count(h) > 1})
    if repeated:
        raise InvalidRecordError(f"{where}admissions: hadm_id values repeat ({repeated}); each admission needs its own")
    dod = None if entry.get("date_of_death") is None else _time(entry["date_of_death"], f"{where}date_of_death")
    ordered = tuple(sorted(admissions, key=lambda a: (a.admit_time, a.hadm_id)))
    return VisitSequence(patient_id, ordered, dod, label), left_out


def _predict_point(patient: VisitSequence, at_raw: Any, where: str) -> EhrSample:
    """The patient's sample at `prediction_time` (default: its latest discharge); refused after a death."""
    at = None if at_raw is None else _time(at_raw, f"{where}prediction_time")
    try:
        sample = latest_sample(patient, at)
    except ConfigError as err:
        raise InvalidRecordError(f"{where}prediction_time: {err}") from err
    last = next(a for a in patient.admissions if a.hadm_id == sample.hadm_id)
    if last.death_time is not None and last.death_time <= sample.prediction_time:
        raise InvalidRecordError(f"{where}admissions: the patient died in admission {last.hadm_id} (death_time {last.death_time}); "
                                 "nothing to predict after an in-hospital death")  # fmt: skip
    if patient.date_of_death is not None and patient.date_of_death <= sample.prediction_time:
        raise InvalidRecordError(f"{where}date_of_death: {patient.date_of_death} is at or before the prediction time "
                                 f"{sample.prediction_time}; nothing to predict after a death")  # fmt: skip
    return sample


def _read_folder(path: Path, code_sources: list[str], top_k: int) -> tuple[PatientInputs, list[dict[str, Any]]]:
    """Every patient of a MIMIC-III/IV folder at its latest discharge; patients who died by then are left out and listed."""
    patients, report = read_mimic(path, code_sources=tuple(code_sources))
    samples, problems = [], []
    for patient in patients:
        try:
            samples.append(_predict_point(patient, None, f"{path}: patient {patient.patient_id} "))
        except InvalidRecordError as err:
            problems.append({"patient_id": patient.patient_id, "reason": str(err)})
    if not samples:
        raise InvalidRecordError(f"{path}: none of {len(patients)} patients can be predicted ({problems[:3]} ...)")
    return PatientInputs(samples, top_k=top_k, read_report=report.to_dict()), problems


def _check_keys(obj: dict[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    missing, unknown = sorted(required - set(obj)), sorted(set(obj) - allowed)
    if missing:
        raise InvalidRecordError(f"{where}: missing field(s) {missing}; expected {sorted(allowed)}")
    if unknown:
        raise InvalidRecordError(f"{where}: unknown field(s) {unknown}; expected {sorted(allowed)}")


def _identifier(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
        raise InvalidRecordError(f"{field}: {value!r}; expected a non-empty string or integer id")
    return str(value).strip()


def _time(value: Any, field: str) -> np.datetime64:
    if not isinstance(value, str) or not value[:1].isdigit():
        raise InvalidRecordError(f"{field}: {value!r}; expected an ISO date or date-time such as '2180-05-06 22:23:00'")
    try:
        return np.datetime64(value.strip(), "s")
    except ValueError as err:
        raise InvalidRecordError(f"{field}: {value!r} is not an ISO date or date-time ({err})") from err


def _codes(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidRecordError(f"{field}: expected a list of '<system>:<code>' strings, got {type(value).__name__}")
    out: list[str] = []
    for j, code in enumerate(value):
        system, sep, rest = code.partition(":") if isinstance(code, str) else ("", "", "")
        if not sep or not rest.strip() or system not in SYSTEMS:
            raise InvalidRecordError(f"{field}[{j}]: {code!r}; expected '<system>:<code>' with a system among {', '.join(SYSTEMS)}")
        if code not in out:  # a code counts once per admission, as the MIMIC reader keeps it
            out.append(code)
    return tuple(out)


def _top_k(options: dict[str, Any]) -> int:
    value = options.get("top_k", TOP_K)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"option top_k={value!r}; expected an integer >= 1 (label codes written per patient)")
    return value
