"""The ehr_visits task on the contract: patient split before fitting, the pipeline's state, patient files for predict,
and one quick run end to end (metrics, RETAIN explanations, report sections, Predictor on a JSON patient)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn.errors import InvalidRecordError
from medrnn.tasks.base import check_split, get_task
from medrnn.tasks.ehr_visits.config import VisitRunConfig
from medrnn.tasks.ehr_visits.pipeline import VisitPipeline
from medrnn.tasks.ehr_visits.targets import NextVisitDiagnosisTask, ReadmissionTask
from medrnn.transforms.codes import CodeVocabulary


def _config(task: str = "readmission_30d", **data: object) -> VisitRunConfig:
    return VisitRunConfig.model_validate({"data": {"data": "mimic4-demo", "task": task, **data},
                                          "model": {"hidden_size": 8, "embedding_dim": 8},
                                          "train": {"max_epochs": 1, "progress": False, "seed": 2}, "bootstrap": 10})  # fmt: skip


def test_split_is_by_patient_over_all_patients_and_keeps_each_parts_patient_order(mimic4: Path) -> None:
    task, cfg = get_task("ehr"), _config()
    data = task.load(cfg)
    split = task.split(data, cfg)
    check_split(data.units, split)
    visits = data.samples
    parts = visits.patient_parts
    assert sum(len(v) for v in parts.values()) == len(visits.patients) == 100  # patients without a sample are split too
    for name in ("train", "val", "test"):
        built = ReadmissionTask().build([visits.patients[i] for i in parts[name]])  # what the old per-part build gave
        assert [s.sample_id for s in task.subset(data, getattr(split, name)).samples] == [s.sample_id for s in built.samples]
        assert data.info["dropped"][name] == built.dropped and data.info["samples"][name] == len(built)
    train_patients = visits.train_patients(split)
    assert len(train_patients) == len(parts["train"]) > len(set(data.units[split.train]))  # includes patients without samples
    pipeline = task.fit_pipeline(data, split, cfg)
    train_codes = {c for p in train_patients for a in p.admissions for c in a.codes}
    assert set(pipeline.vocab.codes_[1:]) == train_codes and data.info["vocabulary_size"] == len(pipeline.vocab)
    y = task.targets(data, split.test, pipeline)
    assert y.shape == (len(split.test), 1) and y.dtype == np.float64 and set(np.unique(y)) <= {0.0, 1.0}


def test_next_visit_diagnosis_label_set_is_fitted_on_training_patients_and_state_round_trips(mimic4: Path) -> None:
    task, cfg = get_task("ehr_visits"), _config("next_visit_diagnosis", top_k_labels=15)
    data = task.load(cfg)
    split = task.split(data, cfg)
    pipeline = task.fit_pipeline(data, split, cfg)
    expected = NextVisitDiagnosisTask(k=15).fit(data.samples.train_patients(split)).label_codes_
    assert pipeline.label_names == expected and pipeline.output_kind == "multilabel"
    y = task.targets(data, split.val, pipeline)
    assert y.shape == (len(split.val), 15)
    restored = task.pipeline_from_state(json.loads(json.dumps(pipeline.state_dict())))
    assert restored.label_names == pipeline.label_names and restored.vocab.codes_ == pipeline.vocab.codes_
    assert np.array_equal(restored.labels(task.subset(data, split.val)), y)


def test_pipeline_reads_the_state_of_artifacts_written_before_the_contract() -> None:
    vocab = CodeVocabulary().fit([])  # an empty training set still gives <unk>
    old = {"vocabulary": vocab.state_dict(), "task": "readmission_30d", "task_state": None, "code_sources": ["diagnoses"]}
    pipeline = VisitPipeline.from_state_dict(old)
    assert pipeline.label_names == ["readmission_30d"] and pipeline.output_kind == "binary" and pipeline.code_sources == ["diagnoses"]
    with pytest.raises(Exception, match="readmission_30d"):
        VisitPipeline.from_state_dict({**old, "task": "mortality"})


def _fitted(mimic4: Path, task_name: str = "readmission_30d"):
    task, cfg = get_task("ehr"), _config(task_name, top_k_labels=12)
    data = task.load(cfg)
    split = task.split(data, cfg)
    pipeline = task.fit_pipeline(data, split, cfg)
    torch.manual_seed(0)
    model, _ = task.build_model(data, split, pipeline, cfg)
    return task, pipeline, model


def _patient(**changes: object) -> dict:
    patient = {"patient_id": "p1", "admissions": [
        {"hadm_id": "h1", "admit_time": "2180-05-06 22:23:00", "discharge_time": "2180-05-07 17:15:00",
         "codes": ["ICD9_DX:4019", "ICD9_DX:4280", "NDC:00338004904", "LAB:50912", "ICD9_DX:NEVERSEEN"]},
        {"hadm_id": "h2", "admit_time": "2180-06-26 18:27:00", "discharge_time": "2180-06-27 18:49:00", "death_time": None,
         "codes": ["ICD9_DX:4019", "ICD9_PX:3893"]}]}  # fmt: skip
    patient.update(changes)
    return patient


def test_predict_reads_a_json_patient_at_its_latest_discharge(mimic4: Path, tmp_path: Path) -> None:
    task, pipeline, model = _fitted(mimic4)
    path = tmp_path / "p1.json"
    path.write_text(json.dumps(_patient()))
    item = task.read_input(str(path), pipeline, {})
    assert item.problems and item.problems[0]["field"].endswith("admissions[0].codes") and "LAB" in item.problems[0]["reason"]
    rows = task.decode(item, task.predict(model, pipeline, item.samples), pipeline)
    assert list(rows[0]) == task.columns(pipeline)
    assert rows[0]["patient_id"] == "p1" and rows[0]["hadm_id"] == "h2" and rows[0]["prediction_time"] == "2180-06-27T18:49:00"
    assert rows[0]["n_visits"] == 2 and rows[0]["n_unknown_codes"] == 1 and 0 < rows[0]["p_readmission_30d"] < 1
    # a list of patients; a prediction time that leaves the second admission in the future
    path.write_text(json.dumps([_patient(), _patient(patient_id="p2", prediction_time="2180-06-01")]))
    item = task.read_input(str(path), pipeline, {})
    assert [(s.patient_id, len(s.visits)) for s in item.samples.samples] == [("p1", 2), ("p2", 1)]


def test_predict_next_visit_diagnosis_writes_the_top_k_codes(mimic4: Path, tmp_path: Path) -> None:
    task, pipeline, model = _fitted(mimic4, "next_visit_diagnosis")
    path = tmp_path / "p1.json"
    path.write_text(json.dumps(_patient()))
    item = task.read_input(str(path), pipeline, {"top_k": 5})
    rows = task.decode(item, task.predict(model, pipeline, item.samples), pipeline)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5] and set(task.columns(pipeline)) == set(rows[0])
    assert [r["p"] for r in rows] == sorted((r["p"] for r in rows), reverse=True) and {r["code"] for r in rows} <= set(pipeline.label_names)


def _one(**fields: object) -> dict:
    """A patient with one admission, `fields` changed."""
    return {"admissions": [{"hadm_id": "h1", "admit_time": "2180-05-06", "discharge_time": "2180-05-07", "codes": [], **fields}]}


BAD = [
    ("not json", None, "not a JSON file"),
    ({"admissions": []}, None, "missing field(s) ['patient_id']"),
    ({"patient_id": "p", "admissions": []}, None, "admissions: expected a non-empty list"),
    (None, _one(admit_time="yesterday"), "admissions[0].admit_time"),
    (None, _one(admit_time="2180-05-08"), "is before admit_time"),
    (None, _one(codes=["4019"]), "admissions[0].codes[0]"),
    (None, _one(icd=1), "unknown field(s) ['icd']"),
    (None, _one(death_time="2180-05-07"), "died in admission h1"),
    (None, {"prediction_time": "2100-01-01"}, "prediction_time"),
    (None, {"patient_id": True}, "patient_id"),
]


@pytest.mark.parametrize(("content", "changes", "message"), BAD)
def test_bad_patient_files_are_refused_naming_file_and_field(mimic4: Path, tmp_path: Path, content, changes, message) -> None:
    task, pipeline, _ = _fitted(mimic4)
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content if content is not None else _patient(**changes)))
    with pytest.raises(InvalidRecordError) as err:
        task.read_input(str(path), pipeline, {})
    assert str(path) in str(err.value) and message in str(err.value)


def test_a_mimic_folder_predicts_every_patient_alive_at_its_latest_discharge(mimic4: Path) -> None:
    task, pipeline, model = _fitted(mimic4)
    item = task.read_input(str(mimic4), pipeline, {})
    n = len(item.samples)
    assert n + len(item.problems) == 100 and all("died" in p["reason"] or "date_of_death" in p["reason"] for p in item.problems)
    assert len(task.decode(item, task.predict(model, pipeline, item.samples), pipeline)) == n


def test_quick_run_writes_metrics_explanations_report_and_serves_a_json_patient(mimic4: Path, tmp_path: Path) -> None:
    from medrnn.predict import Predictor
    from medrnn.train.run import run_task

    torch.set_num_threads(1)
    task = get_task("ehr")
    result = run_task(task, task.quick_config(), tmp_path / "run", progress=False)
    m = result.metrics
    assert m["task"] == "ehr_visits" and m["split"]["unit"] == "patient" and m["output_kind"] == "binary"
    assert sum(m["data"]["patients"].values()) == 100 and m["data"]["read"]["n_admissions"] == 275
    assert m["data"]["samples"] == m["split"]["counts"] and m["ranking"] == {} and m["test"]["unit"] == "patients"
    explanations = json.loads((tmp_path / "run" / "explanations.json").read_text())
    assert explanations and all(abs(sum(e["visit_attention"]) - 1) < 1e-5 for e in explanations)
    sections = task.report_sections(tmp_path / "run", json.loads((tmp_path / "run" / "metrics.json").read_text()))
    titles = [s.title for s in sections]
    assert titles == ["Headline", "Patients and samples", "RETAIN explanations (test patients)"] and sections[2].figures
    from medrnn.artifact import trained_on

    test_ids = np.load(tmp_path / "run" / "predictions.npz")["ids"].tolist()
    data = task.load(task.quick_config())
    train_patients = sorted(set(data.units[task.split(data, task.quick_config()).train].tolist()))
    assert trained_on(json.loads((tmp_path / "run" / "model" / "artifact.json").read_text()), train_patients)  # a hash, not the ids
    assert not {s.split("/")[0] for s in test_ids} & set(train_patients)
    (tmp_path / "p1.json").write_text(json.dumps(_patient()))
    predictions = Predictor.from_artifact(tmp_path / "run").predict([tmp_path / "p1.json"])
    assert [r["patient_id"] for r in predictions.rows()] == ["p1"] and "rejected" in predictions.failures[str(tmp_path / "p1.json")]
