"""Patient adaptation of an inter-patient beat classifier: a cardiologist labels the first k beats of a new patient's
record, and the model uses them before classifying the rest of that record.

The method (a prototype correction of the global posterior, in the spirit of de Chazal & Reilly 2006's local
classifier combined with the global one): the model's encoder features of the k labelled beats give one prototype per
class they contain; for each remaining beat, the log-posterior of a class present in the support is raised by
weight * max(D - d_c, 0) / tau (d_c: squared distance to that class's prototype; D: the 95th percentile of the support
beats' distances to their own prototype; tau: their mean). A beat inside the spread of this patient's labelled beats of
a class is pulled to it (mostly: this patient's normal beats, the inter-patient model's false S and F); beats outside
it keep the global posterior. The weight is chosen on the validation records; 0 is the global model. (A first version
also pushed beats outside every prototype to the classes the support lacks; it lowered validation jkappa by 0.12-0.19 at
every weight and was dropped.) No weight of the network is trained.

This module is the method, generic over the features; a task that has patients to adapt to implements
`Task.patient_items` for it (the beat world: `tasks/ecg_beats/adaptation.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # the correction's strength, chosen on validation records (0: the global model)


def adapt(probs: np.ndarray, features: np.ndarray, support: np.ndarray, support_y: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """Adapted class probabilities (n, C) of every beat, from the global `probs`, encoder `features` and the labelled
    `support` positions with their classes `support_y`; `weight` scales the correction (0: the global model)."""
    classes = np.unique(support_y)
    protos = np.stack([features[support[support_y == c]].mean(axis=0) for c in classes])  # (present, f)
    own = ((features[support] - protos[np.searchsorted(classes, support_y)]) ** 2).sum(axis=1)  # support to its prototype
    tau = max(float(own.mean()), 1e-6)
    far = float(np.percentile(own, 95))
    dist = ((features[:, None, :] - protos[None, :, :]) ** 2).sum(axis=2)  # (n, present)
    bonus = np.zeros(probs.shape)
    bonus[:, classes] = np.maximum(far - dist, 0.0) / tau  # only beats inside the support's own spread are pulled
    logp = np.log(np.clip(probs, 1e-12, 1.0)) + weight * bonus
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


@dataclass
class Adapted:
    """One record's remaining beats: truth, global and adapted probabilities."""

    record: str
    y: np.ndarray
    global_probs: np.ndarray
    adapted_probs: np.ndarray


@dataclass
class PatientItems:
    """What adaptation needs of a set of labelled items: the truth, the model's probabilities and encoder features, each
    item's patient record (`units`), and `order`: positions sorted by record, then in the order a person labels them."""

    y: np.ndarray
    probs: np.ndarray
    features: np.ndarray
    units: np.ndarray
    order: np.ndarray


def adapt_records(items: PatientItems, k: int, weight: float = 1.0) -> list[Adapted]:
    """Per record: its first k items in `order` (in time) are the support, the rest the queries; records with no more
    than k items are skipped."""
    out = []
    for record in dict.fromkeys(items.units[items.order].tolist()):
        index = items.order[items.units[items.order] == record]
        if len(index) <= k:
            continue
        support, query = index[:k], index[k:]
        adapted = adapt(items.probs[index], items.features[index], np.arange(k), items.y[support], weight)[k:]
        out.append(Adapted(str(record), items.y[query], items.probs[query], adapted))
    return out


def summarise(parts: list[Adapted], label_names: list[str], n_boot: int, seed: int) -> dict[str, Any]:
    """jkappa and S/V Se and +P of the global and the adapted model on the same remaining beats, record-bootstrap CIs."""
    from medrnn.metrics.classification import evaluate

    y = np.concatenate([p.y for p in parts])
    units = np.concatenate([[p.record] * len(p.y) for p in parts])
    out: dict[str, Any] = {"records": len(parts), "beats": int(len(y))}
    both = {"global": np.concatenate([p.global_probs for p in parts]), "adapted": np.concatenate([p.adapted_probs for p in parts])}
    for name, probs in both.items():
        report = evaluate(y, probs, label_names, units=units, unit="records", n_boot=n_boot, seed=seed, headline="jkappa")
        row = {"jkappa": report.overall.get("jkappa"), "jkappa_ci": report.ci.get("overall.jkappa")}
        for c in ("S", "V"):
            if c in report.per_label:
                row[f"{c}_se"], row[f"{c}_ppv"] = report.per_label[c].get("se"), report.per_label[c].get("ppv")
        out[name] = row
    out["jkappa_gain"] = None if out["global"]["jkappa"] is None else round(out["adapted"]["jkappa"] - out["global"]["jkappa"], 4)
    return out


def patient_adaptation(run_dir: Any, ks: list[int], n_boot: int = 200, seed: int = 0) -> dict[str, Any]:
    """The run at `run_dir` (its config.yaml and model/) adapted to each test patient with k labelled items, for every k:
    metrics of the global and the adapted model on the same remaining items. The run's task says what an item and a
    patient are (`Task.patient_items`); one without patients to adapt to is refused before any data is read."""
    from pathlib import Path

    from medrnn.config import load_config
    from medrnn.errors import ConfigError
    from medrnn.predict import Predictor
    from medrnn.tasks.base import Task

    run_dir = Path(run_dir)
    predictor = Predictor.from_artifact(run_dir)
    task = predictor.task
    if type(task).patient_items is Task.patient_items:
        task.patient_items(predictor, None, np.zeros(0, dtype=int))  # raises the task's own "no patient adaptation" error
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir}: no config.yaml; give the run folder (not RUN/model): its test records are read from it")
    config = load_config(run_dir / "config.yaml", task.config_class)
    data = task.load(config)
    split = task.split(data, config)
    label_names = list(predictor.pipeline.label_names)
    # the correction's weight is chosen on the validation records (patients the model did not train on), never on test
    val = task.patient_items(predictor, data, split.val)
    gains = {}
    for weight in WEIGHTS:
        per_k = [summarise(parts, label_names, 0, seed)["jkappa_gain"] or 0.0 for k in ks if (parts := adapt_records(val, k, weight))]
        gains[str(weight)] = float(np.mean(per_k)) if per_k else 0.0
    weight = max(WEIGHTS, key=lambda w: (gains[str(w)], -w))
    test = task.patient_items(predictor, data, split.test)
    results: dict[str, Any] = {"run": str(run_dir), "support": f"the first k items of each test record, in time ({task.name})",
                               "weight": weight, "validation_jkappa_gain_by_weight": gains, "per_k": {}}  # fmt: skip
    for k in ks:
        results["per_k"][str(k)] = summarise(adapt_records(test, k, weight), label_names, n_boot, seed)
    return results
