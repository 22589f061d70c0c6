"""Predictors: ECG record -> per-beat classes, SMILES -> properties. The only inference path; CLI and evaluation call it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from medrnn.artifact import load_artifact
from medrnn.data.batch import collate, make_batch
from medrnn.data.molecules import SmilesDataset, collate_tokens
from medrnn.errors import ArtifactError
from medrnn.records import SignalRecord
from medrnn.tasks.ecg_beats.beats import extract_beats
from medrnn.tasks.ecg_beats.config import BeatDataConfig
from medrnn.transforms.peaks import detect_r_peaks
from medrnn.transforms.smiles import Vocabulary, randomize_smiles, tokenize
from medrnn.transforms.standardize import Standardizer


def auto_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def predict_sigmoid(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> np.ndarray:
    """Independent probabilities (n, outputs) for every item of `dataset`, in order (binary and multi-label tasks)."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    device = next(model.parameters()).device
    return torch.cat([torch.sigmoid(model(b.to(device)).logits).cpu() for b in loader]).numpy().astype(np.float64)


@torch.no_grad()
def predict_proba(
    model: nn.Module, x: np.ndarray, static: np.ndarray | None = None, batch_size: int = 1024, device: torch.device | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities (n, classes) and attention (n, time') for fixed-length inputs x (n, time, features)."""
    device = device or next(model.parameters()).device
    model.eval()
    probs, attention = [], []
    for i in range(0, x.shape[0], batch_size):
        xb = torch.as_tensor(x[i : i + batch_size], device=device)
        sb = None if static is None else torch.as_tensor(static[i : i + batch_size], device=device)
        out = model(make_batch(xb, static=sb))
        probs.append(torch.softmax(out.logits, dim=-1).cpu().numpy())
        if out.attention is not None:
            attention.append(out.attention.cpu().numpy())
    return np.concatenate(probs), (np.concatenate(attention) if attention else None)


@dataclass
class BeatPredictions:
    """Per-beat output for one record: R-peak sample, time, class and probabilities."""

    record_id: str
    sample: np.ndarray
    time_s: np.ndarray
    label: list[str]
    probs: np.ndarray  # (n_beats, n_classes)
    class_names: list[str]
    attention: np.ndarray | None = None  # (n_beats, time') when the model pools with attention

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per beat, for CSV/JSON output."""
        return [
            {
                "record": self.record_id,
                "sample": int(s),
                "time_s": round(float(t), 4),
                "class": lab,
                **{f"p_{c}": round(float(p), 5) for c, p in zip(self.class_names, prob)},
            }
            for s, t, lab, prob in zip(self.sample, self.time_s, self.label, self.probs)
        ]


class Predictor:
    """A trained beat classifier with its preprocessing, loaded from an artifact; no training data needed."""

    def __init__(self, model: nn.Module, metadata: dict[str, Any]) -> None:
        self.model, self.metadata = model, metadata
        prep = metadata["preprocessing"]
        self.beat_config = BeatDataConfig.model_validate(prep["beats"])
        self.rr_scaler = Standardizer.from_state(prep["rr_scaler"]) if prep.get("rr_scaler") else None
        self.class_names = list(metadata["class_names"])

    @classmethod
    def from_artifact(cls, path: str | Path, device: str | torch.device | None = None) -> Predictor:
        model, meta = load_artifact(path, device=device or auto_device())
        return cls(model, meta)

    def predict(self, record: SignalRecord, peaks: np.ndarray | None = None) -> BeatPredictions:
        """Detect R peaks (XQRS) unless given, then classify every beat of the record."""
        cfg = self.beat_config
        if peaks is None:
            lead = record.lead(cfg.lead)
            peaks = detect_r_peaks(lead, record.sfreq_hz, source=record.source or record.record_id)
        beats = extract_beats(record, cfg, peaks=peaks)
        static = self.rr_scaler.transform(beats.rr) if self.rr_scaler is not None else None
        probs, attention = predict_proba(self.model, beats.x, static)
        labels = [self.class_names[i] for i in probs.argmax(axis=1)]
        return BeatPredictions(record.record_id, beats.sample, beats.sample / record.sfreq_hz, labels, probs, self.class_names, attention)


@dataclass
class SmilesScores:
    """Model output for a list of SMILES: scores in task units, canonical-pass attention, unknown tokens."""

    scores: np.ndarray  # (n, n_tasks): probabilities (classification) or original units (regression)
    tokens: list[list[str]]  # canonical tokens per molecule
    attention: list[np.ndarray] | None  # per molecule, one weight per token (canonical SMILES), or None
    unknown_tokens: int  # tokens of the canonical SMILES mapped to <unk>


@torch.no_grad()
def predict_smiles(
    model: nn.Module,
    vocab: Vocabulary,
    smiles: list[str],
    task_type: str,
    scaler: Standardizer | None = None,
    tta: int = 0,
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device | None = None,
) -> SmilesScores:
    """Score canonical SMILES, averaged with `tta` random SMILES of each molecule (test-time augmentation).

    Probabilities (or scaled regression outputs) are averaged over the 1 + tta views; regression outputs
    are then mapped back to original units with the training `scaler`.
    """
    device = device or next(model.parameters()).device
    model.eval()
    views = [list(smiles)] + [
        [randomize_smiles(s, 1, seed * 7919 + k * 104729 + i)[0] for i, s in enumerate(smiles)] for k in range(1, tta + 1)
    ]
    total, attention, tokens, unknown = None, None, [], 0
    for k, view in enumerate(views):
        dataset = SmilesDataset(view, None, vocab)
        order = np.argsort(dataset.lengths, kind="stable")  # batches of similar length: little padding
        scores: np.ndarray | None = None
        weights: list[np.ndarray | None] = [None] * len(view)
        for start in range(0, len(view), batch_size):
            index = order[start : start + batch_size]
            batch = collate_tokens([dataset[int(i)] for i in index]).to(device)
            out = model(batch)
            values = (torch.sigmoid(out.logits) if task_type == "classification" else out.logits).float().cpu().numpy()
            if scores is None:
                scores = np.zeros((len(view), values.shape[1]))
            scores[index] = values
            if k == 0 and out.attention is not None:
                for i, w, n in zip(index, out.attention, batch.lengths):
                    weights[int(i)] = w[:n].cpu().numpy()
        scores = np.zeros((0, 0)) if scores is None else scores
        total = scores if total is None else total + scores
        if k == 0:
            attention = weights if weights and weights[0] is not None else None
            unknown, tokens = dataset.unknown_tokens, [tokenize(s) for s in view]
    mean = total / len(views)
    if task_type == "regression" and scaler is not None:
        mean = scaler.inverse_transform(mean)
    return SmilesScores(mean, tokens, attention, unknown)


@dataclass
class MoleculePredictions:
    """Predictions for the good rows of a SMILES table, and the rows that could not be read."""

    ids: list[str]
    input_smiles: list[str]
    smiles: list[str]  # canonical
    scores: np.ndarray  # (n, n_tasks)
    task_names: list[str]
    task_type: str
    rejected: list[dict[str, Any]]  # {"row", "smiles", "reason"}
    tokens: list[list[str]]
    attention: list[np.ndarray] | None

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per molecule: id, SMILES, one column per task (p_<task> or the predicted value)."""
        prefix = "p_" if self.task_type == "classification" else ""
        return [
            {"id": i, "smiles": s, "canonical_smiles": c, **{f"{prefix}{t}": round(float(v), 6) for t, v in zip(self.task_names, row)}}
            for i, s, c, row in zip(self.ids, self.input_smiles, self.smiles, self.scores)
        ]


class MoleculePredictor:
    """A trained SMILES model with its vocabulary and target scaler, loaded from an artifact."""

    def __init__(self, model: nn.Module, metadata: dict[str, Any]) -> None:
        self.model, self.metadata = model, metadata
        prep = metadata["preprocessing"]
        self.vocab = Vocabulary.from_state(prep["vocabulary"])
        self.scaler = Standardizer.from_state(prep["target_scaler"]) if prep.get("target_scaler") else None
        self.task_type = str(prep["task_type"])
        self.task_names = list(metadata["class_names"])
        self.tta = int(prep.get("tta", 0))

    @classmethod
    def from_artifact(cls, path: str | Path, device: str | torch.device | None = None) -> MoleculePredictor:
        model, meta = load_artifact(path, device=device or auto_device())
        if meta.get("task") != "smiles":
            raise ArtifactError(f"{path}: artifact task is {meta.get('task', 'mitdb beats')!r}, not a SMILES model")
        return cls(model, meta)

    def predict_smiles(self, smiles: list[str], tta: int | None = None) -> SmilesScores:
        """Scores for already canonical, valid SMILES."""
        return predict_smiles(self.model, self.vocab, smiles, self.task_type, self.scaler, self.tta if tta is None else tta)

    def predict_file(self, path: str | Path, smiles_column: str | None = None, id_column: str | None = None) -> MoleculePredictions:
        """Read a CSV of SMILES; predict every row RDKit can parse and report the others with their reason."""
        from medrnn.io.smiles import read_smiles_csv

        table, report = read_smiles_csv(path, targets=(), smiles_column=smiles_column, id_column=id_column)
        out = self.predict_smiles(list(table.smiles))
        rejected = [{"row": r.row, "smiles": r.smiles, "reason": r.reason} for r in report.rejected]
        return MoleculePredictions(list(table.ids), list(table.input_smiles), list(table.smiles), out.scores, self.task_names,
                                   self.task_type, rejected, out.tokens, out.attention)  # fmt: skip
