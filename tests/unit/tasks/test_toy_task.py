"""A data world added by writing one Task class and nothing else: trained with `medrnn train toy`, predicted,
reported and ensembled through the generic layers (no edit outside this file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import BaseModel, Field
from torch.utils.data import DataLoader

from medrnn.cli.main import main
from medrnn.config import ModelConfig, TrainConfig
from medrnn.data.batch import SequenceDataset, collate
from medrnn.data.splits import Split, random_split
from medrnn.errors import InvalidRecordError
from medrnn.models import create_model
from medrnn.predict import Predictor
from medrnn.registry import TASKS
from medrnn.tasks.base import InputItem, Pipeline, Scores, Section, Task, TaskData, TaskOption


class ToyData(BaseModel):
    n: int = Field(120, ge=12)
    length: int = 40


class ToyConfig(BaseModel):
    data: ToyData = ToyData()
    model: ModelConfig = ModelConfig(name="gru", frontend="none", hidden_size=8, head_hidden=0)
    train: TrainConfig = TrainConfig(max_epochs=3, augment=False, monitor="val_loss", batch_size=16, progress=False)
    bootstrap: int = 10


def wave(kind: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """A sine (0) or a square wave (1) with noise: the toy's 'record'."""
    t = np.linspace(0, 4 * np.pi, length) + rng.uniform(0, np.pi)
    x = np.sin(t) if kind == 0 else np.sign(np.sin(t))
    return (x + 0.1 * rng.standard_normal(length)).astype(np.float32)


class ToyPipeline(Pipeline):
    def __init__(self, scale: float) -> None:
        self.scale, self.label_names, self.output_kind, self.threshold = scale, ["square"], "binary", None

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ToyPipeline:
        return cls(float(state["scale"]))


class ToyTask(Task):
    name, title, data, readers, split_unit = "toy", "sine vs square waves", "generated", ("np.load",), "wave"
    output_kinds, input_axes, default_model, config_class = ("binary",), ("time",), "gru", ToyConfig
    options = (TaskOption("--n", "data.n", "waves to generate", "int"),)

    def quick_config(self) -> ToyConfig:
        return ToyConfig()

    def load(self, config: ToyConfig, progress: bool = False) -> TaskData:
        rng = np.random.default_rng(0)
        y = np.arange(config.data.n) % 2
        x = np.stack([wave(int(k), config.data.length, rng) for k in y])
        return TaskData((x, y), np.array([f"w{i}" for i in range(len(y))]), [f"w{i}" for i in range(len(y))])

    def split(self, data: TaskData, config: ToyConfig) -> Split:
        return random_split(len(data), seed=config.train.seed)

    def subset(self, data: TaskData, index: np.ndarray) -> Any:
        return data.samples[0][index]

    def fit_pipeline(self, data: TaskData, split: Split, config: ToyConfig) -> ToyPipeline:
        return ToyPipeline(float(np.abs(data.samples[0][split.train]).max()))

    def pipeline_from_state(self, state: dict[str, Any]) -> ToyPipeline:
        return ToyPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: Pipeline) -> np.ndarray:
        return data.samples[1][index].astype(np.float64)[:, None]

    def build_model(self, data: TaskData, split: Split, pipeline: Pipeline, config: ToyConfig) -> tuple[Any, dict[str, Any]]:
        return create_model(config.model.name, input_size=1, num_classes=1, **config.model.model_dump(exclude={"name"})), {}

    def _dataset(self, x: np.ndarray, y: np.ndarray | None, pipeline: ToyPipeline) -> SequenceDataset:
        y = np.zeros((len(x), 1)) if y is None else y
        return SequenceDataset((x / pipeline.scale)[..., None], y)

    def loaders(self, data: TaskData, split: Split, pipeline: ToyPipeline, config: ToyConfig) -> tuple[DataLoader, DataLoader, list]:
        x, y = data.samples[0], data.samples[1].astype(np.float32)[:, None]
        make = lambda idx, shuffle: DataLoader(self._dataset(x[idx], y[idx], pipeline), batch_size=16, shuffle=shuffle,  # noqa: E731
                                               collate_fn=collate, generator=torch.Generator().manual_seed(0))  # fmt: skip
        return make(split.train, True), make(split.val, False), []

    @torch.no_grad()
    def predict(self, model: Any, pipeline: ToyPipeline, samples: np.ndarray) -> Scores:
        batch = collate([self._dataset(samples, None, pipeline)[i] for i in range(len(samples))])
        return Scores(torch.sigmoid(model.eval()(batch).logits).double().numpy())

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: Pipeline, config: ToyConfig, samples: Any) -> Any:
        from medrnn.metrics.outputs import evaluate_outputs

        return evaluate_outputs(y, scores.values, ["square"], "binary", units=units, unit="waves", n_boot=config.bootstrap)

    def read_input(self, source: str, pipeline: Pipeline, options: dict[str, Any]) -> InputItem:
        x = np.load(source, allow_pickle=False)
        if x.ndim != 1:
            raise InvalidRecordError(f"{source}: a wave is 1-D, got shape {x.shape}")
        return InputItem(source, x[None].astype(np.float32))

    def decode(self, item: InputItem, scores: Scores, pipeline: Pipeline) -> list[dict[str, Any]]:
        return [{"item_id": item.item_id, "p_square": float(scores.values[0, 0])}]

    def columns(self, pipeline: Pipeline) -> list[str]:
        return ["item_id", "p_square"]

    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        return [Section("Toy waves", "<p>sine = 0, square = 1</p>")]


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASKS._items, "toy", ToyTask)


