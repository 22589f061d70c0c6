"""The coded-visit job end to end: MIMIC tables -> patients -> split by patient (before fitting) -> task samples ->
multi-hot visits with a training-only vocabulary -> RETAIN or a recurrent baseline -> scores on the test patients."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn import paths
from medrnn.artifact import save_artifact
from medrnn.config import save_config
from medrnn.data.batch import SequenceDataset, collate
from medrnn.data.splits import Split, patient_split
from medrnn.errors import ConfigError
from medrnn.io.mimic import read_mimic
from medrnn.metrics.molecules import evaluate_molecules
from medrnn.models import build_model
from medrnn.predict import predict_sigmoid
from medrnn.records import VisitSequence
from medrnn.registry import TASKS
from medrnn.tasks.ehr_visits import targets as _ehr_tasks  # noqa: F401  (registers the visit tasks)
from medrnn.tasks.ehr_visits.config import VisitRunConfig
from medrnn.tasks.ehr_visits.targets import EhrSampleSet, EhrTask, NextVisitDiagnosisTask
from medrnn.train.fit import fit_module
from medrnn.train.multitask import MultiTaskModule
from medrnn.transforms.codes import CodeVocabulary


def visit_dataset(samples: EhrSampleSet, vocab: CodeVocabulary) -> SequenceDataset:
    """Samples as multi-hot visits (n_visits, vocab) with their labels; collate pads the visits."""
    return SequenceDataset([torch.from_numpy(vocab.multi_hot(s.visits)) for s in samples.samples], samples.labels())


def resolve_root(data: str) -> Path:
    """A dataset name under the data root (mimic3-demo, mimic4-demo) or a path to a MIMIC folder."""
    path = Path(data).expanduser()
    return path if path.exists() else paths.dataset_dir(data)


def accuracy_at_k(y: np.ndarray, score: np.ndarray, k: int) -> float:
    """Mean over samples with a true label of |top-k ∩ true| / min(k, |true|): GRAM's / Dipole's accuracy@k.

    Scored over the k most frequent training diagnoses the model predicts; samples whose next-visit diagnoses all
    fall outside them are not scored (their count is in the metrics), so it reads higher than recall over all codes.
    """
    keep = y.sum(axis=1) > 0
    if not keep.any():
        return float("nan")
    top = np.argsort(-score[keep], axis=1)[:, :k]
    hits = np.take_along_axis(y[keep], top, axis=1).sum(axis=1)
    return float(np.mean(hits / np.minimum(k, y[keep].sum(axis=1))))


@dataclass
class VisitFitResult:
    model: nn.Module
    vocab: CodeVocabulary
    task: EhrTask
    split: Split  # positions into the patient list
    sets: dict[str, EhrSampleSet]
    test_prob: np.ndarray  # (n_test_samples, num_outputs)
    train_seconds: float
    epochs: int
    best_epoch: int | None


def fit_visit_model(patients: list[VisitSequence], config: VisitRunConfig, run_dir: str | Path, seed: int = 0,
                    progress: bool = False) -> VisitFitResult:  # fmt: skip
    """Split patients, fit vocabulary (and label set) on training patients, build samples, train, score the test samples."""
    d = config.data
    split = patient_split([p.patient_id for p in patients], d.split_sizes, seed=seed)
    train_patients = [patients[i] for i in split.train]
    if d.task == "next_visit_diagnosis":  # its label set (top-k training diagnoses) is fitted like the vocabulary
        task: EhrTask = NextVisitDiagnosisTask(k=d.top_k_labels).fit(train_patients)
    else:
        task = TASKS.get(d.task)()
    vocab = CodeVocabulary(min_count=d.min_code_count).fit(train_patients)
    sets = {k: task.build([patients[i] for i in idx]) for k, idx in split._asdict().items()}
    for name, samples in sets.items():
        if len(samples) == 0:
            raise ConfigError(f"{d.task}: no {name} samples from {len(getattr(split, name))} patients (dropped: {samples.dropped}); "
                              "too few patients with two or more admissions for this split")  # fmt: skip
    parts = {k: visit_dataset(v, vocab) for k, v in sets.items()}
    num_outputs = parts["train"].y.shape[1]
    L.seed_everything(seed, workers=True, verbose=False)
    m = config.model
    model = build_model(m.name, input_size=len(vocab), num_classes=num_outputs, **m.model_dump(exclude={"name"}))
    train_cfg = config.train.model_copy(update={"seed": seed, "progress": progress})
    gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(parts["train"], batch_size=train_cfg.batch_size, shuffle=True, collate_fn=collate, generator=gen)
    val_loader = DataLoader(parts["val"], batch_size=256, shuffle=False, collate_fn=collate)
    module = MultiTaskModule(model, train_cfg, "classification")
    start = time.perf_counter()
    fit = fit_module(module, train_loader, val_loader, train_cfg, Path(run_dir), *module.monitor)
    return VisitFitResult(model, vocab, task, split, sets, predict_sigmoid(model, parts["test"]), time.perf_counter() - start,
                          fit.epochs, fit.best_epoch)  # fmt: skip


def run_visit_experiment(config: VisitRunConfig, run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Read MIMIC, fit, evaluate once on the test patients; write config.yaml, metrics.json, predictions and model/."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    seed = config.train.seed
    patients, read_report = read_mimic(resolve_root(config.data.data), code_sources=tuple(config.data.code_sources), progress=progress)
    fit = fit_visit_model(patients, config, run_dir, seed=seed, progress=progress)
    test = fit.sets["test"]
    y = test.labels().astype(np.float64).reshape(len(test), -1)
    names = fit.task.label_codes_ if isinstance(fit.task, NextVisitDiagnosisTask) else [config.data.task]
    report = evaluate_molecules(y, fit.test_prob, list(names), "classification", n_boot=config.bootstrap, seed=seed,
                                groups=test.patient_ids)  # a patient with several samples is resampled whole
    extra_metrics: dict[str, float | int] = {}
    if y.shape[1] > 1:
        extra_metrics = {f"accuracy@{k}": accuracy_at_k(y, fit.test_prob, k) for k in (10, 20)}
        extra_metrics["samples_without_top_k_label"] = int((y.sum(axis=1) == 0).sum())
    save_artifact(run_dir / "model", fit.model, {"vocabulary": fit.vocab.state_dict(), "task": config.data.task,
                  "task_state": fit.task.state_dict() if isinstance(fit.task, NextVisitDiagnosisTask) else None,
                  "code_sources": list(config.data.code_sources)}, list(names),
                  [patients[i].patient_id for i in fit.split.train], extra={"task": "visits", "dataset": config.data.data})  # fmt: skip
    np.savez(run_dir / "predictions.npz", sample_id=np.array([s.sample_id for s in test.samples]), y_true=y, y_score=fit.test_prob)
    notes = ["CIs resample test patients (all of a patient's samples together), not samples"]
    if len(patients) <= 200:
        notes.append("a demo-sized cohort: test sets of ~15 patients give wide CIs; the point is a proven pipeline")
    metrics = {
        "kind": "visits", "dataset": config.data.data, "task": config.data.task, "model": config.model.name,
        "split": {"unit": "patient", "seed": seed, "patients": {k: len(v) for k, v in fit.split._asdict().items()},
                  "samples": {k: len(v) for k, v in fit.sets.items()}, "dropped": {k: v.dropped for k, v in fit.sets.items()}},
        "test": report.to_dict(), "ranking": extra_metrics,
        "data": {"read": read_report.to_dict(), "vocabulary_size": len(fit.vocab)},
        "training": {"epochs": fit.epochs, "best_epoch": fit.best_epoch, "train_seconds": fit.train_seconds},
        "notes": notes,
    }  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    if config.model.name == "retain":
        explanations = explain_retain(fit.model, visit_dataset(test, fit.vocab), test, fit.vocab, str(names[0]))
        (run_dir / "explanations.json").write_text(json.dumps(explanations, indent=1))
    return metrics


def explain_retain(model: nn.Module, dataset: SequenceDataset, samples: EhrSampleSet, vocab: CodeVocabulary, output_name: str,
                   n_samples: int = 20, n_codes: int = 10) -> list[dict[str, Any]]:  # fmt: skip
    """RETAIN's exact decomposition for the first test samples: visit weights α and the codes that moved output 0
    (`output_name`: the task, or the first label code of next_visit_diagnosis) most."""
    model.eval()
    out: list[dict[str, Any]] = []
    batch = collate([dataset[i] for i in range(min(n_samples, len(dataset)))])
    with torch.no_grad():
        result = model.explain(batch)
    contrib = result.contributions[..., 0].numpy()  # (batch, visits, codes) toward the first output
    for b in range(contrib.shape[0]):
        n_visits = int(batch.lengths[b])
        flat = [(abs(float(contrib[b, v, c])), v, c) for v in range(n_visits) for c in np.flatnonzero(contrib[b, v])]
        top = sorted(flat, reverse=True)[:n_codes]
        codes = [{"visit": v, "code": vocab.codes_[c], "contribution": float(contrib[b, v, c])} for _, v, c in top]
        out.append({"sample_id": samples.samples[b].sample_id, "output": output_name, "logit": float(result.logits[b, 0]),
                    "visit_attention": result.attention[b, :n_visits].tolist(), "top_codes": codes})  # fmt: skip
    return out
