"""explain(): one entry point for every task. An artifact's Predictor (or an ensemble: members' attributions averaged)
reads each input with the task's reader, the task turns the samples into ExplainInputs, and a method attributes the
chosen outputs. Each input has its own error boundary, as in `predict`: a bad input is a failure entry, the rest go on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.errors import ConfigError
from medrnn.explain.faithfulness import output_of
from medrnn.explain.inputs import ExplainInput, Explanation
from medrnn.explain.methods import DEFAULT_METHOD, attribute, check_method

log = logging.getLogger(__name__)
MAX_SAMPLES = 10  # samples explained per input unless asked: a record holds thousands of beats
MAX_TARGETS = 3  # multilabel/regression outputs explained per sample unless named


@dataclass
class ExplainedItem:
    """The explanations of one input (one per explained sample) and its figures' data."""

    item_id: str
    explanations: list[Explanation]
    samples: Any = None  # the read samples, for the task's figures
    n_samples: int = 0  # samples the input holds (explanations cover the first `max_samples`)


@dataclass
class ExplainResult:
    """Explained inputs in input order, and failures keyed by input (nothing dropped silently)."""

    task: str
    method: str
    items: list[ExplainedItem]
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)


def choose_targets(probs: np.ndarray, label_names: list[str], output_kind: str, threshold: float | None,
                   targets: list[str] | None) -> list[int]:  # fmt: skip
    """Outputs to explain: those named, else the predicted class (multiclass), the output (binary), the predicted
    labels (multilabel, at most MAX_TARGETS, the top one when none is predicted) or the first outputs (regression)."""
    if targets:
        unknown = [t for t in targets if t not in label_names]
        if unknown:
            shown = ", ".join(label_names[:20]) + (" ..." if len(label_names) > 20 else "")
            raise ConfigError(f"--target {', '.join(unknown)}: not an output of this model; outputs: {shown}")
        return [label_names.index(t) for t in targets]
    if output_kind == "multiclass":
        return [int(np.argmax(probs))]
    if output_kind == "binary":
        return [0]
    if output_kind == "multilabel":
        order = np.argsort(-probs, kind="stable")
        chosen = [int(k) for k in order[:MAX_TARGETS] if probs[k] >= (0.5 if threshold is None else threshold)]
        return chosen or [int(order[0])]
    return list(range(min(len(label_names), MAX_TARGETS)))


def explain_inputs(models: list[tuple[nn.Module, Any]], task: Any, samples_of: list[Any], item_id: str, method: str,
                   targets: list[str] | None = None, max_samples: int = MAX_SAMPLES, check: bool = False) -> list[Explanation]:  # fmt: skip
    """Explanations of the first `max_samples` samples of one input, averaged over (model, pipeline) members.

    `samples_of[m]` is the input read for member m (members may read an input with their own fitted pipelines). With
    `check`, each explanation carries its faithfulness (first target, first member's model): see faithfulness.py.
    """
    from medrnn.explain.faithfulness import faithfulness, randomized_model

    check_method(method)
    pipeline = models[0][1]
    n = len(samples_of[0])
    index = list(range(min(n, max_samples)))
    per_member = [task.explain_inputs(p, s, index) for (_, p), s in zip(models, samples_of)]
    random_model = randomized_model(models[0][0]) if check else None
    out = []
    for i, inp in enumerate(per_member[0]):
        t0 = time.perf_counter()
        member_inputs = [inputs[i] for inputs in per_member]
        probs = np.mean([predicted(model, mi, pipeline.output_kind) for (model, _), mi in zip(models, member_inputs)], axis=0)
        chosen = choose_targets(probs, list(pipeline.label_names), pipeline.output_kind, pipeline.threshold, targets)
        attributions = []
        for target in chosen:
            per = [attribute(model, on_device(mi, model), target, method) for (model, _), mi in zip(models, member_inputs)]
            if len({a.shape for a in per}) > 1:
                raise ConfigError(f"ensemble members read {item_id} into inputs of different shapes {[a.shape for a in per]}; "
                                  "explain one member's artifact instead")  # fmt: skip
            attributions.append(np.mean(per, axis=0))
        names = list(pipeline.label_names)
        out.append(Explanation(item_id, inp.sample_id, method, inp.axes, [names[t] for t in chosen], np.stack(attributions),
                               {names[k]: round(float(v), 6) for k, v in enumerate(probs)}, inp.axis_labels, inp.values,
                               {**inp.context, **({"present": inp.present} if inp.present is not None else {})},
                               time.perf_counter() - t0))  # fmt: skip
        if check:
            first = on_device(member_inputs[0], models[0][0])
            out[-1].faithfulness = faithfulness(models[0][0], first, chosen[0], attributions[0], method, pipeline.output_kind,
                                                random_model=random_model)  # fmt: skip
    return out


def on_device(inp: ExplainInput, model: nn.Module) -> ExplainInput:
    """The input with its batch on the model's device."""
    device = next(model.parameters()).device
    if inp.batch.x.device == device:
        return inp
    return dataclasses.replace(inp, batch=inp.batch.to(device))


@torch.no_grad()
def predicted(model: nn.Module, inp: ExplainInput, output_kind: str) -> np.ndarray:
    """The model's outputs for one input (probabilities, or values for regression in model units)."""
    model.eval()
    inp = on_device(inp, model)
    return output_of(model(inp.batch).logits, output_kind)[0].cpu().numpy()


def explain(predictor: Any, inputs: list[str], method: str = DEFAULT_METHOD, targets: list[str] | None = None,
            max_samples: int = MAX_SAMPLES, options: dict[str, Any] | None = None, check: bool = False) -> ExplainResult:  # fmt: skip
    """Explain every input of a Predictor or EnsemblePredictor; one failing input is a failure entry, the rest go on.
    `check` adds each explanation's faithfulness (deletion/insertion against random orderings, randomisation check)."""
    from medrnn.predict import DEFECTS, failure

    check_method(method)
    options = options or {}
    members = getattr(predictor, "members", None) or [predictor]
    models = [(m.model, m.pipeline) for m in members]
    items: list[ExplainedItem] = []
    failures: dict[str, dict[str, Any]] = {}
    for source in map(str, inputs):
        try:
            read = [m.read(source, options) for m in members]
            explanations = explain_inputs(models, predictor.task, [r.samples for r in read], read[0].item_id, method, targets,
                                          max_samples, check)  # fmt: skip
        except DEFECTS:
            raise
        except Exception as err:  # this input's failure only (the same boundary as predict)
            log.debug("%s failed", source, exc_info=True)
            failures[source] = failure(err)
            continue
        if read[0].problems:  # parts of the input the reader left out (unparsable rows ...), as predict reports them
            failures[source] = {"rejected": read[0].problems}
        items.append(ExplainedItem(read[0].item_id, explanations, read[0].samples, len(read[0].samples)))
    return ExplainResult(predictor.task.name, method, items, failures)


__all__ = ["MAX_SAMPLES", "ExplainResult", "ExplainedItem", "choose_targets", "explain", "explain_inputs"]
