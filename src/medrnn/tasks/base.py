"""The Task contract: everything one data world declares and provides, so that one training run, one Predictor,
one ensemble and one report writer serve every world.

A task is a class registered in `TASKS` under a user-facing name (`ecg_beats`, `molecules`, ...), plus CLI
aliases (`mitdb`, `smiles`, ...). The generic layers (`train/run.py`, `predict.py`, `ensemble.py`,
`report/html.py`, `cli/`) call these hooks and never test which task they hold.

The path of a run through the hooks (see docs/architecture.md):

    load(config)                  records -> samples (TaskData: samples, split unit, ids)
    split(data, config)           positions of train / val / test; checked: no unit on two sides
    fit_pipeline(data, train)     vocabularies, scalers, label sets fitted on train only -> Pipeline (JSON state)
    build_model(pipeline, ...)    the registered model sized by the pipeline (plus pretraining or embeddings)
    loaders(...)                  train / validation batches (+ Lightning callbacks)
    extra_loss(...)               optional loss terms beside the output-kind loss (evidence supervision)
    predict(model, pipeline, s)   scores for samples: the same function `Predictor` calls on new inputs
    tune(pipeline, val scores)    decision thresholds on validation (where the task has one)
    evaluate(...)                 one MetricReport on test, bootstrap over the split unit
    write_outputs(...)            the world's own files (attention, evidence, strips) -> extra metrics entries
    read_input / decode           a user's file -> samples; scores -> rows, for `medrnn predict` and the service
    report_sections(run_dir)      the world's part of report.html
    explain_inputs / _figures     samples -> model inputs with axes and baseline; explanations -> figures
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from medrnn.errors import ConfigError
from medrnn.metrics.report import OUTPUT_KINDS
from medrnn.registry import TASKS
from medrnn.data.splits import check_split  # noqa: F401  (re-exported: tasks import both from here)
from medrnn.tasks.catalogue import missing_catalogue_folder  # noqa: F401
from medrnn.tasks.pipeline import ConfigPipeline, OutputKind, Pipeline  # noqa: F401  (re-exported)
from medrnn.tasks.serving import ServedInput

if TYPE_CHECKING:  # torch-heavy types only for annotations: `medrnn tasks` must stay light
    import lightning as L
    import torch
    from pydantic import BaseModel
    from torch import nn
    from torch.utils.data import DataLoader

    from matplotlib.figure import Figure

    from medrnn.data.batch import Batch
    from medrnn.data.splits import Split
    from medrnn.explain.api import ExplainedItem
    from medrnn.explain.inputs import ExplainInput



@dataclass
class TaskData:
    """The samples of one run, built from the records before any split or fit.

    `samples` is the world's own container (a BeatSet, a MoleculeTable, ...); `Task.subset` selects from it by
    position. `units[i]` is the split unit of sample i (record, patient, stay, document, molecule): the generic
    run checks that no unit lies on two sides of the split. `info` goes to metrics.json["data"].
    """

    samples: Any
    units: np.ndarray  # (n,) str
    ids: list[str]  # (n,) sample ids, written beside the test predictions
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Scores:
    """Model output for a list of samples, aligned with them.

    `values` (n, outputs): softmax probabilities (multiclass), sigmoid probabilities (binary, multilabel), or values
    in target units (regression). `extras` holds what the world reads off the model beside it (attention, tokens,
    evidence indices), each a sequence aligned with the samples.
    """

    values: np.ndarray
    extras: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])


@dataclass
class Section:
    """A part of report.html a task contributes: a heading, HTML (already escaped by the task) and PNG figures."""

    title: str
    html: str = ""
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, base64 PNG)


@dataclass(frozen=True)
class TaskOption:
    """A CLI flag of `medrnn train TASK` that sets one config field (every field is also reachable with --set key=value).

    `field` is a dotted path into the run config ("data.targets"); `kind` is str, int, float, bool or "list"
    (comma-separated). A bool option gets --flag/--no-flag.
    """

    flag: str  # "--target"
    field: str  # "data.targets"
    help: str
    kind: str = "str"
    short: str | None = None  # "-d"


@dataclass
class InputItem:
    """One input a user passed to predict (a record, a file), read into the task's samples."""

    item_id: str
    samples: Any
    problems: list[dict[str, Any]] = field(default_factory=list)  # parts of the input left out (e.g. unparsable rows)
    notes: dict[str, Any] = field(default_factory=dict)  # counted but expected, not failures (beats at record edges, ...)


