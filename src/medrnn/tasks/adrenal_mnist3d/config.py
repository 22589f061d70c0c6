"""Configuration of AdrenalMNIST3D runs: the file, the official split, the slice model and its training."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medrnn.config.schema import StrictConfig, TrainConfig, VolumeAugmentConfig


class AdrenalDataConfig(StrictConfig):
    """Which file; the split is MedMNIST's official one (1,188 / 98 / 298 volumes)."""

    dataset: str = "medmnist3d"  # the catalogue name, or a folder holding the .npz
    file: str = "adrenalmnist3d.npz"
    max_per_split: int | None = Field(None, ge=10, description="the first N volumes of each split, for smoke runs and --quick")
    region_px: int = Field(7, ge=1, description="explanations: attributions summed over square regions of this many pixels")


class AdrenalModelConfig(StrictConfig):
    """The slice model (models/slice_rnn.py): 28x28 slices, two CNN blocks (28 -> 14 -> 7)."""

    name: str = "slice_rnn"
    cnn_channels: int | list[int] = 8  # shape masks need few filters; 8 -> 16 trains ~3x faster on CPU than 16 -> 32
    cnn_blocks: int = Field(2, ge=1)
    hidden_size: int = Field(32, ge=1)
    num_layers: int = Field(1, ge=1)
    dropout: float = Field(0.3, ge=0, lt=1)
    attention_size: int = Field(32, ge=1)
    head_hidden: int = Field(32, ge=0)


class AdrenalTrainConfig(VolumeAugmentConfig, TrainConfig):
    """Early stopping on validation ROC-AUC; no augmentation by default (the benchmarked recipe; the volume augmentation's
    spatial parts can be switched on, its intensity part stays off); no ECG augmentation."""

    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(40, ge=1)
    patience: int = Field(8, ge=1)
    weight_decay: float = Field(1e-4, ge=0)
    monitor: Literal["auto", "val_loss"] = "auto"  # type: ignore[assignment]  # auto: validation ROC-AUC
    augment: bool = False
    flip: bool = False  # the benchmarked AdrenalMNIST3D recipe reads the volumes as they are
    intensity_scale: float = Field(0.0, ge=0, lt=1)  # shape masks: their values say inside/outside, not a grey level
    intensity_shift: float = Field(0.0, ge=0)


class AdrenalRunConfig(StrictConfig):
    """Everything that defines one AdrenalMNIST3D run; written to config.yaml beside its outputs."""

    data: AdrenalDataConfig = AdrenalDataConfig()
    model: AdrenalModelConfig = AdrenalModelConfig()
    train: AdrenalTrainConfig = AdrenalTrainConfig()
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by volume) for the CIs")
