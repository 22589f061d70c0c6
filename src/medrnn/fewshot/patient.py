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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import make_batch

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # the correction's strength, chosen on validation records (0: the global model)


@torch.no_grad()
def encode_beats(model: nn.Module, x: np.ndarray, static: np.ndarray | None, batch_size: int = 1024) -> np.ndarray:
    """Encoder features (n, f) of fixed-length beats (the model's `encode`, eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        sb = None if static is None else torch.as_tensor(static[i : i + batch_size], device=device)
        out.append(model.encode(make_batch(torch.as_tensor(x[i : i + batch_size], device=device), static=sb)).features.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


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


def adapt_records(model: nn.Module, probs: np.ndarray, x: np.ndarray, static: np.ndarray | None, y: np.ndarray, records: np.ndarray,
                  order: np.ndarray, k: int, weight: float = 1.0, features: np.ndarray | None = None) -> list[Adapted]:  # fmt: skip
    """Per record: its first k beats in time (`order` sorts beats by record then sample) are the support, the rest the
    queries; records with no more than k beats are skipped."""
    features = encode_beats(model, x, static) if features is None else features
    out = []
    for record in dict.fromkeys(records[order].tolist()):
        index = order[records[order] == record]
        if len(index) <= k:
            continue
        support, query = index[:k], index[k:]
        adapted = adapt(probs[index], features[index], np.arange(k), y[support], weight)[k:]
        out.append(Adapted(str(record), y[query], probs[query], adapted))
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
    """The inter-patient ECG run at `run_dir` (its config.yaml and model/) adapted to each test patient with k labelled
    beats, for every k: metrics of the global and the adapted model on the same remaining beats."""
    from pathlib import Path

    from medrnn.config import load_config
    from medrnn.errors import ConfigError
    from medrnn.predict import Predictor
    from medrnn.tasks.base import InputItem

    run_dir = Path(run_dir)
    predictor = Predictor.from_artifact(run_dir)
    task = predictor.task
    if task.name != "ecg_beats":  # this module is the beat world's patient adaptation, not a generic layer
        raise ConfigError(f"{run_dir}: a {task.name!r} run; patient adaptation adapts a beat classifier (medrnn train mitdb)")
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir}: no config.yaml; give the run folder (not RUN/model): its test records are read from it")
    config = load_config(run_dir / "config.yaml", task.config_class)
    data = task.load(config)
    split = task.split(data, config)
    label_names = list(predictor.pipeline.label_names)

    def prepared(index: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        beats = task.subset(data, index)
        x = predictor.pipeline.inputs(beats)  # what the model reads: windows, or each beat's neighbourhood (rhythm model)
        feats = encode_beats(predictor.model, x, predictor.pipeline.static(beats))
        return beats, x, predictor.score(InputItem("beats", beats)).values, feats, np.lexsort((beats.sample, beats.record))

    # the correction's weight is chosen on the validation records (DS1 patients the model did not train on), never on test
    val, val_x, val_probs, val_feats, val_order = prepared(split.val)
    gains = {}
    for weight in WEIGHTS:
        per_k = []
        for k in ks:
            parts = adapt_records(predictor.model, val_probs, val_x, None, val.y, val.record, val_order, k, weight, val_feats)
            if parts:
                per_k.append(summarise(parts, label_names, 0, seed)["jkappa_gain"] or 0.0)
        gains[str(weight)] = float(np.mean(per_k)) if per_k else 0.0
    weight = max(WEIGHTS, key=lambda w: (gains[str(w)], -w))
    test, test_x, probs, feats, order = prepared(split.test)
    results: dict[str, Any] = {"run": str(run_dir), "support": "the first k beats of each test record, in time",
                               "weight": weight, "validation_jkappa_gain_by_weight": gains, "per_k": {}}  # fmt: skip
    for k in ks:
        parts = adapt_records(predictor.model, probs, test_x, None, test.y, test.record, order, k, weight, feats)
        results["per_k"][str(k)] = summarise(parts, label_names, n_boot, seed)
    return results
