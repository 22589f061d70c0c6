"""Configuration of LIDC nodule malignancy runs: which nodules and labels, how slices are cropped, the slice model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medrnn.config.schema import StrictConfig, TrainConfig, VolumeAugmentConfig


class LidcDataConfig(StrictConfig):
    """Which nodules, which labels, how each nodule's slices become the model input, and the patient-wise split."""

    dataset: str = "lidc-nodules"  # the catalogue name, or a folder laid out like it (nodules.csv + <patient>/nodule-<k>/)
    # binary: benign (median rating < 3) vs malignant (> 3), indeterminate (= 3) excluded, as in the literature and in
    # NoduleMNIST3D; three_class keeps the indeterminate nodules as a class of their own; rating: regression on the mean
    # of the radiologists' malignancy ratings (1-5), every nodule kept
    labels: Literal["binary", "three_class", "rating"] = "binary"
    # 32 px (about 22 mm at LIDC pixel spacing) holds most nodules and trains 4x faster on CPU than the full 64 px
    crop_px: int = Field(32, ge=8, le=64, description="central crop of each 64x64 slice (the nodule is centred)")
    max_slices: int = Field(32, ge=1, description="at most this many slices per nodule, the central ones (median 4, max 56)")
    mask_channel: bool = False  # add the radiologists' vote map (0-4, /4) as a second channel; inputs then need an outline
    # slices: every kept slice, read by a slice model; central_slice_rows: the rows of the central slice as a sequence
    # (the seed's literal Keras recipe, LSTM over an image's rows), a baseline for the `lstm` model
    layout: Literal["slices", "central_slice_rows"] = "slices"
    window: Literal["lung", "mediastinum", "brain"] = "lung"  # HU -> grey levels for DICOM/NIfTI inputs at predict time
    split_sizes: tuple[float, float, float] = (0.7, 0.15, 0.15)  # patients, stratified by their most suspicious nodule
    max_patients: int | None = Field(None, ge=10, description="the first N patients (sorted ids), for smoke runs and --quick")
    region_px: int = Field(8, ge=1, description="explanations: attributions summed over square regions of this many pixels")


class LidcModelConfig(StrictConfig):
    """The slice model: CNN per slice -> BiLSTM over slices -> additive slice attention -> head (models/slice_rnn.py);
    the baselines take the fields they share with it (cnn3d, resnet3d, resnet2p5d: hidden_size is their head's hidden
    layer) and their own (widen_factor, cube_depth)."""

    name: str = "slice_rnn"
    cnn_channels: int | list[int] = 16
    cnn_blocks: int = Field(3, ge=1)
    hidden_size: int = Field(64, ge=1)
    num_layers: int = Field(1, ge=1)
    dropout: float = Field(0.3, ge=0, lt=1)
    attention_size: int = Field(32, ge=1)
    head_hidden: int = Field(32, ge=0)
    # resnet3d / resnet2p5d (MONAI ResNet-18): channel width x this (1.0: 64-128-256-512); resnet3d: planes of the
    # resampled volume (0: as many as the crop's side, a cube)
    widen_factor: float = Field(1.0, gt=0)
    cube_depth: int = Field(0, ge=0)


class LidcTrainConfig(VolumeAugmentConfig, TrainConfig):
    """TrainConfig with defaults for nodules: early stopping on validation ROC-AUC (binary), flips and turns (rotation,
    intensity and slice dropout can be switched on: VolumeAugmentConfig), no ECG augmentation."""

    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(30, ge=1)
    patience: int = Field(6, ge=1)
    weight_decay: float = Field(1e-4, ge=0)
    monitor: Literal["auto", "val_loss"] = "auto"  # type: ignore[assignment]  # auto: ROC-AUC (binary), macro-F1 (3 classes)
    augment: bool = False  # the generic module's ECG augmentation; this task's is VolumeAugmentConfig's fields


class LidcRunConfig(StrictConfig):
    """Everything that defines one LIDC run; written to config.yaml beside its outputs."""

    data: LidcDataConfig = LidcDataConfig()
    model: LidcModelConfig = LidcModelConfig()
    train: LidcTrainConfig = LidcTrainConfig()
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by patient) for the CIs")
