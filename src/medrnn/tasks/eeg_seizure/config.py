"""Configuration of EEG seizure runs on the Bonn database (Andrzejak 2001): protocol, windows, split, augmentation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from medrnn.config.schema import ModelConfig, StrictConfig, TrainConfig
from medrnn.transforms.signal_augment import parse_augments

# protocol -> (label names, set letter -> class index). Sets: A/B healthy surface EEG (eyes open/closed), C/D
# seizure-free intracranial EEG (opposite hemisphere / epileptogenic zone), E ictal intracranial EEG.
PROTOCOLS: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    "A_vs_E": (("non-seizure", "seizure"), {"A": 0, "E": 1}),
    "ABCD_vs_E": (("non-seizure", "seizure"), {"A": 0, "B": 0, "C": 0, "D": 0, "E": 1}),
    "five_sets": (("A", "B", "C", "D", "E"), {"A": 0, "B": 1, "C": 2, "D": 3, "E": 4}),
}
SET_FOLDERS = {"A": "Z", "B": "O", "C": "N", "D": "F", "E": "S"}  # set letter -> folder of the distribution


class EegDataConfig(StrictConfig):
    """Which sets, how segments are cut into windows, and how segments are split."""

    dataset: str = "bonn_eeg"
    protocol: Literal["A_vs_E", "ABCD_vs_E", "five_sets"] = "A_vs_E"
    sfreq_hz: float = 173.61  # rate of the Bonn segments; EDF inputs at another rate are resampled to it in predict
    window_s: float = Field(4.0, gt=0, description="window length, seconds")
    stride_s: float = Field(2.0, gt=0, description="step between window starts, seconds")
    # fixed: stratified train/val/test by segment (sizes); cv: stratified k folds by segment, test = fold, val = fold+1
    split: Literal["fixed", "cv"] = "fixed"
    sizes: tuple[float, float, float] = (0.6, 0.2, 0.2)
    folds: int = Field(5, ge=3)
    fold: int = Field(0, ge=0)
    max_segments_per_set: int | None = Field(None, ge=2, description="first N segments of each set (quick runs)")

    @field_validator("fold")
    @classmethod
    def _fold_in_range(cls, v: int, info) -> int:  # noqa: ANN001
        folds = info.data.get("folds", 5)
        if v >= folds:
            raise ValueError(f"fold {v} must be below folds={folds}")
        return v


class EegTrainConfig(TrainConfig):
    """TrainConfig with the EEG defaults; the signal batch augmentation (train.augment) off, as in the benchmarked recipe.

    A subclass, not a `TrainConfig(...)` instance as the field's default: a config that gives `train` only some fields
    (the quick run) keeps these defaults instead of falling back to TrainConfig's."""

    batch_size: int = Field(64, ge=1)
    max_epochs: int = Field(15, ge=1)
    patience: int = Field(4, ge=1)
    augment: bool = False


class EegRunConfig(StrictConfig):
    """Everything that defines one EEG seizure run; written to config.yaml beside its outputs."""

    data: EegDataConfig = EegDataConfig()
    model: ModelConfig = ModelConfig(attention=True, hidden_size=32, frontend_channels=16, frontend_layers=3)
    # train.augment: the signal worlds' batch gain, noise and jitter (Task.batch_augment), off by default; `augment` below
    # is this task's window augmentation
    train: EegTrainConfig = EegTrainConfig()
    # training-window augmentations: 'name[:strength[:p]]' with names scale, wander, noise, shift, mixup
    augment: list[str] = []
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by segment) for the CIs")

    @field_validator("augment")
    @classmethod
    def _known_augments(cls, v: list[str]) -> list[str]:
        parse_augments(v)  # raises ConfigError naming the valid augmentations
        return v
