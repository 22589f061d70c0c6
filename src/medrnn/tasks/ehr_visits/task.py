"""EHR visits (MIMIC-III/IV coded admissions): a patient's history of ICD diagnoses, procedures and drugs -> one of
three prediction targets (data.task): in-hospital death in the next admission, readmission within 30 days of a
discharge, or the diagnoses of the next visit (multi-label). Split by patient; vocabulary and label set fitted on
the training patients only."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn import atomic
from medrnn.data.batch import collate
from medrnn.data.splits import Split
from medrnn.errors import ConfigError
from medrnn.models import build_model
from medrnn.tasks.serving import ServedInput
from medrnn.tasks.base import InputItem, Scores, Section, Task, TaskData, TaskOption, missing_catalogue_folder, register_task
from medrnn.tasks.ehr_visits import explain as explaining
from medrnn.tasks.ehr_visits.config import VisitRunConfig
from medrnn.tasks.ehr_visits.data import VisitData, load_visits, split_patients
from medrnn.tasks.ehr_visits.inputs import PatientInputs, read_patients
from medrnn.tasks.ehr_visits.metrics import evaluate_visits, ranking_metrics
from medrnn.tasks.ehr_visits.pipeline import LAB_PREFIX, MODALITIES, VisitPipeline
from medrnn.tasks.ehr_visits.predict import explain_retain, predict_sigmoid, visit_dataset
from medrnn.tasks.ehr_visits.report import visit_sections
from medrnn.tasks.ehr_visits.targets import TARGETS, EhrSampleSet

_TARGET_HELP = ("Prediction target: readmission_30d (default; at discharge), next_admission_mortality (at admission) or "
                "next_visit_diagnosis (top-k ICD diagnoses, multi-label).")  # fmt: skip


@register_task
class EhrVisitsTask(Task):
    """A patient's coded admissions (MIMIC) -> mortality, readmission or next diagnoses, split by patient."""

    name = "ehr_visits"
    aliases = ("ehr", "visits")  # "visits": the task field of artifacts written before the Task contract
    title = "EHR visits (MIMIC coded admissions) -> next-admission mortality, 30-day readmission, next-visit diagnoses"
    data = "mimic4-demo / mimic3-demo, or a full MIMIC-III/IV folder (admissions, diagnoses, procedures, prescriptions)"
    readers = ("read_mimic",)
    split_unit = "patient"
    output_kinds = ("binary", "multilabel")
    input_axes = ("visit", "code")
    default_model = "retain"
    models = ("retain", "gru", "lstm", "rnn", "fusion")
    time_estimate = "seconds on the MIMIC-IV demo (docs/benchmarks.md); a full MIMIC-IV takes far longer"
    config_class = VisitRunConfig
    predict_help = ("a JSON patient file {patient_id, admissions: [{hadm_id, admit_time, discharge_time, death_time?, codes}]} "
                    "(or a list of them) or a MIMIC folder (every patient): predicted at the discharge of the latest admission "
                    "from the admissions known then; one row per patient: item_id (the input as given), patient_id, hadm_id, "
                    "prediction_time, n_visits, n_unknown_codes, p_<target> (next_visit_diagnosis: one row per top-10 code: "
                    "rank, code, p)")  # fmt: skip
    options = (
        TaskOption("--data", "data.data", "mimic4-demo (default), mimic3-demo, or the folder of a full MIMIC-III (ADMISSIONS.csv ...) "
                   "or MIMIC-IV (hosp/*.csv.gz) download.", short="-d"),
        TaskOption("--task", "data.task", _TARGET_HELP, short="-t"),
        TaskOption("--target", "data.task", _TARGET_HELP),
        TaskOption("--sources", "data.code_sources", "Code tables, comma-separated: diagnoses,procedures,prescriptions[,labevents] "
                   "(abnormal lab flags).", kind="list"),
    )  # fmt: skip
    served_input = ServedInput(uploads=(".json",), json_suffix=".json", json_example=[{"patient_id": "p1", "admissions": [
        {"hadm_id": "1", "admit_time": "2150-01-01 10:00:00", "discharge_time": "2150-01-04 12:00:00", "codes": ["ICD10_DX:I10"]}]}])
    examples = ("medrnn train ehr --out runs/readmit", "medrnn train ehr --data mimic3-demo --target next_visit_diagnosis --model gru",
                "medrnn train ehr --data /data/mimiciv/3.1 --target next_admission_mortality --out runs/mort",
                "medrnn train ehr --model fusion --set data.code_sources=[diagnoses,procedures,prescriptions,labevents]")  # fmt: skip

    predict_options = (TaskOption("--top-k", "top_k", "Visit models (next_visit_diagnosis): label codes written per patient (default 10).",
                                  "int"),)  # fmt: skip

    def quick_config(self) -> VisitRunConfig:
        return VisitRunConfig.model_validate({"data": {"data": "mimic4-demo"}, "model": {"hidden_size": 8, "embedding_dim": 8},
                                              "train": {"max_epochs": 1, "progress": False}, "bootstrap": 20})  # fmt: skip

    def missing_data(self, config: VisitRunConfig) -> dict[str, list[str]]:
        return missing_catalogue_folder(config.data.data, ("mimic4-demo", "mimic3-demo"), "a MIMIC-III/IV folder")

    def load(self, config: VisitRunConfig, progress: bool = False) -> TaskData:
        visits, read_report = load_visits(config.data, progress=progress)
        units = np.array([s.patient_id for s in visits.samples], dtype=str)
        info = {"dataset": config.data.data, "target": config.data.task, "read": read_report}
        return TaskData(visits, units, [s.sample_id for s in visits.samples], info)

    def split(self, data: TaskData, config: VisitRunConfig) -> Split:
        split, info = split_patients(data.samples, config.data, config.train.seed)
        data.info.update(info)
        return split

    def subset(self, data: TaskData, index: np.ndarray) -> EhrSampleSet:
        visits: VisitData = data.samples
        return visits.subset(index)

    def join(self, parts: list[EhrSampleSet]) -> EhrSampleSet:
        return EhrSampleSet.concat(parts)

    def fit_pipeline(self, data: TaskData, split: Split, config: VisitRunConfig) -> VisitPipeline:
        pipeline = VisitPipeline.fit(data.samples.train_patients(split), config.data)
        data.info["vocabulary_size"] = len(pipeline.vocab)
        return pipeline

    def pipeline_from_state(self, state: dict[str, Any]) -> VisitPipeline:
        return VisitPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: VisitPipeline) -> np.ndarray:
        return pipeline.labels(self.subset(data, index))

    def build_model(self, data: TaskData, split: Split, pipeline: VisitPipeline,
                    config: VisitRunConfig) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
        m = config.model
        extra: dict[str, Any] = {}
        if m.name == "fusion":
            groups = pipeline.modality_groups()
            if len(set(groups)) < 2:
                raise ConfigError(f"model fusion reads {' and '.join(MODALITIES)} as two modalities; the training vocabulary has "
                                  f"{'no lab item' if 1 not in groups else 'only lab items'}: put labevents and another source in "
                                  f"data.code_sources (now {', '.join(config.data.code_sources)})")  # fmt: skip
            extra = {"channel_groups": groups, "group_names": list(MODALITIES)}
        model = build_model(m.name, m, input_size=len(pipeline.vocab), num_classes=len(pipeline.label_names), **extra)
        return model, {}

    def drop_modality(self, samples: EhrSampleSet, modality: str) -> EhrSampleSet:
        if modality not in MODALITIES:
            raise ConfigError(f"ehr_visits: modality {modality!r}; its modalities: {', '.join(MODALITIES)}")
        keep_labs = modality == "codes"  # dropping codes keeps the lab items, and the other way round
        visits = lambda s: tuple(tuple(c for c in v if c.startswith(LAB_PREFIX) == keep_labs) for v in s.visits)  # noqa: E731
        return EhrSampleSet([dataclasses.replace(s, visits=visits(s)) for s in samples.samples], dict(samples.dropped))

    def loaders(self, data: TaskData, split: Split, pipeline: VisitPipeline, config: VisitRunConfig) -> tuple[DataLoader, DataLoader, list]:
        train = visit_dataset(self.subset(data, split.train), pipeline)
        val = visit_dataset(self.subset(data, split.val), pipeline)
        gen = torch.Generator().manual_seed(config.train.seed)
        return (DataLoader(train, batch_size=config.train.batch_size, shuffle=True, collate_fn=collate, generator=gen),
                DataLoader(val, batch_size=256, shuffle=False, collate_fn=collate), [])  # fmt: skip

    def predict(self, model: nn.Module, pipeline: VisitPipeline, samples: EhrSampleSet) -> Scores:
        if not len(samples):
            return Scores(np.zeros((0, len(pipeline.label_names))))
        return Scores(predict_sigmoid(model, visit_dataset(samples, pipeline, labelled=False)))

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: VisitPipeline, config: VisitRunConfig,
                 samples: Any) -> Any:  # fmt: skip
        return evaluate_visits(y, scores.values, pipeline.label_names, pipeline.output_kind, units.tolist(), config.bootstrap,
                               config.train.seed)  # fmt: skip

    def write_outputs(self, run_dir: Path, data: TaskData, split: Split, pipeline: VisitPipeline, scores: Scores,
                      model: nn.Module, config: VisitRunConfig) -> dict[str, Any]:  # fmt: skip
        test = self.subset(data, split.test)
        if config.model.name == "retain":
            explanations = explain_retain(model, test, pipeline)
            atomic.write_text(run_dir / "explanations.json", json.dumps(explanations, indent=1))
        notes = ["CIs resample test patients (all of a patient's samples together), not samples"]
        if len(data.samples.patients) <= 200:
            notes.append("a demo-sized cohort: test sets of ~15 patients give wide CIs; the point is a proven pipeline")
        return {"dataset": config.data.data, "target": config.data.task, "ranking": ranking_metrics(pipeline.labels(test), scores.values),
                "notes": notes}  # fmt: skip

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    def read_input(self, source: str, pipeline: VisitPipeline, options: dict[str, Any]) -> InputItem:
        samples, problems = read_patients(source, pipeline.code_sources, options)
        read = getattr(samples, "read_report", None)  # a MIMIC folder: what its reader skipped or excluded
        notes = {"read": {k: v for k, v in read.items() if k.startswith(("n_skipped", "n_orphan", "n_without", "excluded"))
                          and v}} if read else {}  # fmt: skip
        return InputItem(source, samples, problems, notes)

    def decode(self, item: InputItem, scores: Scores, pipeline: VisitPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import conformal_fields, in_set  # conformal columns, only when --coverage was asked

        samples: EhrSampleSet = item.samples
        top_k = samples.top_k if isinstance(samples, PatientInputs) else 10
        rows = []
        for i, (sample, prob) in enumerate(zip(samples.samples, scores.values)):
            unknown = sum(c not in pipeline.vocab for v in sample.visits for c in v)
            head = {"item_id": item.item_id, "patient_id": sample.patient_id, "hadm_id": sample.hadm_id,
                    "prediction_time": str(sample.prediction_time), "n_visits": len(sample.visits), "n_unknown_codes": unknown}  # fmt: skip
            if pipeline.output_kind == "binary":
                rows.append({**head, f"p_{pipeline.label_names[0]}": round(float(prob[0]), 5), **conformal_fields(scores, i, pipeline)})
                continue
            for rank, k in enumerate(np.argsort(-prob, kind="stable")[:top_k], start=1):
                rows.append({**head, "rank": rank, "code": pipeline.label_names[k], "p": round(float(prob[k]), 5),
                             **in_set(scores, i, k, pipeline)})
        return rows

    def columns(self, pipeline: VisitPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        # the input (item_id) first: two files may hold one patient_id (two hospitals, two exports)
        head = ["item_id", "patient_id", "hadm_id", "prediction_time", "n_visits", "n_unknown_codes"]
        if pipeline.output_kind == "binary":
            return [*head, f"p_{pipeline.label_names[0]}", *conformal_columns(pipeline)]
        return [*head, "rank", "code", "p", *conformal_columns(pipeline, per_label=True)]

    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        return visit_sections(run_dir, metrics)


__all__ = ["TARGETS", "EhrVisitsTask"]
