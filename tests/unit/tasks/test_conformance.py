"""Conformance of every registered task to the contract (tasks/base.py), on tiny real records: samples -> a split with
no unit on two sides -> a pipeline fitted on training items only -> one short training run -> artifact round trip ->
the Predictor scores the test items exactly as the evaluation did. A toy task defined here trains, predicts,
reports and ensembles through the generic layers with no edit outside its own code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medrnn.predict import Predictor
from medrnn.tasks.base import check_split, get_task, task_names
from medrnn.train.run import COMPLETE, run_task

TASKS_NOW = task_names()


@pytest.mark.parametrize("name", TASKS_NOW)
def test_task_declares_the_contract(name: str) -> None:
    task = get_task(name)
    d = task.describe()
    assert d["split_unit"] and d["input_axes"] and d["default_model"] and d["output_kinds"]
    cfg = task.quick_config()
    assert isinstance(cfg, task.config_class)
    assert cfg.model.name in __import__("medrnn.models", fromlist=["list_models"]).list_models()
    for option in task.options:
        assert option.flag.startswith("--") and option.field.split(".")[0] in cfg.model_dump()
    assert get_task(name).name == name and all(get_task(a).name == name for a in task.aliases)


@pytest.mark.parametrize("name", TASKS_NOW)
def test_split_is_by_unit_and_pipeline_sees_train_only(name: str) -> None:
    task = get_task(name)
    cfg = task.quick_config()
    data = task.load(cfg)
    assert len(data) == len(data.units) > 0
    split = task.split(data, cfg)
    check_split(data.units, split)  # raises when a unit lies on two sides
    parts = [set(np.asarray(p).tolist()) for p in split]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    pipeline = task.fit_pipeline(data, split, cfg)
    state = pipeline.state_dict()
    json.dumps(state)  # JSON, never a pickle
    assert task.pipeline_from_state(json.loads(json.dumps(state))).state_dict() == json.loads(json.dumps(state))
    assert pipeline.output_kind in task.output_kinds
    # fitted on training items only: shrinking validation and test to one sample each leaves the fitted state as it was
    shrunk = type(split)(split.train, split.val[:1], split.test[:1])
    assert json.loads(json.dumps(task.fit_pipeline(data, shrunk, cfg).state_dict())) == json.loads(json.dumps(state))


@pytest.mark.parametrize("name", TASKS_NOW)
def test_training_artifact_and_predictor_agree(name: str, tmp_path: Path) -> None:
    task = get_task(name)
    cfg = task.quick_config()
    result = run_task(task, cfg, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / COMPLETE).exists()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["task"] == name and metrics["split"]["unit"] == task.split_unit
    predictor = Predictor.from_artifact(tmp_path / "run")
    assert predictor.task.name == name and predictor.label_names == list(result.pipeline.label_names)
    data = task.load(cfg)
    split = task.split(data, cfg)
    raw = predictor.task.predict(predictor.model, predictor.pipeline, task.subset(data, split.test))
    again = predictor.calibrate(raw)  # the calibrator stored in the artifact, as Predictor.score applies it
    saved = np.load(tmp_path / "run" / "predictions.npz")
    np.testing.assert_allclose(raw.values, saved["y_score_uncalibrated"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(again.values, saved["y_score"], rtol=0, atol=1e-6)
    assert np.isfinite(again.values).all()
    assert metrics["calibrator"]["fitted_on"] == "validation" and "calibration_before" in metrics
    # conformal sets or intervals at 0.9 from the artifact's stored validation scores, as metrics.json measured them
    # on test, and every task's decode/columns add the set columns only when coverage is asked
    from medrnn.tasks.base import InputItem, Scores
    from medrnn.uncertainty import with_coverage

    y_test = task.targets(data, split.test, result.pipeline)
    assert predictor.conformal().evaluate(again.values, y_test, 0.9)["coverage"] == pytest.approx(metrics["conformal"]["coverage"])
    item = InputItem("test", task.subset(data, split.test))
    marked = with_coverage(predictor.pipeline, 0.9)
    with_sets = Scores(again.values, {**again.extras, "conformal": predictor.conformal().predict(again.values, 0.9)})
    added = [c for c in task.columns(marked) if c not in task.columns(predictor.pipeline)]
    assert added and all(c in ("prediction_set", "set_size", "in_set") or c.startswith(("lower_", "upper_")) for c in added)
    rows = task.decode(item, with_sets, marked)
    assert rows and all(c in row for row in rows[:5] for c in added if not row.get("level") == "segment")
    # many inputs, one forward pass: the test samples cut in three parts, joined and scored together, score as each
    # part alone (the service's micro-batching and `medrnn predict` of many files rely on it)
    from medrnn.predict import score_group

    test = np.asarray(split.test)
    cuts = [test[: len(test) // 3], test[len(test) // 3 : len(test) // 2], test[len(test) // 2 :]]
    parts = [InputItem(f"part{k}", task.subset(data, c)) for k, c in enumerate(cuts)]
    assert task.join([p.samples for p in parts]) is not None
    for part, joined in zip(parts, score_group(predictor, parts)):
        alone = predictor.score(part)
        assert not isinstance(joined, Exception) and len(joined) == len(part.samples)
        np.testing.assert_allclose(joined.values, alone.values, rtol=0, atol=1e-5)
        assert set(joined.extras) == set(alone.extras)