class Task(ABC):
    """One data world. Class attributes declare it; methods are the hooks the generic layers call."""

    name: ClassVar[str]  # registry key, a folder under tasks/
    aliases: ClassVar[tuple[str, ...]] = ()  # older CLI names that keep working (mitdb, smiles, ...)
    title: ClassVar[str]  # one line for `medrnn tasks` and the report
    data: ClassVar[str]  # what it reads by default, for `medrnn tasks`
    readers: ClassVar[tuple[str, ...]]  # io/ functions it reads with
    split_unit: ClassVar[str]  # record, patient, stay, scaffold, document (official split) ...
    output_kinds: ClassVar[tuple[OutputKind, ...]]  # the kinds its runs can have (molecules: binary .. regression)
    input_axes: ClassVar[tuple[str, ...]]  # what explanations align to: ("time", "lead"), ("token",), ("visit", "code")
    default_model: ClassVar[str]
    models: ClassVar[tuple[str, ...]] = ()  # registered models that read its inputs (`--model` refuses others); () = any
    time_estimate: ClassVar[str] = ""  # rough wall time of the default run, shown by `medrnn train TASK --help`
    config_class: ClassVar[type[BaseModel]]  # the run config: data, model, train (+ task sections), bootstrap
    predict_help: ClassVar[str] = ""  # what `medrnn predict` takes and writes for this task
    options: ClassVar[tuple[TaskOption, ...]] = ()  # the task's own `medrnn train` flags (beside the common ones)
    predict_options: ClassVar[tuple[TaskOption, ...]] = ()  # its `medrnn predict` flags; `field` is the key in read_input's options
    examples: ClassVar[tuple[str, ...]] = ()  # `medrnn train` command lines for --help
    served_input: ClassVar[ServedInput] = ServedInput()  # what `medrnn serve` accepts: uploads, JSON items (tasks/serving.py)
    site_partitions: ClassVar[dict[str, Any]] = {}  # federated sites: name -> fn(TaskData) -> (n,) site per sample (tasks/<task>/sites.py)

    # ---- training ----------------------------------------------------------------------------------------------
    def missing_data(self, config: BaseModel) -> dict[str, list[str]]:
        """Catalogue datasets (`medrnn data list`) this run reads that are not all under the data root: {name: what
        is missing}. `medrnn train` asks before it makes the run folder and fetches them. A data option that names
        neither a catalogue dataset nor an existing path raises ConfigError listing the known names."""
        return {}

    @abstractmethod
    def quick_config(self) -> BaseModel:
        """A run config that trains in seconds on a small real subset (smoke tests, `medrnn train TASK --quick`)."""

    @abstractmethod
    def load(self, config: BaseModel, progress: bool = False) -> TaskData:
        """Read the records the config names and turn them into labelled samples (no fitting here)."""

    @abstractmethod
    def split(self, data: TaskData, config: BaseModel) -> Split:
        """Positions of the train / validation / test samples, by the task's split unit, seeded by config.train.seed."""

    @abstractmethod
    def subset(self, data: TaskData, index: np.ndarray) -> Any:
        """The samples at positions `index`, in the task's sample container."""

    def join(self, parts: list[Any]) -> Any | None:
        """Several inputs' samples as one container, in order (one forward pass for many inputs); None: cannot join."""
        return None

    def drop_modality(self, samples: Any, modality: str) -> Any:
        """The samples with one modality removed from each, as a patient lacking it would come (fusion models)."""
        raise ConfigError(f"{self.name}: no modality can be removed from its samples (it has no fusion model); got {modality!r}")

    def patient_items(self, predictor: Any, data: TaskData | None, index: np.ndarray) -> Any:
        """The items at `index` as patient adaptation reads them (`fewshot.patient.PatientItems`: truth, the predictor's
        probabilities and encoder features, each item's record and the order a person labels them in)."""
        raise ConfigError(f"task {self.name!r} has no patient adaptation: it needs items a person labels a few of in one "
                          "patient's record, in time (medrnn fewshot ecg adapts a beat classifier: medrnn train mitdb)")  # fmt: skip

    @abstractmethod
    def fit_pipeline(self, data: TaskData, split: Split, config: BaseModel) -> Pipeline:
        """Fit vocabularies, scalers and label sets on `split.train` only (never on validation or test)."""

    @abstractmethod
    def pipeline_from_state(self, state: dict[str, Any]) -> Pipeline:
        """Rebuild the fitted pipeline from an artifact's preprocessing state."""

    @abstractmethod
    def targets(self, data: TaskData, index: np.ndarray, pipeline: Pipeline) -> np.ndarray:
        """Labels of the samples at `index`: (n,) int for multiclass, (n, outputs) float with NaN = missing otherwise."""

    @abstractmethod
    def build_model(self, data: TaskData, split: Split, pipeline: Pipeline, config: BaseModel) -> tuple[nn.Module, dict[str, Any]]:
        """The registered model `config.model.name` sized by the pipeline, initialised (pretraining, embeddings).

        Returns (model, info for metrics.json["model_init"]). Called right after the global seed is set.
        """

    def pretrain(self, config: BaseModel, out: Path) -> dict[str, Any]:
        """Self-supervised pretraining of the encoder, written as an artifact under `out` for `--init-from`; returns stats."""
        raise ConfigError(f"task {self.name!r} has no self-supervised pretraining; pretrain on a related labelled task instead "
                          f"(medrnn train ... --out RUN) and start from it: medrnn train {self.name} --init-from RUN")  # fmt: skip

    @abstractmethod
    def loaders(self, data: TaskData, split: Split, pipeline: Pipeline,
                config: BaseModel) -> tuple[DataLoader, DataLoader, list[L.Callback]]:  # fmt: skip
        """(train loader, validation loader, extra Lightning callbacks); batches are `Batch`es with y."""

    def class_weights(self, data: TaskData, split: Split, pipeline: Pipeline, config: BaseModel) -> torch.Tensor | None:
        """Per-class loss weights for multiclass tasks (None: unweighted)."""
        return None

    def extra_loss(self, data: TaskData, split: Split, pipeline: Pipeline, config: BaseModel, model: nn.Module) -> ExtraLoss | None:
        """A loss term added to the output-kind loss in training (e.g. evidence supervision on `model`'s attention), or None."""
        return None

    def batch_augment(self, config: BaseModel) -> Callable[[Batch], Batch] | None:
        """The augmentation applied to every training batch when `train.augment` is on (signal worlds: gain, noise and
        jitter, `train/augment.py`), or None. A world without one refuses `train.augment=true` (its inputs may be token
        ids or volumes, which signal noise would corrupt); worlds that augment in their loaders have their own fields."""
        if getattr(config.train, "augment", False):
            raise ConfigError(f"task {self.name!r}: train.augment=true, but this task has no batch augmentation (train.augment is "
                              "the signal worlds' gain, noise and jitter); set train.augment=false")  # fmt: skip
        return None

    @abstractmethod
    def predict(self, model: nn.Module, pipeline: Pipeline, samples: Any) -> Scores:
        """Scores for `samples` (eval mode, no grad): the one inference function, for evaluation and `Predictor` alike."""

    def validation_loss(self, y: np.ndarray, scores: Scores, pipeline: Pipeline) -> float:
        """The training loss applied to final predictions (to choose among recipes on validation; lower is better).

        Default by output kind: mean BCE over labelled entries, NLL of the true class, or MSE in target units.
        """
        s = np.asarray(scores.values, dtype=np.float64)
        if pipeline.output_kind == "multiclass":
            y = np.asarray(y, dtype=np.int64)
            return float(-np.mean(np.log(np.clip(s[np.arange(len(y)), y], 1e-7, 1.0))))
        y = np.asarray(y, dtype=np.float64).reshape(s.shape)
        mask = ~np.isnan(y)
        if pipeline.output_kind == "regression":
            return float(np.mean((s[mask] - y[mask]) ** 2))
        return mean_bce(y, s)

    def tune(self, pipeline: Pipeline, scores: Scores, y: np.ndarray, samples: Any = None) -> dict[str, Any]:
        """Set decision thresholds on validation scores (in place); returns what was tuned for metrics.json. `samples` are
        the validation samples themselves (the task's container), for tuning that reads more than `y`."""
        return {}

    @abstractmethod
    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: Pipeline, config: BaseModel, samples: Any) -> Any:
        """The test MetricReport, bootstrap CIs resampling `units` (the split unit)."""

    def write_outputs(self, run_dir: Path, data: TaskData, split: Split, pipeline: Pipeline, scores: Scores,
                      model: nn.Module, config: BaseModel) -> dict[str, Any]:  # fmt: skip
        """Write the world's own files beside the run (attention, evidence, strips); return extra metrics.json entries."""
        return {}

    # ---- inference ---------------------------------------------------------------------------------------------
    @abstractmethod
    def read_input(self, source: str, pipeline: Pipeline, options: dict[str, Any]) -> InputItem:
        """Read one user input (file, record) into samples; raises MedrnnError naming the file and field when bad."""

    @abstractmethod
    def decode(self, item: InputItem, scores: Scores, pipeline: Pipeline) -> list[dict[str, Any]]:
        """Output rows for one input item (one per beat, molecule, stay, code ...), JSON/CSV-ready."""

    @abstractmethod
    def columns(self, pipeline: Pipeline) -> list[str]:
        """The CSV columns of `decode`'s rows."""

    def merge_extras(self, member_scores: list[Scores]) -> dict[str, Any]:
        """Extras of an ensemble's mean scores from its members' (default: the first member's)."""
        return member_scores[0].extras

    # ---- explanation -------------------------------------------------------------------------------------------
    def explain_inputs(self, pipeline: Pipeline, samples: Any, index: list[int]) -> list[ExplainInput]:
        """The samples at `index` as the model reads them, each with its axes and baseline, for `explain()`."""
        raise ConfigError(f"task {self.name!r} does not explain its predictions")

    def explain_figures(self, item: ExplainedItem, pipeline: Pipeline) -> list[tuple[str, Figure]]:
        """Figures of one explained input, (name, matplotlib figure); default: one per sample, chosen by its axes."""
        from medrnn.explain.plots import default_figures

        return default_figures(item)

    def predict_figures(self, item: InputItem, scores: Scores, pipeline: Pipeline) -> list[tuple[str, Figure]]:
        """Figures of one predicted input, (name, matplotlib figure), written beside the predictions by `medrnn predict
        --figures` (OUT.figures/ITEM__NAME.png); default: none (imaging: the slices read with their attention)."""
        return []

    # ---- report ------------------------------------------------------------------------------------------------
    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        """The world's part of report.html (beyond the generic metric tables and curves)."""
        return []

    # ---- helpers shared by every task --------------------------------------------------------------------------
    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The declaration as a dict, for `medrnn tasks` and docs."""
        return {"name": cls.name, "aliases": list(cls.aliases), "title": cls.title, "data": cls.data, "readers": list(cls.readers),
                "split_unit": cls.split_unit, "output_kinds": list(cls.output_kinds), "input_axes": list(cls.input_axes),
                "default_model": cls.default_model, "models": list(cls.models), "time_estimate": cls.time_estimate}  # fmt: skip


class ExtraLoss(ABC):
    """A training loss term beside the output-kind loss: called with the model output and batch, returns a scalar."""

    weight: float = 1.0
    name: str = "extra"

    @abstractmethod
    def __call__(self, output: Any, batch: Batch) -> torch.Tensor: ...


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register a Task under its name; aliases resolve through `get_task`."""
    for attr in ("name", "title", "data", "readers", "split_unit", "output_kinds", "input_axes", "default_model", "config_class"):
        if not hasattr(cls, attr):
            raise ConfigError(f"task {cls.__name__} does not declare {attr!r}")
    bad = [k for k in cls.output_kinds if k not in OUTPUT_KINDS]
    if bad:
        raise ConfigError(f"task {cls.name!r}: output kinds {bad}; valid: {', '.join(OUTPUT_KINDS)}")
    TASKS.register(cls.name)(cls)
    return cls


