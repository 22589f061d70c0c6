"""AdrenalMNIST3D (MedMNIST v2): 28x28x28 shape masks of adrenal glands from abdominal CT -> normal gland vs adrenal
mass, on MedMNIST's official train/val/test split. Read as 28 slices of 28x28 by the slice model (CNN per slice ->
BiLSTM -> slice attention). MedMNIST publishes no patient ids: the split unit is the volume, as the official split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from medrnn.data.loaders import make_loader
from medrnn.data.splits import Split
from medrnn.data.volumes import VolumeStacks
from medrnn.errors import InvalidRecordError
from medrnn.io.volumes import read_volume
from medrnn.metrics.outputs import evaluate_outputs
from medrnn.models import build_model
from medrnn.tasks.adrenal_mnist3d import explain as explaining
from medrnn.tasks.adrenal_mnist3d.config import AdrenalRunConfig
from medrnn.tasks.adrenal_mnist3d.data import DATASET, AdrenalPipeline, AdrenalVolumes, load_volumes, official_split, score_volumes
from medrnn.tasks.base import InputItem, Scores, Task, TaskData, TaskOption, as_index, register_task
from medrnn.tasks.serving import ServedInput
from medrnn.transforms.volume_augment import VolumeAugmentSettings, VolumeAugmenter


@register_task
class AdrenalMnist3dTask(Task):
    """AdrenalMNIST3D volumes -> adrenal mass (slice CNN + BiLSTM + slice attention), official split."""

    name = "adrenal_mnist3d"
    aliases = ("adrenal",)
    title = "Adrenal gland shape (CT masks, 28^3) -> mass vs normal (AdrenalMNIST3D, MedMNIST v2 official split)"
    data = "medmnist3d/adrenalmnist3d.npz (1,584 volumes: 1,188 / 98 / 298, 0/255 shape masks)"
    readers = ("read_medmnist3d", "read_nifti", "read_slice_stack")
    split_unit = "volume (MedMNIST's official split; no patient ids are published)"
    output_kinds = ("binary",)
    input_axes = ("slice", "region")
    default_model = "slice_rnn"
    models = ("slice_rnn",)
    time_estimate = "about 5 min on 2 CPU cores; --quick: seconds"
    config_class = AdrenalRunConfig
    predict_help = ("a NIfTI file or a folder of PNG/TIFF slices (or a .zip of one) holding a 28x28 shape mask per slice (0/1 or "
                    "0/255): one row per input: item_id, volume_id, p_mass, n_slices, top_slice, slice_attention")  # fmt: skip
    options = (TaskOption("--max-per-split", "data.max_per_split", "Only the first N volumes of each split.", kind="int"),)
    served_input = ServedInput(uploads=(".zip", ".nii", ".gz"), unzip=False)
    examples = ("medrnn train adrenal --out runs/adrenal", "medrnn predict --artifact runs/adrenal/model mask.nii.gz --out adrenal.csv")

    def quick_config(self) -> AdrenalRunConfig:
        return AdrenalRunConfig.model_validate({
            "data": {"max_per_split": 24}, "model": {"cnn_channels": 4, "hidden_size": 8, "attention_size": 8, "head_hidden": 8},
            "train": {"max_epochs": 1, "progress": False, "explain": 1}, "bootstrap": 20})  # fmt: skip

    def missing_data(self, config: AdrenalRunConfig) -> dict[str, list[str]]:
        from medrnn.datasets import missing_under_root

        if Path(config.data.dataset).expanduser().is_dir() or config.data.dataset != DATASET:
            return {}  # load_volumes names what is missing
        missing = missing_under_root(DATASET, [config.data.file])
        return {DATASET: missing} if missing else {}

    def load(self, config: AdrenalRunConfig, progress: bool = False) -> TaskData:
        return load_volumes(config.data)

    def split(self, data: TaskData, config: AdrenalRunConfig) -> Split:
        return official_split(data)

    def subset(self, data: TaskData, index: np.ndarray) -> AdrenalVolumes:
        return data.samples.subset(as_index(index))

    def join(self, parts: list[AdrenalVolumes]) -> AdrenalVolumes:
        return AdrenalVolumes.concat(parts)

    def fit_pipeline(self, data: TaskData, split: Split, config: AdrenalRunConfig) -> AdrenalPipeline:
        side = int(data.samples.volumes[0].shape[1])
        return AdrenalPipeline(side, config.data.region_px)

    def pipeline_from_state(self, state: dict[str, Any]) -> AdrenalPipeline:
        return AdrenalPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: AdrenalPipeline) -> np.ndarray:
        return data.samples.y[as_index(index)].reshape(-1, 1)

    def build_model(self, data: TaskData, split: Split, pipeline: AdrenalPipeline,
                    config: AdrenalRunConfig) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
        return build_model(config.model.name, config.model, input_size=pipeline.side**2, in_channels=1, num_classes=1), {}

    def loaders(self, data: TaskData, split: Split, pipeline: AdrenalPipeline,
                config: AdrenalRunConfig) -> tuple[DataLoader, DataLoader, list]:  # fmt: skip
        settings = VolumeAugmentSettings.from_config(config.train)
        sets = {}
        for name, index in (("train", split.train), ("val", split.val)):
            chosen = self.subset(data, index)
            augment = VolumeAugmenter(settings, config.train.seed) if name == "train" and settings.active else None
            sets[name] = VolumeStacks(pipeline.features(chosen), chosen.y, False, pipeline.side, augment=augment)
        return make_loader(sets["train"], config.train, True), make_loader(sets["val"], config.train, False), []

    def predict(self, model: nn.Module, pipeline: AdrenalPipeline, samples: AdrenalVolumes) -> Scores:
        if len(samples) == 0:
            return Scores(np.zeros((0, 1)), {"attention": []})
        probs, attention = score_volumes(model, pipeline.features(samples))
        return Scores(probs, {"attention": attention})

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: AdrenalPipeline, config: AdrenalRunConfig,
                 samples: Any) -> Any:  # fmt: skip
        return evaluate_outputs(y[:, 0], scores.values[:, 0], list(pipeline.label_names), "binary", units=units, unit="volumes",
                                n_boot=config.bootstrap, seed=config.train.seed)  # fmt: skip

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    def explain_figures(self, item: Any, pipeline: Any) -> list[tuple[str, Any]]:
        return explaining.explain_figures(item)

    def read_input(self, source: str, pipeline: AdrenalPipeline, options: dict[str, Any]) -> InputItem:
        record = read_volume(source, volume=options.get("volume"))
        if record.shape[1:] != (pipeline.side, pipeline.side):
            raise InvalidRecordError(f"{source}: slices of {record.shape[1]}x{record.shape[2]}; the model reads {pipeline.side}x"
                                     f"{pipeline.side} shape masks (resample the mask to MedMNIST's 28^3 first)")  # fmt: skip
        top = float(record.slices.max())
        if record.slices.min() < 0 or top > 255:
            raise InvalidRecordError(f"{source}: values {record.slices.min():g}..{top:g}; expected a shape mask of 0/1 or 0/255")
        volume = (record.slices / np.float32(255.0 if top > 1 else 1.0)).astype(np.float32)
        return InputItem(source, AdrenalVolumes([record.volume_id], [volume], np.full(1, np.nan), ["input"]))

    def decode(self, item: InputItem, scores: Scores, pipeline: AdrenalPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import conformal_fields  # conformal columns, only when --coverage was asked

        attention = scores.extras.get("attention") or [np.zeros(0)] * len(item.samples)
        return [{"item_id": item.item_id, "volume_id": v, "p_mass": round(float(p), 6), "n_slices": len(vol),
                 "top_slice": int(np.argmax(a)) if len(a) else None, "slice_attention": " ".join(f"{w:.3f}" for w in a),
                 **conformal_fields(scores, i, pipeline)}
                for i, (v, vol, p, a) in enumerate(zip(item.samples.ids, item.samples.volumes, scores.values[:, 0],
                                                       attention))]  # fmt: skip

    def columns(self, pipeline: AdrenalPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        return ["item_id", "volume_id", "p_mass", "n_slices", "top_slice", "slice_attention", *conformal_columns(pipeline)]


__all__ = ["AdrenalMnist3dTask"]
