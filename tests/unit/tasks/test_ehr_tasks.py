"""EHR visit prediction targets: no feature from after the prediction time, labels on constructed patients, train-only fitting."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from medrnn import paths
from medrnn.data.splits import patient_split
from medrnn.errors import ConfigError, NotFittedError
from medrnn.records import Admission, VisitSequence
from medrnn.registry import TASKS
from medrnn.tasks.base import get_task
from medrnn.tasks.ehr_visits.targets import (
    TARGETS,
    EhrSample,
    NextAdmissionMortalityTask,
    NextVisitDiagnosisTask,
    ReadmissionTask,
    latest_sample,
    make_target,
)
from medrnn.transforms.codes import UNK, CodeVocabulary

T = np.datetime64


def adm(hadm_id: str, admit: str, discharge: str, codes: tuple[str, ...], died: bool = False) -> Admission:
    return Admission(hadm_id, T(admit), T(discharge), T(discharge) if died else None, codes)


def sentinel_patient() -> VisitSequence:
    """Five admissions, each with codes found nowhere else; admission 3 overlaps admission 2 (admitted before its discharge)."""
    spans = [("2100-01-01", "2100-01-05"), ("2100-01-20", "2100-01-25"), ("2100-03-01", "2100-03-20"),
             ("2100-03-10", "2100-03-12"), ("2100-08-01", "2100-08-09")]  # fmt: skip
    admissions = tuple(adm(f"h{i}", a, d, (f"ICD9_DX:S{i}", f"ICD10_DX:T{i}", f"NDC:{i:011d}")) for i, (a, d) in enumerate(spans))
    return VisitSequence("p1", admissions, date_of_death=None)


def tasks() -> list:
    nvd = NextVisitDiagnosisTask(k=50).fit([sentinel_patient()])
    return [NextAdmissionMortalityTask(), ReadmissionTask(), nvd]


def features(sample: EhrSample) -> tuple:
    return sample.prediction_time, sample.visits, sample.admit_times, sample.discharge_times


@pytest.mark.parametrize("task", tasks(), ids=lambda t: t.name)
def test_no_feature_comes_from_after_the_prediction_time(task) -> None:
    patient = sentinel_patient()
    samples = task(patient)
    assert samples
    for sample in samples:
        known = [a for a in patient.admissions if a.discharge_time <= sample.prediction_time]
        unknown = [a for a in patient.admissions if a.discharge_time > sample.prediction_time]
        seen = {c for visit in sample.visits for c in visit}
        assert seen <= {c for a in known for c in a.codes}
        assert not seen & {c for a in unknown for c in a.codes}
        assert all(t <= sample.prediction_time for t in sample.discharge_times)
        target = next(a for a in patient.admissions if a.hadm_id == sample.hadm_id)
        if task.name != "readmission_30d":  # the labelled admission itself is the future
            assert not seen & set(target.codes)
    # the overlapping admission h3 starts before h2 is discharged: h2 is not history at h3's admit time
    h3 = next(s for s in NextAdmissionMortalityTask()(patient) if s.hadm_id == "h3")
    assert h3.visits == (patient.admissions[0].codes, patient.admissions[1].codes)


def _change(a: Admission, shift: bool) -> Admission:
    """New codes, the opposite outcome and (for admissions wholly in the future) times 60 days later."""
    delta = np.timedelta64(60, "D") if shift else np.timedelta64(0, "D")
    return replace(a, codes=tuple(c + "_changed" for c in a.codes) + ("ICD9_DX:NEW",), admit_time=a.admit_time + delta,
                   discharge_time=a.discharge_time + delta, death_time=None if a.death_time else a.discharge_time + delta)  # fmt: skip


@pytest.mark.parametrize("task", tasks(), ids=lambda t: t.name)
def test_changing_the_future_changes_only_labels(task) -> None:
    patient = sentinel_patient()
    changed_any_label = False
    for sample in task(patient):
        t = sample.prediction_time
        future = tuple(_change(a, shift=a.admit_time > t) if a.discharge_time > t else a for a in patient.admissions)
        other = replace(patient, admissions=future, date_of_death=T("2100-12-31"))
        twin = next(s for s in task(other) if s.sample_id == sample.sample_id)
        assert features(twin) == features(sample)
        changed_any_label |= not np.array_equal(np.asarray(twin.label), np.asarray(sample.label))
    assert changed_any_label


def labelled_patient() -> VisitSequence:
    return VisitSequence("p", (
        adm("a0", "2100-01-01T00:00", "2100-01-05T00:00", ("ICD9_DX:A", "ICD9_DX:B", "NDC:1")),
        adm("a1", "2100-01-20T00:00", "2100-01-25T00:00", ("ICD9_DX:A", "ICD10_DX:C")),  # 15 days after a0
        adm("a2", "2100-02-24T00:00", "2100-03-01T00:00", ("ICD9_DX:B", "ICD9_PX:P")),  # exactly 30 days after a1
        adm("a3", "2100-06-01T00:00", "2100-06-10T00:00", ("ICD10_DX:C",), died=True),
    ))  # fmt: skip


def test_mortality_labels_and_prediction_at_admission() -> None:
    samples = NextAdmissionMortalityTask()(labelled_patient())
    assert [(s.hadm_id, s.label) for s in samples] == [("a1", 0), ("a2", 0), ("a3", 1)]
    assert samples[2].prediction_time == T("2100-06-01T00:00") and len(samples[2].visits) == 3


def test_readmission_labels_window_and_exclusions() -> None:
    task = ReadmissionTask(window_days=30)
    result = task.build([labelled_patient()])
    assert [(s.hadm_id, s.label) for s in result.samples] == [("a0", 1), ("a1", 1), ("a2", 0)]
    assert result.dropped == {"died in the index admission": 1}
    assert result.samples[1].visits[-1] == ("ICD9_DX:A", "ICD10_DX:C")  # at discharge: the index admission's codes are known
    dies_at_home = VisitSequence("q", (adm("b0", "2100-01-01", "2100-01-05", ("ICD9_DX:A",)),), date_of_death=T("2100-01-15"))
    assert task(dies_at_home) == []
    assert [s.label for s in ReadmissionTask(exclude_death_in_window=False)(dies_at_home)] == [0]


def test_next_visit_diagnosis_labels_over_top_k_training_codes() -> None:
    task = NextVisitDiagnosisTask(k=2).fit([labelled_patient()])
    assert task.label_codes_ == ["ICD10_DX:C", "ICD9_DX:A"]  # A, B and C are in 2 admissions each: ties go by code
    samples = task(labelled_patient())
    assert [s.hadm_id for s in samples] == ["a1", "a2", "a3"]
    assert [s.label.tolist() for s in samples] == [[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]  # ICD9_PX:P is no diagnosis
    assert samples[0].prediction_time == T("2100-01-05T00:00") and samples[0].visits == (("ICD9_DX:A", "ICD9_DX:B", "NDC:1"),)
    restored = NextVisitDiagnosisTask.from_state_dict(json.loads(json.dumps(task.state_dict())))
    assert restored.label_codes_ == task.label_codes_
    with pytest.raises(NotFittedError, match="fit"):
        NextVisitDiagnosisTask()(labelled_patient())


def test_targets_have_schema_and_patient_split_unit_and_only_the_data_world_is_registered() -> None:
    assert list(TARGETS) == ["next_admission_mortality", "readmission_30d", "next_visit_diagnosis"]
    for name, task_cls in TARGETS.items():
        assert task_cls.name == name and task_cls.split_unit == "patient"
        assert "visits" in task_cls.input_schema and "label" in task_cls.output_schema
        assert name not in TASKS.names()  # TASKS holds data worlds; targets are chosen by data.task
    world = get_task("ehr")
    assert world.name == "ehr_visits" and world.split_unit == "patient" and world.input_axes == ("visit", "code")
    assert isinstance(make_target("next_visit_diagnosis", 7), NextVisitDiagnosisTask) and make_target("next_visit_diagnosis", 7).k == 7
    with pytest.raises(ConfigError, match="readmission_30d"):
        make_target("readmission")


def test_next_visit_diagnosis_candidates_need_no_fit_and_label_like_samples() -> None:
    task = NextVisitDiagnosisTask(k=2)
    candidates, dropped = task.candidates(labelled_patient())  # unfitted: labels come later from the fitted label set
    assert [s.label for s in candidates] == [None, None, None] and candidates[1].target_codes == ("ICD9_DX:B",)
    task.fit([labelled_patient()])
    samples, dropped_again = task.samples(labelled_patient())
    assert dropped == dropped_again
    assert [task.label(c.target_codes).tolist() for c in candidates] == [s.label.tolist() for s in samples]


def test_latest_sample_predicts_at_the_last_discharge_from_the_known_history() -> None:
    patient = sentinel_patient()
    sample = latest_sample(patient)
    assert sample.hadm_id == "h4" and sample.prediction_time == patient.admissions[-1].discharge_time and sample.label is None
    assert sample.visits == tuple(a.codes for a in patient.admissions)
    earlier = latest_sample(patient, T("2100-03-15"))  # h2 (discharged 03-20) and h3 (03-12) overlap: only h3 is known
    assert earlier.hadm_id == "h3" and [v[0] for v in earlier.visits] == ["ICD9_DX:S0", "ICD9_DX:S1", "ICD9_DX:S3"]
    with pytest.raises(ConfigError, match="no admission discharged"):
        latest_sample(patient, T("2099-01-01"))


def many_patients(n: int = 20) -> list[VisitSequence]:
    return [VisitSequence(f"p{i}", (adm(f"{i}a", "2100-01-01", "2100-01-02", ("ICD9_DX:COMMON", f"ICD9_DX:ONLY{i}")),
                                    adm(f"{i}b", "2100-02-01", "2100-02-02", ("ICD9_DX:COMMON",))))
            for i in range(n)]  # fmt: skip


def test_vocabulary_is_fitted_on_training_patients_only() -> None:
    patients = many_patients()
    split = patient_split([p.patient_id for p in patients], seed=0)
    train = [patients[i] for i in split.train]
    test_patient = patients[split.test[0]]
    vocab = CodeVocabulary().fit(train)
    only_test = f"ICD9_DX:ONLY{test_patient.patient_id[1:]}"
    assert only_test not in vocab and vocab.encode([only_test, "ICD9_DX:COMMON"]) == [0, 1]
    assert vocab.codes_[0] == UNK and len(vocab) == 1 + 1 + len(train)  # <unk>, COMMON, one ONLY code per train patient
    x = vocab.multi_hot([a.codes for a in test_patient.admissions])
    assert x.dtype == np.float32 and x.shape == (2, len(vocab))
    assert x[0, 0] == 1.0 and x[0].sum() == 2.0 and x[1, 0] == 0.0
    label_task = NextVisitDiagnosisTask(k=100).fit(train)
    assert only_test not in label_task.label_codes_


def test_vocabulary_min_count_state_round_trip_and_not_fitted() -> None:
    vocab = CodeVocabulary(min_count=2).fit(many_patients(5))
    assert vocab.codes_ == [UNK, "ICD9_DX:COMMON"] and vocab.counts_ == [5, 10]
    restored = CodeVocabulary.from_state_dict(json.loads(json.dumps(vocab.state_dict())))
    assert restored.codes_ == vocab.codes_ and np.array_equal(restored.multi_hot([("x",)]), vocab.multi_hot([("x",)]))
    with pytest.raises(NotFittedError):
        CodeVocabulary().encode(["a"])


def test_patient_split_keeps_each_patient_in_one_part_and_is_deterministic() -> None:
    ids = [f"p{i % 30}" for i in range(90)]  # three samples per patient
    split = patient_split(ids, seed=3)
    parts = [{ids[i] for i in part} for part in split]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sorted(np.concatenate(split).tolist()) == list(range(90)) and [len(p) for p in parts] == [24, 3, 3]
    shuffled = ids[::-1]
    again = patient_split(shuffled, seed=3)
    assert [{shuffled[i] for i in part} for part in again] == parts  # depends on the patients, not the sample order
    strat = patient_split(ids, seed=0, stratify=[int(p in {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"}) for p in ids])
    assert len({ids[i] for i in strat.test}) == 3


def test_tasks_on_the_mimic4_demo() -> None:
    from medrnn.io.mimic import read_mimic

    root = paths.dataset_dir("mimic4-demo")
    if not (root / "hosp").is_dir():
        pytest.skip(f"mimic4-demo not found under {root}")
    patients, _ = read_mimic(root)
    split = patient_split([p.patient_id for p in patients], seed=0)
    train = [patients[i] for i in split.train]
    mortality = NextAdmissionMortalityTask().build(patients)
    readmission = ReadmissionTask().build(patients)
    nvd = NextVisitDiagnosisTask(k=20).fit(train).build(patients)
    assert len(mortality) == 275 - 100 - sum(mortality.dropped.values())  # every admission after a patient's first
    assert set(readmission.labels().tolist()) == {0, 1} and nvd.labels().shape == (len(nvd), 20)
