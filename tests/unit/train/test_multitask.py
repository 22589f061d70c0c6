"""MultiTaskModule's dev-MAP monitor (multi-label coding): value, rows without gold codes, and what it follows."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from medrnn.tasks.icd_coding.config import NotesTrainConfig
from medrnn.train.multitask import MultiTaskModule, mean_average_precision


def test_mean_average_precision_skips_rows_without_gold_and_ranks_by_score() -> None:
    y = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=np.float32)
    s = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.9, 0.3, 0.8, 0.2], [0.5, 0.4, 0.3, 0.2, 0.1]])
    assert mean_average_precision(y, s) == pytest.approx((5 / 6 + 1 / 4) / 2)  # the third row has no gold code
    assert mean_average_precision(y, -s) < mean_average_precision(y, s)
    assert np.isnan(mean_average_precision(np.zeros((2, 3)), np.zeros((2, 3))))


def test_notes_training_follows_dev_map_upward() -> None:
    module = MultiTaskModule(nn.Linear(2, 2), NotesTrainConfig(), "classification")
    assert module.monitor == ("val_map", "max")
    module = MultiTaskModule(nn.Linear(2, 2), NotesTrainConfig(monitor="val_loss"), "classification")
    assert module.monitor == ("val_loss", "min")
