"""LightningModule wrapping any registered model: loss, L1/L2 penalties, optimisers, validation F1."""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassF1Score

from medrnn.config import TrainConfig
from medrnn.data.batch import Batch
from medrnn.errors import ConfigError
from medrnn.train.augment import augment_batch


class ClassifierModule(L.LightningModule):
    """Cross-entropy (optionally class-weighted) + L1 penalty; L2 is the optimiser's weight decay."""

    def __init__(self, model: nn.Module, config: TrainConfig, num_classes: int, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.model, self.config, self.num_classes = model, config, num_classes
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(num_classes))
        # per-class F1 on validation; macro over the classes present (AAMI Q has a handful of beats)
        self.val_f1 = MulticlassF1Score(num_classes=num_classes, average=None)
        self.register_buffer("val_support", torch.zeros(num_classes))

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.model(batch).logits

    def _l1(self) -> torch.Tensor:
        return l1_penalty(self.model)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        if self.config.augment:
            batch = augment_batch(batch)
        logits = self(batch)
        loss = F.cross_entropy(logits, batch.y, weight=self.class_weights)
        if self.config.l1 > 0:
            loss = loss + self.config.l1 * self._l1()
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.y.shape[0])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits = self(batch)
        loss = F.cross_entropy(logits, batch.y, weight=self.class_weights)
        self.log("val_loss", loss, prog_bar=True, batch_size=batch.y.shape[0], sync_dist=True)
        self.val_f1.update(logits, batch.y)
        self.val_support += torch.bincount(batch.y, minlength=self.num_classes).to(self.val_support)

    def on_validation_epoch_end(self) -> None:
        per_class = self.val_f1.compute()
        present = self.val_support > 0
        macro = per_class[present].mean() if present.any() else per_class.mean()
        self.log("val_macro_f1", macro, prog_bar=True, sync_dist=True)
        self.val_f1.reset()
        self.val_support.zero_()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.model.parameters(), self.config)


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
