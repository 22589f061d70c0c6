"""ICU mortality (PhysioNet/CinC 2012): the first 48 h of an ICU stay (37 irregularly sampled vitals and labs plus
admission descriptors) -> in-hospital death. Stays are put on an hourly grid (last value per hour); the split (by stay,
stratified by the outcome) is made before the standardisers are fitted on the training stays."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn.data.batch import SequenceDataset, collate
from medrnn.data.splits import Split
from medrnn.datasets import missing_under_root
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.io.physionet2012 import Physionet2012Report, read_physionet2012_record
from medrnn.metrics.outputs import evaluate_outputs
from medrnn.models import build_model, model_arguments
from medrnn.models.fusion import METHODS
from medrnn.tasks.serving import ServedInput
from medrnn.tasks.base import InputItem, Scores, Section, Task, TaskData, TaskOption, as_index, register_task
from medrnn.tasks.icu_mortality import explain as explaining
from medrnn.tasks.icu_mortality.config import IcuRunConfig
from medrnn.tasks.icu_mortality.data import IcuStays, load_stays, make_icu_split, split_info
from medrnn.tasks.icu_mortality.pipeline import MODALITIES, IcuPipeline
from medrnn.tasks.icu_mortality.predict import predict_risk
from medrnn.tasks.icu_mortality.report import icu_sections
from medrnn.tasks.icu_mortality.sites import SITE_PARTITIONS
from medrnn.transforms.irregular import n_after_window

VAL_BATCH_SIZE = 256  # validation and scoring batches, as the ICU runs always used


@register_task
class IcuMortalityTask(Task):
    """The first 48 h of a PhysioNet 2012 ICU stay -> in-hospital death (GRU-D by default)."""

    name = "icu_mortality"
    aliases = ("icu",)
    title = "ICU stays -> in-hospital death (PhysioNet/CinC 2012, first 48 h, GRU-D)"
    data = "physionet2012 (set-a/b/c Time,Parameter,Value files + Outcomes-x.txt)"
    readers = ("read_physionet2012", "read_physionet2012_record")
    split_unit = "stay (PhysioNet 2012 has no patient id across stays)"
    output_kinds = ("binary",)
    input_axes = ("hour", "variable")
    default_model = "gru_d"
    models = ("gru_d", "gru", "lstm", "rnn", "fusion")
    time_estimate = "about 8 min on 2 CPU cores (sets A-C, 12,000 stays; docs/benchmarks.md); --quick: seconds"
    config_class = IcuRunConfig
    site_partitions = SITE_PARTITIONS  # `medrnn federate --sites` (sites.py)
    predict_help = ("PhysioNet-2012-format stay files (Time,Parameter,Value): one row per file: item_id (the file as given), record_id, "
                    "p_<outcome> (risk), n_observations; a file with descriptors only is an error for that file (a model fusing series and "
                    "descriptors, --model fusion, predicts it from the descriptors, and a file without descriptors from its "
                    "series, saying so in a 'modalities' column); values outside the "
                    "plausible ranges become missing, as in training; unknown parameters and observations after the window "
                    "are reported per file")  # fmt: skip
    options = (
        TaskOption("--sets", "data.sets", "PhysioNet 2012 sets, comma-separated: 'a' or 'a,b,c' (default: all three: 12,000 stays, "
                   "of which the 12 without any time series are excluded).", kind="list"),
        TaskOption("--protocol", "data.protocol", "split: stratified 80/10/10 (default); cv: stratified k-fold, test = --fold."),
        TaskOption("--fold", "data.fold", "With --protocol cv: which fold is the test set (0-based).", kind="int"),
    )  # fmt: skip
    served_input = ServedInput(uploads=(".txt",), json_suffix=".txt", json_columns=("Time", "Parameter", "Value"),
                               json_example=[[["00:00", "Age", "54"], ["00:07", "HR", "88"], ["01:07", "HR", "92"]]])  # one stay: its rows
    examples = (
        "medrnn train icu --out runs/icu                          # GRU-D, sets A+B+C, stratified 80/10/10",
        "medrnn train icu --sets a --protocol cv --fold 2         # GRU-D's own setting: set A, 5-fold, fold 2",
        "medrnn train icu --model gru --seed 1 --out runs/icu-gru",
        "medrnn train icu --model fusion --set model.fusion=late  # GRU-D series + descriptor MLP, late fusion",
    )

    def quick_config(self) -> IcuRunConfig:
        return IcuRunConfig.model_validate({"data": {"sets": ["a"], "max_stays": 300}, "model": {"hidden_size": 16, "head_hidden": 8},
                                            "train": {"max_epochs": 1, "batch_size": 32, "progress": False}, "bootstrap": 20})  # fmt: skip

    def missing_data(self, config: IcuRunConfig) -> dict[str, list[str]]:
        d = config.data
        if d.dataset != "physionet2012":
            return {}  # load_stays names the one dataset it reads
        needed = [f"Outcomes-{s}.txt" for s in d.sets] + [(f"set-{s}/", f"set-{s}.tar.gz", f"set-{s}.tar.xz") for s in d.sets]
        missing = missing_under_root(d.dataset, needed)
        return {d.dataset: missing} if missing else {}

    def load(self, config: IcuRunConfig, progress: bool = False) -> TaskData:
        return load_stays(config.data, progress=progress)

    def split(self, data: TaskData, config: IcuRunConfig) -> Split:
        seed = config.train.seed
        split = make_icu_split(data.samples.y, config, seed)
        data.info["split"] = split_info(data.samples.y, split, config, seed)
        return split

    def subset(self, data: TaskData, index: np.ndarray) -> IcuStays:
        return data.samples.subset(as_index(index))

    def join(self, parts: list[IcuStays]) -> IcuStays:
        return IcuStays.concat(parts)

    def drop_modality(self, samples: IcuStays, modality: str) -> IcuStays:
        if modality not in MODALITIES:
            raise ConfigError(f"icu_mortality: modality {modality!r}; its modalities: {', '.join(MODALITIES)}")
        empty = np.zeros(0)
        stays = [dataclasses.replace(s, times_min=empty, variables=empty.astype(np.int64), values=empty) if modality == "series"
                 else dataclasses.replace(s, static={k: float("nan") for k in s.static}) for s in samples.stays]  # fmt: skip
        return IcuStays(stays, samples.y)

    def fit_pipeline(self, data: TaskData, split: Split, config: IcuRunConfig) -> IcuPipeline:
        pipeline = IcuPipeline.fit(self.subset(data, split.train), config.data)
        # a model fusing both modalities predicts for a stay lacking one of them (descriptors only, or no descriptors)
        fusing = "group_names" in model_arguments(config.model.name)  # a model that reads modalities (models/fusion.py)
        pipeline.modalities_optional = fusing and config.model.fusion in METHODS
        return pipeline

    def pipeline_from_state(self, state: dict[str, Any]) -> IcuPipeline:
        return IcuPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: IcuPipeline) -> np.ndarray:
        return data.samples.y[as_index(index)].reshape(-1, 1)

    def build_model(self, data: TaskData, split: Split, pipeline: IcuPipeline, config: IcuRunConfig) -> tuple[nn.Module, dict[str, Any]]:
        # gru_d, gru, lstm, rnn and fusion share one IcuModelConfig: build_model drops the fields a model does not take
        extra = {"group_names": [MODALITIES[0]]} if "group_names" in model_arguments(config.model.name) else {}
        model = build_model(config.model.name, config.model, input_size=pipeline.input_size, num_classes=1,
                            num_static=len(pipeline.static_names), **extra)  # fmt: skip
        return model, {}

    def loaders(self, data: TaskData, split: Split, pipeline: IcuPipeline, config: IcuRunConfig) -> tuple[DataLoader, DataLoader, list]:
        t = config.train
        sets = {}
        for name, index in (("train", split.train), ("val", split.val)):
            stays = self.subset(data, index)
            x, static = pipeline.features(stays)
            sets[name] = SequenceDataset(x, data.samples.y[as_index(index)], static, pipeline.presence(stays, x))
        generator = torch.Generator().manual_seed(t.seed)
        train = DataLoader(sets["train"], batch_size=t.batch_size, shuffle=True, collate_fn=collate, generator=generator,
                           num_workers=t.num_workers)  # fmt: skip
        val = DataLoader(sets["val"], batch_size=VAL_BATCH_SIZE, shuffle=False, collate_fn=collate, num_workers=t.num_workers)
        return train, val, []

    def predict(self, model: nn.Module, pipeline: IcuPipeline, samples: IcuStays) -> Scores:
        if len(samples) == 0:
            return Scores(np.zeros((0, 1)))
        x, static = pipeline.features(samples)
        return Scores(predict_risk(model, x, static, batch_size=VAL_BATCH_SIZE, present=pipeline.presence(samples, x)))

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: IcuPipeline, config: IcuRunConfig,
                 samples: Any) -> Any:  # fmt: skip
        # one stay per unit resamples rows (the draws of earlier runs); a RecordID repeated across files is drawn whole
        return evaluate_outputs(y[:, 0], scores.values[:, 0], [pipeline.outcome], "binary", units=units, unit="stays",
                                n_boot=config.bootstrap, seed=config.train.seed)  # fmt: skip

    def write_outputs(self, run_dir: Path, data: TaskData, split: Split, pipeline: IcuPipeline, scores: Scores,
                      model: nn.Module, config: IcuRunConfig) -> dict[str, Any]:  # fmt: skip
        # the run's generic "calibration" entry (calibration_summary) holds the ICU one (Brier, base rate, reliability)
        return {"dataset": config.data.dataset, "sets": list(config.data.sets)}

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    def read_input(self, source: str, pipeline: IcuPipeline, options: dict[str, Any]) -> InputItem:
        report = Physionet2012Report()
        stay = read_physionet2012_record(source, report=report)  # a bad file raises, naming the file, line and field
        if len(stay) == 0 and not pipeline.modalities_optional:  # training excluded such stays: the model has never seen one
            raise InvalidRecordError(f"{source}: RecordID {stay.record_id} has descriptors only, no time-series observation; "
                                     "the model was trained on stays with some")  # fmt: skip
        problems = read_problems(report)
        after = n_after_window(stay, pipeline.hours)
        if after:
            problems.append({"field": "Time", "count": after,
                             "reason": f"observations after the first {pipeline.hours:g} h are left out of the model input"})  # fmt: skip
        return InputItem(source, IcuStays([stay], np.full(1, np.nan, dtype=np.float32)), problems)

    def decode(self, item: InputItem, scores: Scores, pipeline: IcuPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import conformal_fields  # conformal columns, only when --coverage was asked

        # the file (item_id) beside record_id: two files may carry one RecordID; a fusion model says what it read
        used = modalities_used(pipeline, item.samples) if pipeline.modalities_optional else None
        return [{"item_id": item.item_id, "record_id": stay.record_id, f"p_{pipeline.outcome}": round(float(p), 6),
                 "n_observations": len(stay), **({"modalities": used[i]} if used else {}), **conformal_fields(scores, i, pipeline)}
                for i, (stay, p) in enumerate(zip(item.samples.stays, scores.values[:, 0]))]  # fmt: skip

    def columns(self, pipeline: IcuPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        used = ["modalities"] if pipeline.modalities_optional else []
        return ["item_id", "record_id", f"p_{pipeline.outcome}", "n_observations", *used, *conformal_columns(pipeline)]

    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        return icu_sections(run_dir, metrics)


def modalities_used(pipeline: IcuPipeline, stays: IcuStays) -> list[str]:
    """Per stay, the modalities a fusion model read: "series+static", "series" (no descriptor) or "static" (no series)."""
    return ["+".join(m for m, on in zip(MODALITIES, row) if on) for row in pipeline.presence(stays)]


def read_problems(report: Physionet2012Report) -> list[dict[str, Any]]:
    """Rows of one file the model cannot use: unknown or empty parameter names (skipped; often another file format).

    Values outside the plausible ranges and -1 markers are not listed: they become missing by the reader's rule, as
    they did in training (the run's report counts them).
    """
    problems = [{"field": name, "count": n, "reason": "unknown parameter: rows skipped"} for name, n in report.unknown_parameters.items()]
    if report.n_empty_parameter:
        problems.append({"field": "Parameter", "count": report.n_empty_parameter, "reason": "empty parameter name: rows skipped"})
    return problems


__all__ = ["IcuMortalityTask", "modalities_used", "read_problems"]
