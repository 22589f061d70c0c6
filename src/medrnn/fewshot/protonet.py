"""Prototypical networks (Snell et al. 2017) over any registered model's `encode(batch).features`.

A class prototype is the mean feature vector of its support items; a query's score is the softmax over negative squared
Euclidean distances to the two prototypes, so P(positive) = sigmoid(|q - p0|^2 - |q - p1|^2).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.fewshot.episodes import EpisodeSampler

BatchFn = Callable[[np.ndarray], Batch]  # item positions -> the model's input batch


def prototype_logits(support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Log-odds of the positive class for queries (n_query,), from support features (n_support, f) and 0/1 labels."""
    pos, neg = support[support_y > 0.5].mean(0), support[support_y <= 0.5].mean(0)  # (f,) each
    return ((query - neg) ** 2).sum(-1) - ((query - pos) ** 2).sum(-1)  # (n_query,)


def encode_sorted(model: nn.Module, batch_of: BatchFn, index: np.ndarray, lengths: np.ndarray | None, chunk: int = 32) -> torch.Tensor:
    """Features (n, f) of the items at `index`, in that order, encoded in chunks of similar length (with gradients when
    the model trains): a 40-token molecule does not wait on a 600-token one, and padding never changes a feature."""
    order = np.argsort(lengths[index], kind="stable") if lengths is not None else np.arange(len(index))
    parts = [model.encode(batch_of(index[order[i : i + chunk]])).features for i in range(0, len(index), chunk)]
    features = torch.cat(parts)
    return features[torch.as_tensor(np.argsort(order))]  # back to the order of `index`


@torch.no_grad()
def encode_items(model: nn.Module, batch_of: BatchFn, index: np.ndarray, lengths: np.ndarray | None = None,
                 batch_size: int = 256) -> torch.Tensor:  # fmt: skip
    """Encoder features (n, f) of the items at `index`, eval mode, length-sorted batches."""
    model.eval()
    if len(index) == 0:
        return torch.zeros(0)
    return encode_sorted(model, batch_of, np.asarray(index), lengths, batch_size)


def meta_train(model: nn.Module, batch_of: BatchFn, sampler: EpisodeSampler, ks: Sequence[int], steps: int, lr: float = 1e-3,
               seed: int = 0, max_query: int = 128, log_every: int = 0, lengths: np.ndarray | None = None) -> dict[str, Any]:  # fmt: skip
    """Episodic training of the encoder on the training tasks only: each step one episode (k drawn from `ks`), binary
    cross-entropy of the prototype logits of its queries. Returns loss and timing for the results file.

    A hand-written loop: a step is an episode (support + queries of one task), not a batch Lightning's loaders draw.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses, start = [], time.perf_counter()
    model.train()
    for step in range(steps):
        ep = sampler.meta_train_episode(int(rng.choice(list(ks))), rng, max_query)
        features = encode_sorted(model, batch_of, np.concatenate([ep.support, ep.query]), lengths)  # (2k + n_query, f)
        logits = prototype_logits(features[: len(ep.support)], torch.as_tensor(ep.support_y), features[len(ep.support) :])
        loss = nn.functional.binary_cross_entropy_with_logits(logits, torch.as_tensor(ep.query_y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            print(f"meta-train step {step + 1}/{steps}: loss {np.mean(losses[-log_every:]):.4f}", flush=True)
    model.eval()
    tail = losses[-max(1, steps // 10) :]
    return {"steps": steps, "final_loss": float(np.mean(tail)) if tail else None, "seconds": round(time.perf_counter() - start, 1)}
