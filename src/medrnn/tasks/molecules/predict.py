"""SMILES -> scores: the canonical SMILES plus `tta` random SMILES of each molecule, averaged (test-time augmentation)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from medrnn.tasks.molecules.data import SmilesDataset, collate_tokens
from medrnn.transforms.smiles import Vocabulary, randomize_smiles, tokenize
from medrnn.transforms.standardize import Standardizer


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
    static: np.ndarray | None = None,
) -> SmilesScores:
    """Score canonical SMILES, averaged with `tta` random SMILES of each molecule (test-time augmentation).

    Probabilities (or scaled regression outputs) are averaged over the 1 + tta views; regression outputs
    are then mapped back to original units with the training `scaler`. A molecule's random views are seeded by its
    SMILES, so its score does not depend on the molecules scored beside it. `static`: each molecule's scaled descriptors
    (descriptor fusion), the same for all its views.
    """
    device = device or next(model.parameters()).device
    model.eval()
    views = [list(smiles)] + [
        [randomize_smiles(s, 1, seed * 7919 + k * 104729 + zlib.crc32(s.encode()))[0] for s in smiles] for k in range(1, tta + 1)
    ]
    total, attention, tokens, unknown = None, None, [], 0
    for k, view in enumerate(views):
        dataset = SmilesDataset(view, None, vocab, static=static)
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
