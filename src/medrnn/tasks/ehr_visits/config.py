"""Configuration of coded-visit runs (MIMIC admissions -> mortality, readmission, next diagnoses)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medrnn.config.schema import StrictConfig, TrainConfig


class VisitDataConfig(StrictConfig):
    """Which MIMIC tables, which task, how codes become inputs, how patients are split."""

    data: str = "mimic4-demo"  # a dataset name under the data root (mimic3-demo, mimic4-demo) or a MIMIC folder
    task: Literal["next_admission_mortality", "readmission_30d", "next_visit_diagnosis"] = Field(
        "readmission_30d", description="the prediction target (targets.TARGETS); --task or --target on the command line"
    )
    code_sources: list[Literal["diagnoses", "procedures", "prescriptions", "labevents"]] = ["diagnoses", "procedures", "prescriptions"]
    min_code_count: int = Field(1, ge=1, description="codes seen in fewer training admissions map to <unk>")
    top_k_labels: int = Field(100, ge=1, description="next_visit_diagnosis: predict the k most frequent training diagnoses")
    split_sizes: tuple[float, float, float] = (0.7, 0.15, 0.15)  # by patient; the demos have 100 patients


class VisitModelConfig(StrictConfig):
    """RETAIN by default (per-code contributions); gru/lstm/rnn read the same multi-hot visits; fusion splits codes from labs."""

    name: str = "retain"
    hidden_size: int = 64
    embedding_dim: int = 64
    dropout: float = Field(0.3, ge=0, lt=1)
    bidirectional: bool = False
    attention: bool = False
    head_hidden: int = 0
    # model "fusion" only (models/fusion.py): coded visits and lab items as two modalities (needs labevents in code_sources)
    fusion: Literal["early", "concat", "late", "gated", "codes", "labs"] = "gated"
    branch: Literal["retain", "gru", "lstm", "rnn"] = Field("retain", description="fusion: the model reading each modality")
    modality_dropout: float = Field(0.1, ge=0, lt=1, description="fusion: chance a modality is hidden from a training sample")


class VisitTrainConfig(TrainConfig):
    """TrainConfig for coded visits: small validation sets, so early stopping follows validation loss."""

    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(40, ge=1)
    patience: int = Field(8, ge=1)
    monitor: Literal["auto", "val_loss"] = "val_loss"  # type: ignore[assignment]
    class_weighting: Literal["none"] = "none"  # type: ignore[assignment]
    augment: bool = False
    weight_decay: float = Field(1e-4, ge=0)


class VisitRunConfig(StrictConfig):
    """Everything that defines one visit-sequence run; written to config.yaml beside its outputs."""

    data: VisitDataConfig = VisitDataConfig()
    model: VisitModelConfig = VisitModelConfig()
    train: VisitTrainConfig = VisitTrainConfig()
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by patient: all of its samples together) for the CIs")
