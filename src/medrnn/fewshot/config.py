"""Configuration of a few-shot run: which table, which tasks are held out, k, episodes, and the training budgets."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from medrnn.config.schema import StrictConfig
from medrnn.tasks.molecules.config import SmilesModelConfig

METHODS = ("rf_ecfp", "finetune", "pretrained_prototypes", "protonet")  # run in this order: quick results first
# Altae-Tran et al. 2017 (DeepChem examples/low_data, TaskSplitter.k_fold_split with K=4, last fold held out)
HELD_OUT_TASKS = {"tox21": 3, "sider": 6}


class FewShotMoleculeConfig(StrictConfig):
    """One few-shot benchmark on a multi-task MoleculeNet table; written beside the results."""

    data: str = "tox21"  # tox21 or sider (or another multi-task classification table MoleculeNet name)
    n_test_tasks: int | None = Field(None, ge=1, description="the last N label columns are held out; None: the paper's (tox21 3, sider 6)")
    k: list[int] = [1, 5, 10]  # support = k positives + k negatives
    episodes: int = Field(20, ge=1, description="episodes per held-out task and k (Altae-Tran et al.: 20 trials)")
    max_query: int | None = Field(None, ge=2, description="queries per episode; None: every other labelled molecule of the task")
    methods: list[Literal["rf_ecfp", "finetune", "pretrained_prototypes", "protonet"]] = list(METHODS)
    meta_steps: int = Field(1000, ge=1, description="meta-training episodes of the prototypical network")
    meta_lr: float = Field(1e-3, gt=0)
    meta_query: int = Field(128, ge=2, description="queries per meta-training episode (DeepChem's test batch size)")
    pretrain_epochs: int = Field(5, ge=1, description="multi-task pretraining epochs of the fine-tuning baseline")
    pretrain_lr: float = Field(1e-3, gt=0)
    model: SmilesModelConfig = SmilesModelConfig(dropout=0.1)
    seed: int = 0
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples of the episodes for the CIs")

    @field_validator("k")
    @classmethod
    def _k(cls, v: list[int]) -> list[int]:
        if not v or min(v) < 1:
            raise ValueError(f"k must be a non-empty list of positive ints (support = k positives + k negatives), got {v}")
        return sorted(set(v))

    def held_out(self) -> int:
        """How many of the last label columns are held out for meta-testing."""
        if self.n_test_tasks is not None:
            return self.n_test_tasks
        if self.data.lower() not in HELD_OUT_TASKS:
            raise ValueError(f"data {self.data!r}: give n_test_tasks (the paper's split is known for {', '.join(HELD_OUT_TASKS)})")
        return HELD_OUT_TASKS[self.data.lower()]
