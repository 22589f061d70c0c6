"""explain() for every registered task: attributions have the input's shape and the task's axis names, every method
that applies runs, one that does not says so; figures render; IG is complete; errors name the valid choices."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from medrnn.errors import ConfigError
from medrnn.explain.api import ExplainedItem, choose_targets, explain_inputs
from medrnn.explain.methods import METHODS, attribute, check_method
from medrnn.explain.output import write_explanations
from medrnn.tasks.base import get_task, task_names

TASKS = task_names()


@pytest.fixture(scope="module")
def built() -> dict[str, tuple]:
    """Per task: (task, pipeline, untrained model of the quick config, three test samples), made once."""
    torch.set_num_threads(1)
    return {}


def task_parts(built: dict, name: str) -> tuple:
    if name not in built:
        task = get_task(name)
        cfg = task.quick_config()
        data = task.load(cfg)
        split = task.split(data, cfg)
        pipeline = task.fit_pipeline(data, split, cfg)
        L.seed_everything(0, verbose=False)
        model, _ = task.build_model(data, split, pipeline, cfg)
        built[name] = (task, pipeline, model.eval(), task.subset(data, split.test[:2]))
    return built[name]


@pytest.mark.parametrize("name", TASKS)
def test_attributions_have_the_inputs_shape_and_axes(name: str, built: dict, tmp_path: Path) -> None:
    task, pipeline, model, samples = task_parts(built, name)
    inputs = task.explain_inputs(pipeline, samples, [0])
    assert len(inputs) == 1 and inputs[0].axes == task.input_axes
    ran = []
    for method in METHODS:
        try:
            explanations = explain_inputs([(model, pipeline)], task, [samples], "item", method, max_samples=1)
        except ConfigError as err:  # only attention may not apply, and it must say so
            assert method == "attention" and "does not apply" in str(err) and "ig" in str(err)
            continue
        e = explanations[0]
        assert e.axes == task.input_axes and e.attributions.shape[1:] == inputs[0].shape
        assert e.attributions.shape[0] == len(e.targets) >= 1 and np.isfinite(e.attributions).all()
        assert set(e.targets) <= set(pipeline.label_names) and set(e.prediction) == set(pipeline.label_names)
        ran.append(method)
    assert {"ig", "occlusion", "gradient_shap"} <= set(ran)
    item = ExplainedItem("item", explanations, samples, len(samples))
    index = write_explanations(type("R", (), {"task": name, "method": "ig", "items": [item], "failures": {}})(), task, pipeline, tmp_path)
    pngs = index["items"][0]["figures"]
    assert pngs and all((tmp_path / p).stat().st_size > 2000 for p in pngs)  # a drawn figure, not an empty canvas
    assert (tmp_path / index["items"][0]["json"]).exists()


def tiny_lstm(tokens: bool = False) -> torch.nn.Module:
    from medrnn.models import build_model

    torch.manual_seed(0)
    kwargs = {"vocab_size": 12, "embedding_dim": 8} if tokens else {}
    return build_model("lstm", input_size=2, num_classes=3, hidden_size=8, attention=True, **kwargs).eval()


def one_input(tokens: bool = False):
    from medrnn.data.batch import make_batch
    from medrnn.explain.inputs import ExplainInput

    g = torch.Generator().manual_seed(1)
    x = torch.randint(1, 12, (1, 15), generator=g) if tokens else torch.randn(1, 30, 2, generator=g)
    return ExplainInput("s", make_batch(x), ("token",) if tokens else ("time", "lead"), x.shape[1])


@pytest.mark.parametrize("tokens", [False, True])
def test_integrated_gradients_is_complete(tokens: bool) -> None:
    """Sum of IG attributions = f(x) - f(baseline) for the explained logit (Sundararajan et al.'s completeness)."""
    model, inp = tiny_lstm(tokens), one_input(tokens)
    attribution = attribute(model, inp, target=1, method="ig", n_steps=128)
    with torch.no_grad():
        x = inp.batch.x
        base = torch.zeros_like(x)
        gap = (model(inp.batch).logits[0, 1] - model(inp.batch._replace(x=base)).logits[0, 1]).item()
    assert abs(attribution.sum() - gap) <= 0.02 * abs(gap) + 1e-4


def test_unknown_method_and_target_name_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid: ig, occlusion, gradient_shap, attention"):
        check_method("shap")
    with pytest.raises(ConfigError, match="outputs: N, S"):
        choose_targets(np.array([0.5, 0.5]), ["N", "S"], "multiclass", None, ["Q"])


def test_attention_without_attention_says_so() -> None:
    from medrnn.models import build_model

    model = build_model("lstm", input_size=2, num_classes=3, hidden_size=8, attention=False).eval()
    with pytest.raises(ConfigError, match="trained without attention"):
        attribute(model, one_input(), 0, "attention")


def test_targets_follow_the_output_kind() -> None:
    assert choose_targets(np.array([0.1, 0.7, 0.2]), ["a", "b", "c"], "multiclass", None, None) == [1]
    assert choose_targets(np.array([0.9]), ["y"], "binary", None, None) == [0]
    assert choose_targets(np.array([0.9, 0.1, 0.6, 0.8]), list("abcd"), "multilabel", 0.5, None) == [0, 3, 2]
    assert choose_targets(np.array([0.1, 0.2]), list("ab"), "multilabel", 0.5, None) == [1]  # none predicted: the top one


@pytest.mark.parametrize("tokens", [False, True])
def test_gradient_shap_is_seeded(tokens: bool) -> None:
    model, inp = tiny_lstm(tokens), one_input(tokens)
    torch.manual_seed(123)
    first = attribute(model, inp, 0, "gradient_shap")
    torch.manual_seed(456)  # the caller's generator state does not matter
    np.testing.assert_array_equal(first, attribute(model, inp, 0, "gradient_shap"))
