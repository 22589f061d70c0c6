"""The one LightningModule: loss and monitored metric follow the output kind; masked losses ignore missing labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medrnn.config import TrainConfig
from medrnn.data.batch import make_batch
from medrnn.errors import ConfigError
from medrnn.models.base import ModelOutput
from medrnn.tasks.base import ExtraLoss
from medrnn.tasks.icd_coding.config import NotesTrainConfig
from medrnn.train.losses import masked_loss, mean_average_precision
from medrnn.train.task_module import TaskModule


class Linear(nn.Module):
    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.layer = nn.Linear(3, outputs)

    def forward(self, batch):  # (batch, time, 3) -> last step -> (batch, outputs)
        return ModelOutput(self.layer(batch.x[:, -1]), attention=None)


def test_mean_average_precision_skips_rows_without_gold_and_ranks_by_score() -> None:
    y = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=np.float32)
    s = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.9, 0.3, 0.8, 0.2], [0.5, 0.4, 0.3, 0.2, 0.1]])
    assert mean_average_precision(y, s) == pytest.approx((5 / 6 + 1 / 4) / 2)  # the third row has no gold code
    assert mean_average_precision(y, -s) < mean_average_precision(y, s)
    assert np.isnan(mean_average_precision(np.zeros((2, 3)), np.zeros((2, 3))))


@pytest.mark.parametrize(("kind", "monitor", "expected"), [
    ("multiclass", "val_macro_f1", ("val_macro_f1", "max")), ("binary", "auto", ("val_roc_auc", "max")),
    ("multilabel", "val_map", ("val_map", "max")), ("regression", "auto", ("val_rmse", "min")),
    ("binary", "val_loss", ("val_loss", "min")),
])  # fmt: skip
def test_monitor_follows_output_kind_and_config(kind: str, monitor: str, expected: tuple[str, str]) -> None:
    config = TrainConfig.model_construct(**{**TrainConfig().model_dump(), "monitor": monitor})
    assert TaskModule(Linear(2), config, kind, 2).monitor == expected
    assert TaskModule(Linear(2), NotesTrainConfig(), "multilabel", 2).monitor == ("val_map", "max")
    with pytest.raises(ConfigError, match="output kind"):
        TaskModule(Linear(2), config, "ranking", 2)


def test_masked_losses_ignore_missing_labels_and_keep_the_graph() -> None:
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]], requires_grad=True)
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    bce = masked_loss(logits, y, "classification")
    by_hand = torch.nn.functional.binary_cross_entropy_with_logits(logits[[0, 1, 1], [0, 0, 1]], y[[0, 1, 1], [0, 0, 1]])
    assert bce.item() == pytest.approx(by_hand.item())
    mse = masked_loss(logits, y, "regression")
    assert mse.item() == pytest.approx(((0 - 1) ** 2 + (1 - 0) ** 2 + (-1 - 1) ** 2) / 3)
    empty = masked_loss(logits, torch.full_like(y, float("nan")), "classification")
    empty.backward()  # no label at all: zero loss that still carries the graph
    assert empty.item() == 0.0 and logits.grad is not None


def test_extra_loss_is_added_with_its_weight() -> None:
    class Constant(ExtraLoss):
        weight, name = 0.5, "constant"

        def __call__(self, output, batch):
            return torch.tensor(2.0)

    batch = make_batch(torch.randn(4, 5, 3), y=torch.tensor([[1.0], [0.0], [1.0], [0.0]]))
    model = Linear(1).eval()
    config = TrainConfig(augment=False)
    plain = TaskModule(model, config, "binary", 1).training_step(batch, 0)
    extra = TaskModule(model, config, "binary", 1, extra_loss=Constant()).training_step(batch, 0)
    assert extra.item() == pytest.approx(plain.item() + 0.5 * 2.0)


def test_the_tasks_batch_augmentation_is_what_training_applies() -> None:
    from medrnn.errors import ConfigError
    from medrnn.tasks.base import get_task
    from medrnn.train.augment import augment_batch

    seen = []
    batch = make_batch(torch.randn(4, 5, 3), y=torch.tensor([[1.0], [0.0], [1.0], [0.0]]))
    TaskModule(Linear(1), TrainConfig(), "binary", 1, augment=lambda b: seen.append(b) or b).training_step(batch, 0)
    assert len(seen) == 1  # whatever train.augment says, the module applies the task's augmentation, and only it
    notes = get_task("icd_coding")
    config = notes.config_class()
    assert notes.batch_augment(config) is None
    with pytest.raises(ConfigError, match="'icd_coding': train.augment=true, but this task has no batch augmentation"):
        notes.batch_augment(config.model_copy(update={"train": config.train.model_copy(update={"augment": True})}))
    af = get_task("af_rhythm")
    assert af.batch_augment(af.config_class()) is augment_batch  # the signal worlds' gain, noise and jitter
