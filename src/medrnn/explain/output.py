"""Explanations to files: one JSON per input (every explained sample's attribution on the task's axes) and the
task's PNG figures, plus index.json listing inputs, files and failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.atomic import atomic_path, write_text
from medrnn.explain.api import ExplainResult
from medrnn.explain.plots import safe
from medrnn.metrics.bootstrap import jsonable


def write_explanations(result: ExplainResult, task: Any, pipeline: Any, out: Path, figures: bool = True) -> dict[str, Any]:
    """Write DIR/ITEM.json and DIR/ITEM__SAMPLE.png per input, and DIR/index.json; returns the index."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"task": result.task, "method": result.method, "items": [], "failures": result.failures}
    for item in result.items:
        name = safe(item.item_id)
        doc = {"task": result.task, "method": result.method, "item_id": item.item_id, "n_samples": item.n_samples,
               "explained": len(item.explanations), "explanations": [e.to_json() for e in item.explanations]}  # fmt: skip
        write_text(out / f"{name}.json", json.dumps(doc, default=jsonable))
        pngs = []
        if figures:
            for fig_name, fig in task.explain_figures(item, pipeline):
                path = out / f"{fig_name}.png"
                with atomic_path(path) as tmp:
                    if isinstance(fig, bytes):  # already a PNG (RDKit drawings)
                        tmp.write_bytes(fig)
                    else:
                        fig.savefig(tmp, dpi=110, format="png")
                        plt.close(fig)
                pngs.append(path.name)
        index["items"].append({"item_id": item.item_id, "json": f"{name}.json", "figures": pngs, "n_samples": item.n_samples,
                               "explained": len(item.explanations),
                               "seconds_per_sample": [round(e.seconds, 4) for e in item.explanations]})  # fmt: skip
    checked = [e.faithfulness for item in result.items for e in item.explanations if e.faithfulness]
    if checked:  # means over every explained sample (medians of areas are in the benchmark)
        index["faithfulness"] = {"n": len(checked), **{k: float(np.mean([c[k] for c in checked])) for k in checked[0]}}
    write_text(out / "index.json", json.dumps(index, indent=1, default=jsonable))
    return index


def write_run_explanations(run_dir: Path, task: Any, model: Any, pipeline: Any, samples: Any, n: int = 3,
                           method: str = "ig") -> dict[str, Any]:  # fmt: skip
    """Explain the first `n` test samples of a finished training run into RUN/explain/ (JSON, PNGs, index.json with
    faithfulness), for the report; returns the metrics.json entry. A task that cannot explain is recorded, not fatal."""
    import time

    from medrnn.errors import MedrnnError
    from medrnn.explain.api import ExplainedItem, ExplainResult, explain_inputs

    t0 = time.perf_counter()
    try:
        explanations = explain_inputs([(model, pipeline)], task, [samples], "test", method, max_samples=n, check=True)
    except MedrnnError as err:
        return {"explain": {"method": method, "skipped": str(err)}}
    result = ExplainResult(task.name, method, [ExplainedItem("test", explanations, samples, len(samples))])
    index = write_explanations(result, task, pipeline, run_dir / "explain")
    return {"explain": {"method": method, "samples": len(explanations), "folder": "explain",
                        "faithfulness": index.get("faithfulness"), "seconds": time.perf_counter() - t0}}  # fmt: skip


__all__ = ["write_explanations", "write_run_explanations"]