def test_a_task_defined_in_one_class_goes_through_every_generic_layer(toy: None, tmp_path: Path) -> None:
    run = tmp_path / "toy-run"
    assert main(["train", "toy", "--n", "80", "--seed", "1", "--out", str(run), "--no-progress"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "toy" and metrics["split"]["counts"]["train"] == 64 and metrics["output_kind"] == "binary"
    assert metrics["calibration"]["brier"] >= 0
    html = (run / "report.html").read_text(encoding="utf-8")
    for part in ("Toy waves", 'alt="ROC curves"', 'alt="reliability diagram"', "Per output"):
        assert part in html, part

    rng = np.random.default_rng(5)
    np.save(tmp_path / "square.npy", wave(1, 40, rng))
    np.save(tmp_path / "bad.npy", np.zeros((2, 2)))
    out = tmp_path / "p.csv"
    code = main(["predict", "--artifact", str(run), str(tmp_path / "square.npy"), str(tmp_path / "bad.npy"), "--out", str(out)])
    assert code == 1  # one input failed, the other was predicted
    assert out.read_text().splitlines()[0] == "item_id,p_square" and len(out.read_text().splitlines()) == 2
    errors = json.loads(out.with_suffix(".errors.json").read_text())
    assert errors[str(tmp_path / "bad.npy")]["error"] == "InvalidRecordError"

    run2 = tmp_path / "toy-run-2"
    assert main(["train", "toy", "--n", "80", "--seed", "1", "--set", "train.lr=0.003", "--out", str(run2), "--no-report"]) == 0
    assert main(["ensemble", str(run), str(run2), "--out", str(tmp_path / "ens")]) == 0
    ensemble = Predictor.from_artifact(tmp_path / "ens")
    single = [Predictor.from_artifact(r).predict([str(tmp_path / "square.npy")]).rows()[0]["p_square"] for r in (run, run2)]
    mean = ensemble.predict([str(tmp_path / "square.npy")]).rows()[0]["p_square"]
    assert mean == pytest.approx(np.mean(single), abs=1e-9)


def test_bad_option_values_name_the_field(toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "toy", "--set", "train.max_epochs=0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "train.max_epochs" in err and "Traceback" not in err
    assert main(["train", "toy", "--set", "nosuch.key=1", "--out", str(tmp_path / "r")]) == 2


def test_an_unknown_model_is_refused_before_any_data_is_read(toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "toy", "--model", "transformer", "--out", str(tmp_path / "r")]) == 2
    assert "unknown model 'transformer'; available:" in capsys.readouterr().err
