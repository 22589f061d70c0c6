"""Seeded data loaders and class weights for training (shared by the tasks' `loaders` hooks and the fit loop)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from medrnn.config import TrainConfig
from medrnn.data.batch import collate

MAX_WEIGHT_RATIO = 100.0  # a class with 8 examples would otherwise outweigh 40,000 normal beats 5,000:1


def class_weights(y: np.ndarray, num_classes: int, mode: str) -> np.ndarray:
    """Per-class loss (or sampling) weights: none, balanced (n / (k * n_c)) or its square root; capped."""
    weights = np.ones(num_classes)
    if mode == "none":
        return weights
    present = np.unique(y)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    weights = np.minimum(weights, weights[present].min() * MAX_WEIGHT_RATIO)
    weights[present] /= weights[present].mean()
    return weights



def make_loader(dataset: Dataset, config: TrainConfig, shuffle: bool, sampler_weights: np.ndarray | None = None) -> DataLoader:
    """Seeded loader over `dataset` (collate -> Batch); a weighted sampler when `sampler_weights` are given."""
    generator = torch.Generator().manual_seed(config.seed)
    sampler = None
    if sampler_weights is not None:
        sampler = WeightedRandomSampler(torch.as_tensor(sampler_weights, dtype=torch.double), len(sampler_weights), generator=generator)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        collate_fn=collate,
        generator=generator,
        num_workers=config.num_workers,
    )
