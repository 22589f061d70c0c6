"""The fitted preprocessing of a nodule model: central crop, central slices, grey-level standardiser (training nodules
only), optional outline channel; its state goes into the artifact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.errors import ArtifactError, InvalidRecordError
from medrnn.tasks.base import Pipeline
from medrnn.tasks.lidc_nodules.config import LidcDataConfig
from medrnn.tasks.lidc_nodules.data import LABEL_SCHEMES, RATING, NoduleSet

LAYOUT = "x = (slices, channels * crop * crop): standardised grey levels [| outline votes / 4], row-major per channel"
MAX_VOTES = 4.0  # four LIDC radiologists


@dataclass
class LidcPipeline(Pipeline):
    """Crop, slice cap, label scheme and the grey-level mean/std fitted on the training nodules (labels=rating: also the
    rating's mean/std, the model learns the standardised rating)."""

    labels: str
    crop_px: int
    max_slices: int
    mask_channel: bool
    window: str
    region_px: int
    mean_: float
    std_: float
    layout: str = "slices"
    threshold: float | None = None
    target_mean_: float = 0.0
    target_std_: float = 1.0

    @property
    def label_names(self) -> list[str]:  # type: ignore[override]
        """binary: one output, malignant; three_class: benign, indeterminate, malignant; rating: malignancy_rating."""
        if self.labels == RATING:
            return ["malignancy_rating"]
        names = list(LABEL_SCHEMES[self.labels][0])
        return names[1:] if self.labels == "binary" else names

    @property
    def output_kind(self) -> str:  # type: ignore[override]
        """binary (sigmoid of malignant), multiclass (softmax over three classes) or regression (the rating)."""
        return {"binary": "binary", RATING: "regression"}.get(self.labels, "multiclass")

    def scale_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets as the model learns them: the rating standardised by the training nodules' mean and SD, else unchanged."""
        return (y - self.target_mean_) / self.target_std_ if self.labels == RATING else y

    def unscale(self, values: np.ndarray) -> np.ndarray:
        """Model outputs back in target units (the rating, 1-5 scale)."""
        return values * self.target_std_ + self.target_mean_ if self.labels == RATING else values

    @property
    def in_channels(self) -> int:
        """1 (grey levels) or 2 (grey levels and the outline)."""
        return 2 if self.mask_channel else 1

    @property
    def input_size(self) -> int:
        """Features per step: channels x crop x crop (a slice), or channels x crop (a row of the central slice)."""
        return self.in_channels * self.crop_px * (self.crop_px if self.layout == "slices" else 1)

    @classmethod
    def fit(cls, train: NoduleSet, config: LidcDataConfig) -> LidcPipeline:
        """Fit the grey-level mean and standard deviation on the training nodules' cropped slices."""
        pipeline = cls(config.labels, config.crop_px, config.max_slices, config.mask_channel, config.window, config.region_px, 0.0, 1.0,
                       config.layout)  # fmt: skip
        pixels = np.concatenate([pipeline.crop(a, i).ravel() for i, a in zip(train.ids, train.images)]).astype(np.float64)
        std = float(pixels.std())
        pipeline.mean_, pipeline.std_ = float(pixels.mean()), std if std > 1e-6 else 1.0
        if config.labels == RATING:
            target_std = float(np.std(train.y))
            pipeline.target_mean_, pipeline.target_std_ = float(np.mean(train.y)), target_std if target_std > 1e-6 else 1.0
        return pipeline

    def kept_slices(self, n: int) -> slice:
        """The central `max_slices` of n slices (the central one for the rows layout)."""
        if self.layout == "central_slice_rows":
            return slice((n - 1) // 2, (n - 1) // 2 + 1)
        start = max(0, (n - self.max_slices) // 2)
        return slice(start, min(n, start + self.max_slices))

    def crop(self, stack: np.ndarray, name: str = "") -> np.ndarray:
        """The central crop_px x crop_px of every kept slice (n, crop, crop); a smaller slice is an error naming the input."""
        h, w = stack.shape[1:]
        if h < self.crop_px or w < self.crop_px:
            raise InvalidRecordError(f"{name}: slices of {h}x{w} pixels; the model reads {self.crop_px}x{self.crop_px} crops "
                                     "centred on the nodule")  # fmt: skip
        top, left = (h - self.crop_px) // 2, (w - self.crop_px) // 2
        return stack[self.kept_slices(len(stack)), top : top + self.crop_px, left : left + self.crop_px]

    def features(self, samples: NoduleSet) -> list[np.ndarray]:
        """Model input per nodule: (kept slices, channels * crop * crop) float32."""
        out = []
        for name, image, mask in zip(samples.ids, samples.images, samples.masks):
            grey = (self.crop(image, name) - np.float32(self.mean_)) / np.float32(self.std_)
            channels = [grey]
            if self.mask_channel:
                if mask is None:
                    raise InvalidRecordError(f"{name}: no outline; this model reads the radiologists' outline as a second channel "
                                             "(give a nodule folder with mask/ beside images/)")  # fmt: skip
                channels.append(self.crop(mask.astype(np.float32), name) / np.float32(MAX_VOTES))
            x = np.stack(channels, axis=1)  # (slices, channels, crop, crop)
            if self.layout == "central_slice_rows":  # (rows, channels * crop): one kept slice, its rows as steps
                x = x[0].transpose(1, 0, 2)
            out.append(np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "crop_px": self.crop_px, "max_slices": self.max_slices, "mask_channel": self.mask_channel,
                "window": self.window, "region_px": self.region_px, "mean": self.mean_, "std": self.std_, "input_layout": self.layout,
                "layout": LAYOUT, "target_mean": self.target_mean_, "target_std": self.target_std_}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> LidcPipeline:
        if state.get("labels") not in LABEL_SCHEMES:
            raise ArtifactError(f"preprocessing field 'labels' is {state.get('labels')!r}; expected one of {', '.join(LABEL_SCHEMES)}")
        return cls(str(state["labels"]), int(state["crop_px"]), int(state["max_slices"]), bool(state["mask_channel"]),
                   str(state["window"]), int(state["region_px"]), float(state["mean"]), float(state["std"]),
                   str(state.get("input_layout", "slices")), target_mean_=float(state.get("target_mean", 0.0)),
                   target_std_=float(state.get("target_std", 1.0)))  # fmt: skip

    def compatibility(self) -> dict[str, Any]:
        fitted = ("mean", "std", "target_mean", "target_std")
        return {**super().compatibility(), "input": {k: v for k, v in self.state_dict().items() if k not in fitted}}


__all__ = ["LAYOUT", "LidcPipeline"]
