"""Configuration of AF rhythm runs (PhysioNet/CinC 2017, single-lead ECG records -> N/A/O/~)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from medrnn.config.schema import ModelConfig, StrictConfig, TrainConfig

SFREQ_HZ = 300.0  # the challenge's recording rate (AliveCor device)


class AfDataConfig(StrictConfig):
    """Which records, how each is filtered and shortened, and how records are split."""

    # "cinc2017_af": the 4,000-record subset under the data root (A00001-A04000); "cinc2017": the full training set
    # (8,528 records, `medrnn data fetch cinc2017`); or a folder of WFDB records with a REFERENCE csv
    dataset: str = "cinc2017_af"
    sfreq_hz: float = Field(SFREQ_HZ, gt=0, description="rate the model is trained at; training records at another rate are refused")
    filter: bool = True  # 0.5-40 Hz zero-phase band-pass: baseline wander and mains noise out
    bandpass_hz: tuple[float, float] = (0.5, 40.0)
    downsample: int = Field(2, ge=1, description="keep every k-th sample after the band-pass (300 -> 150 Hz)")
    min_seconds: float = Field(1.0, gt=0, description="shorter records are refused (a front-end needs some signal)")
    # split: fixed stratified train/val/test by record (the artifact's protocol); cv: stratified k-fold, test = fold
    protocol: Literal["split", "cv"] = "split"
    split_sizes: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_seed: int = Field(0, ge=0, description="seed of the split, fixed apart from the training seed")
    folds: int = Field(5, ge=2)
    fold: int = Field(0, ge=0)
    val_fraction: float = Field(0.15, gt=0, lt=1, description="with protocol cv: stratified share of the training folds for validation")
    # the first N records by name (stratification still holds on what is read), for smoke runs and `--quick`; None: all
    max_records: int | None = Field(None, ge=8)

    @field_validator("fold")
    @classmethod
    def _fold_in_range(cls, fold: int, info: ValidationInfo) -> int:
        folds = info.data.get("folds", 5)
        if fold >= folds:
            raise ValueError(f"out of range for {folds} folds (valid: 0..{folds - 1})")
        return fold


class AfModelConfig(ModelConfig):
    """A CRNN from the registered recurrent models: strided conv front-end (T / 2^layers) -> LSTM -> attention pooling."""

    name: str = "lstm"
    hidden_size: int | list[int] = 64
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = Field(0.2, ge=0, lt=1)
    attention: bool = True
    attention_size: int = 32
    frontend: Literal["conv"] = "conv"  # 9-61 s at 150 Hz is 1,400-9,200 steps: a recurrent layer must not see them all
    frontend_channels: int = 32
    frontend_layers: int = 5  # stride 2 each: 150 Hz -> 4.7 Hz, 61 s -> 287 recurrent steps
    frontend_stride: int = 2
    head_hidden: int = 64


class AfTrainConfig(TrainConfig):
    """TrainConfig with the AF defaults: length-bucketed batches of 32, sqrt class weights (A and ~ are rare)."""

    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(30, ge=1)
    patience: int = Field(6, ge=1)
    class_weighting: Literal["none", "balanced", "sqrt"] = "sqrt"
    sampler: Literal["none"] = "none"  # type: ignore[assignment]  # bucketed batches take the sampler's place
    augment: bool = True  # random gain, noise and a few samples of jitter, padding kept at zero


class AfRunConfig(StrictConfig):
    """Everything that defines one AF rhythm run; written to config.yaml beside its outputs."""

    data: AfDataConfig = AfDataConfig()
    model: AfModelConfig = AfModelConfig()
    train: AfTrainConfig = AfTrainConfig()
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by record) for the CIs")