@functools.cache
def load_all_tasks() -> None:
    """Import every task folder under tasks/ once (each registers itself)."""
    import importlib
    import importlib.util
    import pkgutil

    import medrnn.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.ispkg and importlib.util.find_spec(f"medrnn.tasks.{module.name}.task") is not None:
            importlib.import_module(f"medrnn.tasks.{module.name}.task")


def get_task(name: str) -> Task:
    """The registered task `name` (or one of its aliases), instantiated."""
    for key in task_names():
        cls = TASKS.get(key)
        if name == key or name in cls.aliases:
            return cls()
    choices = ", ".join(f"{k} ({'/'.join(TASKS.get(k).aliases)})" if TASKS.get(k).aliases else k for k in task_names())
    raise ConfigError(f"unknown task {name!r}; available: {choices}")


def task_names() -> list[str]:
    """Registered task names."""
    load_all_tasks()
    return [k for k in TASKS.names() if isinstance(TASKS.get(k), type) and issubclass(TASKS.get(k), Task)]


def mean_bce(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities over the labelled entries (NaN = missing label)."""
    mask = ~np.isnan(y)
    p, t = np.clip(np.asarray(probs, dtype=np.float64)[mask], 1e-7, 1 - 1e-7), y[mask]
    return float(np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p))))


def positions(n: int) -> np.ndarray:
    """0..n-1 as int64 positions (every sample)."""
    return np.arange(n, dtype=np.int64)


def as_index(index: Sequence[int] | np.ndarray) -> np.ndarray:
    """Positions as an int64 array."""
    return np.asarray(index, dtype=np.int64)
