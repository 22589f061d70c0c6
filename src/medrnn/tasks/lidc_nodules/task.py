"""LIDC-IDRI lung nodules: the CT slices through each nodule (64x64 crops, 1-56 slices) -> radiologists' malignancy
(benign vs malignant, indeterminate excluded; or three classes). A 2-D CNN reads each slice, a BiLSTM relates the
slices, additive attention says which slices decided. Split by patient (all nodules of a patient on one side), made
before the grey-level standardiser is fitted on the training nodules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn.data.loaders import class_weights, make_loader
from medrnn.data.splits import Split
from medrnn.errors import ConfigError
from medrnn.io.volumes import read_volume
from medrnn.metrics import evaluate
from medrnn.metrics.outputs import evaluate_outputs
from medrnn.models import build_model
from medrnn.tasks.base import InputItem, Scores, Section, Task, TaskData, TaskOption, as_index, missing_catalogue_folder, register_task
from medrnn.tasks.lidc_nodules import explain as explaining
from medrnn.tasks.lidc_nodules.config import LidcRunConfig
from medrnn.tasks.lidc_nodules.data import DATASET, NoduleSet, grey_levels, load_nodules, make_lidc_split
from medrnn.tasks.lidc_nodules.examples import write_examples
from medrnn.tasks.lidc_nodules.outlines import attention_in_outlines
from medrnn.tasks.lidc_nodules.pipeline import LidcPipeline
from medrnn.tasks.lidc_nodules.predict import SliceStacks, score_stacks
from medrnn.tasks.lidc_nodules.rating import rating_auroc
from medrnn.tasks.lidc_nodules.report import lidc_sections
from medrnn.tasks.lidc_nodules.strip import strip_figures
from medrnn.tasks.serving import ServedInput
from medrnn.transforms.volume_augment import VolumeAugmentSettings, VolumeAugmenter


@register_task
class LidcNodulesTask(Task):
    """CT slice stacks through LIDC nodules -> malignancy (slice CNN + BiLSTM + slice attention)."""

    name = "lidc_nodules"
    aliases = ("lidc",)
    title = "Lung nodules on CT -> malignancy (LIDC-IDRI slice stacks; CNN per slice + BiLSTM + slice attention)"
    data = "lidc-nodules (2,097 nodules of 703 patients: 64x64 8-bit crops per slice, outlines, ratings; nodules.csv)"
    readers = ("read_lidc_table", "read_lidc_nodule", "read_slice_stack", "read_dicom_series", "read_nifti")
    split_unit = "patient"
    output_kinds = ("binary", "multiclass", "regression")
    input_axes = ("slice", "region")  # region: square patches of region_px pixels of each slice (slice x H x W, pooled)
    default_model = "slice_rnn"
    # cnn3d: the 3-D CNN baseline on the same slices; resnet3d / resnet2p5d: MONAI ResNet-18s on those slices resampled to
    # a cube (3-D, or its three central planes); lstm: the rows of the central slice (data.layout=central_slice_rows)
    models = ("slice_rnn", "cnn3d", "resnet3d", "resnet2p5d", "lstm")
    time_estimate = "about 10-20 min on 2 CPU cores (1,345 benign/malignant nodules); --quick: seconds"
    config_class = LidcRunConfig
    predict_help = ("a nodule folder (images/slice-N.png [+ mask/]), a folder of PNG/TIFF slices, a DICOM series folder, a NIfTI "
                    "file (--volume for 4-D) or a .zip of a folder: slices are centre-cropped to the model's crop (the nodule "
                    "must be centred); CT in HU goes through the model's window (lung). One row per input: item_id, nodule_id, "
                    "p_malignant (or class and p_<class>, or malignancy_rating), n_slices, slices_used, top_slice, "
                    "slice_attention")  # fmt: skip
    options = (
        TaskOption("--labels", "data.labels", "binary: benign vs malignant, indeterminate left out (default); three_class; "
                   "rating: regression on the mean malignancy rating (1-5), every nodule kept."),
        TaskOption("--crop-px", "data.crop_px", "Central crop of each 64x64 slice, pixels (default 32).", kind="int"),
        TaskOption("--mask-channel", "data.mask_channel", "Read the radiologists' outline as a second channel.", kind="bool"),
        TaskOption("--max-patients", "data.max_patients", "Only the first N patients (smoke runs).", kind="int"),
    )  # fmt: skip
    predict_options = (TaskOption("--volume", "volume", "4-D NIfTI: which volume to read (0-based).", kind="int"),)
    served_input = ServedInput(uploads=(".zip", ".nii", ".gz"), unzip=False)  # a NIfTI file, or a zip of a slice/DICOM folder
    examples = ("medrnn train lidc --out runs/lidc", "medrnn train lidc --labels three_class --seed 1 --out runs/lidc-3",
                "medrnn predict --artifact runs/lidc/model LIDC-IDRI-0001/nodule-0 series-folder/ scan.nii.gz --figures")  # fmt: skip

    def quick_config(self) -> LidcRunConfig:
        return LidcRunConfig.model_validate({
            "data": {"max_patients": 60, "crop_px": 32, "max_slices": 12},
            "model": {"cnn_channels": 4, "cnn_blocks": 2, "hidden_size": 8, "attention_size": 8, "head_hidden": 8},
            "train": {"max_epochs": 1, "batch_size": 32, "progress": False, "explain": 1}, "bootstrap": 20})  # fmt: skip

    def missing_data(self, config: LidcRunConfig) -> dict[str, list[str]]:
        return missing_catalogue_folder(config.data.dataset, [DATASET], "a folder with nodules.csv and <patient>/nodule-<k>/ slices")

    def load(self, config: LidcRunConfig, progress: bool = False) -> TaskData:
        return load_nodules(config.data)

    def split(self, data: TaskData, config: LidcRunConfig) -> Split:
        split = make_lidc_split(data, config)
        strata = data.samples.strata()  # the nodules.csv label of each nodule: the classes, or the strata of the rating
        if config.data.labels == "binary":
            strata = strata // 2  # benign 0, malignant 2 -> 0, 1: the binary classes' order
        data.info["split"] = {"unit": "patient", "seed": config.train.seed, "sizes": list(config.data.split_sizes),
                              "patients": {k: int(len(set(data.units[v]))) for k, v in split._asdict().items()},
                              "class_counts": {k: np.bincount(strata[v], minlength=3).tolist()
                                               for k, v in split._asdict().items()}}  # fmt: skip
        return split

    def subset(self, data: TaskData, index: np.ndarray) -> NoduleSet:
        return data.samples.subset(as_index(index))

    def join(self, parts: list[NoduleSet]) -> NoduleSet:
        return NoduleSet.concat(parts)

    def fit_pipeline(self, data: TaskData, split: Split, config: LidcRunConfig) -> LidcPipeline:
        return LidcPipeline.fit(self.subset(data, split.train), config.data)

    def pipeline_from_state(self, state: dict[str, Any]) -> LidcPipeline:
        return LidcPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: LidcPipeline) -> np.ndarray:
        y = data.samples.y[as_index(index)]
        return y.astype(np.int64) if pipeline.output_kind == "multiclass" else y.reshape(-1, 1).astype(np.float64)

    def build_model(self, data: TaskData, split: Split, pipeline: LidcPipeline, config: LidcRunConfig) -> tuple[nn.Module, dict[str, Any]]:
        rows = pipeline.layout == "central_slice_rows"
        if rows != (config.model.name == "lstm"):
            raise ConfigError(f"model {config.model.name!r} with data.layout={pipeline.layout!r}: the lstm reads the rows of the central "
                              "slice (data.layout=central_slice_rows); slice_rnn, cnn3d and the resnets read slices "
                              "(data.layout=slices)")  # fmt: skip
        sizes = {"input_size": pipeline.input_size, "num_classes": len(pipeline.label_names)}
        if not rows:
            sizes["in_channels"] = pipeline.in_channels
        return build_model(config.model.name, config.model, **sizes), {}

    def loaders(self, data: TaskData, split: Split, pipeline: LidcPipeline, config: LidcRunConfig) -> tuple[DataLoader, DataLoader, list]:
        multiclass, t = pipeline.output_kind == "multiclass", config.train
        settings = VolumeAugmentSettings.from_config(t)
        sets = {}
        for name, index in (("train", split.train), ("val", split.val)):
            chosen = self.subset(data, index)
            augment = None
            if name == "train" and settings.active and pipeline.layout == "slices":  # a row sequence is not an image
                augment = VolumeAugmenter(settings, t.seed, image_channels=1)  # the outline channel is never intensity-changed
            y = pipeline.scale_targets(chosen.y)  # the rating standardised; class indices unchanged
            sets[name] = SliceStacks(pipeline.features(chosen), y, multiclass, pipeline.crop_px, augment=augment)
        return make_loader(sets["train"], t, True), make_loader(sets["val"], t, False), []

    def class_weights(self, data: TaskData, split: Split, pipeline: LidcPipeline, config: LidcRunConfig) -> torch.Tensor | None:
        if pipeline.output_kind != "multiclass":
            return None
        y = data.samples.y[split.train].astype(np.int64)
        return torch.as_tensor(class_weights(y, len(pipeline.label_names), config.train.class_weighting), dtype=torch.float32)

    def predict(self, model: nn.Module, pipeline: LidcPipeline, samples: NoduleSet) -> Scores:
        if len(samples) == 0:
            return Scores(np.zeros((0, len(pipeline.label_names))), {"attention": []})
        values, attention = score_stacks(model, pipeline.features(samples), pipeline.output_kind, pipeline.crop_px)
        return Scores(pipeline.unscale(values), {"attention": attention})

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: LidcPipeline, config: LidcRunConfig,
                 samples: Any) -> Any:  # fmt: skip
        if pipeline.output_kind == "multiclass":
            return evaluate(y, scores.values, list(pipeline.label_names), units=units, unit="patients",
                            n_boot=config.bootstrap, seed=config.train.seed)  # fmt: skip
        report = evaluate_outputs(y[:, 0], scores.values[:, 0], list(pipeline.label_names), pipeline.output_kind, units=units,
                                  unit="patients", n_boot=config.bootstrap, seed=config.train.seed)  # fmt: skip
        if pipeline.output_kind == "regression":
            report.extras["benign_vs_malignant"] = rating_auroc(samples, scores.values[:, 0], units, config.bootstrap, config.train.seed)
        return report

    def write_outputs(self, run_dir: Path, data: TaskData, split: Split, pipeline: LidcPipeline, scores: Scores,
                      model: nn.Module, config: LidcRunConfig) -> dict[str, Any]:  # fmt: skip
        test = self.subset(data, split.test)
        share = attention_in_outlines(test, scores.extras.get("attention", []), pipeline)
        examples = write_examples(run_dir, test, scores.values, scores.extras.get("attention", []), pipeline)
        return {"dataset": config.data.dataset, "attention_in_outlines": share, "examples": examples}

    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        return lidc_sections(run_dir, metrics)

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    def explain_figures(self, item: Any, pipeline: Any) -> list[tuple[str, Any]]:
        return explaining.explain_figures(item)

    def predict_figures(self, item: InputItem, scores: Scores, pipeline: LidcPipeline) -> list[tuple[str, Any]]:
        return strip_figures(item, scores, pipeline)

    def read_input(self, source: str, pipeline: LidcPipeline, options: dict[str, Any]) -> InputItem:
        record = read_volume(source, volume=options.get("volume"))
        grey, how = grey_levels(record, pipeline.window)
        notes: dict[str, Any] = {"intensity": how, "slices": len(record), "size": list(record.shape[1:])}
        if record.shape[1] > pipeline.crop_px or record.shape[2] > pipeline.crop_px:
            crop = f"{pipeline.crop_px}x{pipeline.crop_px}"
            notes["cropped"] = f"{record.shape[1]}x{record.shape[2]} -> central {crop}: the nodule must be centred"
        if record.geometry.get("tilted") or record.geometry.get("uneven_spacing"):
            notes["geometry"] = {k: record.geometry.get(k) for k in ("gantry_tilt_deg", "uneven_spacing", "spacing_mm")}
        samples = NoduleSet([record.volume_id], [record.patient_id], [grey], [record.mask], np.full(1, np.nan), [record.spacing_mm])
        pipeline.features(samples)  # a crop too small or a missing outline fails here, naming the input
        return InputItem(source, samples, notes=notes)

    def decode(self, item: InputItem, scores: Scores, pipeline: LidcPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import conformal_fields  # conformal columns, only when --coverage was asked

        rows = []
        samples: NoduleSet = item.samples
        for i, (nodule, image) in enumerate(zip(samples.ids, samples.images)):
            kept = pipeline.kept_slices(len(image))
            att = np.asarray(scores.extras.get("attention", [])[i]) if scores.extras.get("attention") else np.zeros(0)
            p = scores.values[i]
            if pipeline.output_kind == "multiclass":
                names = pipeline.label_names
                out = {"class": names[int(np.argmax(p))], **{f"p_{n}": round(float(v), 6) for n, v in zip(names, p)}}
            elif pipeline.output_kind == "regression":
                out = {pipeline.label_names[0]: round(float(p[0]), 4)}
            else:
                out = {f"p_{pipeline.label_names[0]}": round(float(p[0]), 6)}
            rows.append({"item_id": item.item_id, "nodule_id": nodule, **out, "n_slices": len(image),
                         "slices_used": f"{kept.start}-{kept.stop - 1}",
                         "top_slice": int(kept.start + np.argmax(att)) if att.size else None,
                         "slice_attention": " ".join(f"{a:.3f}" for a in att), **conformal_fields(scores, i, pipeline)})  # fmt: skip
        return rows

    def columns(self, pipeline: LidcPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        names = pipeline.label_names
        out = {"multiclass": ["class", *[f"p_{n}" for n in names]], "regression": names}.get(pipeline.output_kind, [f"p_{names[0]}"])
        return ["item_id", "nodule_id", *out, "n_slices", "slices_used", "top_slice", "slice_attention", *conformal_columns(pipeline)]


__all__ = ["LidcNodulesTask"]
