"""Loss pieces and validation scores shared by every task: masked BCE/MSE, L1, optimisers, mean ROC-AUC and MAP."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medrnn.config import TrainConfig
from medrnn.errors import ConfigError


def masked_loss(logits: torch.Tensor, y: torch.Tensor, task_type: str) -> torch.Tensor:
    """Mean BCE-with-logits (classification) or MSE (regression) over labelled entries only; NaN y = missing.

    A batch with no label at all gives a zero loss that still carries the graph (no NaN reaches the optimiser).
    """
    if logits.shape != y.shape:
        raise ConfigError(f"logits {tuple(logits.shape)} and targets {tuple(y.shape)} differ; one output per task expected")
    mask = ~torch.isnan(y)
    if not mask.any():
        return logits.sum() * 0.0
    target = torch.where(mask, y, torch.zeros_like(y))
    if task_type == "classification":
        per_entry = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif task_type == "regression":
        per_entry = (logits - target) ** 2
    else:
        raise ConfigError(f"task_type {task_type!r}; valid: classification, regression")
    return (per_entry * mask).sum() / mask.sum()


def mean_auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Mean ROC-AUC over outputs that have both classes among their labelled rows (NaN if none)."""
    from sklearn.metrics import roc_auc_score

    values = []
    for t in range(y.shape[1]):
        keep = ~np.isnan(y[:, t])
        if keep.any() and len(np.unique(y[keep, t])) == 2:
            values.append(roc_auc_score(y[keep, t], score[keep, t]))
    return float(np.mean(values)) if values else float("nan")


def mean_average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Mean over rows with a gold label of the average precision of ranking that row's labels by score (NaN if none)."""
    from medrnn.metrics.ranking import average_precision_rows

    gold = np.nan_to_num(y) > 0
    rows = gold.any(axis=1)
    return float(average_precision_rows(gold[rows], score[rows]).mean()) if rows.any() else float("nan")


def make_optimizer(params: Iterable[nn.Parameter], c: TrainConfig) -> torch.optim.Optimizer:
    """Adam, SGD (Nesterov when momentum > 0) or RMSprop; L2 via weight decay."""
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=c.momentum > 0)
    if c.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=c.lr, weight_decay=c.weight_decay)
    raise ConfigError(f"optimizer {c.optimizer!r}; valid: adam, sgd, rmsprop")


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of |w| over weight matrices (biases and norms excluded)."""
    return sum(p.abs().sum() for n, p in model.named_parameters() if p.ndim > 1)
