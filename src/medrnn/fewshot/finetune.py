"""The fine-tuning baseline: the encoder pretrained multi-task on the training tasks, then a new head fitted on the support."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.fewshot.protonet import BatchFn


def pretrain_multitask(model: nn.Module, batch_of: BatchFn, y: np.ndarray, epochs: int, batch_size: int = 64, lr: float = 1e-3,
                       seed: int = 0, log: bool = False, lengths: np.ndarray | None = None) -> dict[str, Any]:  # fmt: skip
    """Train `model` (one output per training task) with BCE masked to the labelled entries of `y` (n_items, n_train_tasks).

    A hand-written loop beside the episodic one: a few epochs over the same token batches, without validation (the
    held-out tasks are the test; nothing of theirs is seen here).
    """
    from medrnn.data.sampling import LengthBucketSampler

    torch.manual_seed(seed)
    labelled = np.flatnonzero(~np.isnan(y).all(axis=1))
    # batches of similar length (the SMILES loaders' sampler), reshuffled every epoch
    sampler = LengthBucketSampler(lengths[labelled] if lengths is not None else np.ones(len(labelled)), batch_size, True, seed)
    target = torch.as_tensor(y, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start, losses = time.perf_counter(), []
    model.train()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        epoch_losses = []
        for positions in sampler:
            index = labelled[np.asarray(positions)]
            t = target[index]
            mask = ~torch.isnan(t)
            logits = model(batch_of(index)).logits  # (batch, n_train_tasks)
            loss = nn.functional.binary_cross_entropy_with_logits(logits[mask], t[mask])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_losses.append(loss.item())
        losses.append(float(np.mean(epoch_losses)))
        if log:
            print(f"pretrain epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}", flush=True)
    model.eval()
    return {"epochs": epochs, "loss_per_epoch": [round(v, 4) for v in losses], "seconds": round(time.perf_counter() - start, 1)}


def head_scores(support: np.ndarray, support_y: np.ndarray, query: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Scores of the queries from a new linear head (L2 logistic regression, scikit-learn) fitted on the support features;
    features standardised on the support (2k items are too few to tune anything else)."""
    from sklearn.linear_model import LogisticRegression

    mean, std = support.mean(0), support.std(0) + 1e-6
    head = LogisticRegression(C=c, max_iter=1000).fit((support - mean) / std, support_y.astype(int))
    return head.decision_function((query - mean) / std)
