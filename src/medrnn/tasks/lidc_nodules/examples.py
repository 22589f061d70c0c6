"""A few test nodules for the report: each one's strip (the slices read, the radiologists' consensus outline, the slice
attention beneath), written as RUN/examples/*.png when the run is written. Chosen without looking at the labels: among
the test nodules outlined by >= 2 radiologists on some slice, the two scored most and the two scored least malignant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medrnn.atomic import atomic_path
from medrnn.tasks.lidc_nodules.data import NoduleSet
from medrnn.tasks.lidc_nodules.strip import CONSENSUS_VOTES, nodule_strip, prediction_text

FOLDER = "examples"
PER_END = 2  # nodules from each end of the score range


def malignancy_score(values: np.ndarray, pipeline: Any) -> np.ndarray:
    """One number per nodule that orders them by predicted malignancy: p(malignant), or the rating."""
    values = np.asarray(values, dtype=np.float64)
    return values[:, -1] if values.ndim == 2 else values  # binary: p(malignant); three_class: p(malignant) (last); rating


def choose_examples(test: NoduleSet, values: np.ndarray, pipeline: Any) -> list[int]:
    """Positions of the example nodules: outlined (>= 2 votes) ones from both ends of the predicted malignancy."""
    outlined = [i for i, m in enumerate(test.masks) if m is not None and (pipeline.crop(m, test.ids[i]) >= CONSENSUS_VOTES).any()]
    if not outlined:
        return []
    score = malignancy_score(values, pipeline)
    order = sorted(outlined, key=lambda i: (-score[i], test.ids[i]))
    return order[:PER_END] + [i for i in order[-PER_END:] if i not in order[:PER_END]]


def write_examples(run_dir: Path, test: NoduleSet, values: np.ndarray, attention: list[np.ndarray], pipeline: Any) -> list[dict[str, Any]]:
    """Draw the chosen nodules' strips into RUN/examples/; returns their entries for metrics.json (file, nodule, label,
    prediction)."""
    from medrnn.explain.plots import safe
    from medrnn.report.plots import figure_to_png

    if pipeline.layout != "slices" or not len(test):
        return []
    entries = []
    for i in choose_examples(test, values, pipeline):
        said = prediction_text(np.asarray(values[i]), pipeline)
        label = test.labels[i] if test.labels else "unknown"
        att = np.asarray(attention[i]) if i < len(attention) else None
        fig = nodule_strip(pipeline, test.ids[i], test.images[i], test.masks[i], att, f"{test.ids[i]}: radiologists {label}; model {said}")
        path = Path(run_dir) / FOLDER / f"{safe(test.ids[i])}.png"
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(figure_to_png(fig))
        entries.append({"file": f"{FOLDER}/{path.name}", "nodule": test.ids[i], "label": label, "prediction": said,
                        "slice_attention": att is not None})  # fmt: skip
    return entries


__all__ = ["FOLDER", "choose_examples", "write_examples"]
