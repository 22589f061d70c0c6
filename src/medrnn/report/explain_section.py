"""The report's "Why the model said it" section: the run's explanations of a few test samples (RUN/explain/, written
by the training run) with their faithfulness, for every task alike."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from medrnn.report.numbers import sig
from medrnn.tasks.base import Section

MAX_FIGURES = 6


def explanation_section(run_dir: Path, metrics: dict[str, Any]) -> Section | None:
    """Figures of RUN/explain/index.json with how to read them and how to make more; None when the run has none."""
    index_path = run_dir / "explain" / "index.json"
    if not index_path.is_file():
        return None
    index = json.loads(index_path.read_text(encoding="utf-8"))
    figures = []
    for item in index.get("items", []):
        for name in item.get("figures", [])[:MAX_FIGURES]:
            png = run_dir / "explain" / name
            if png.is_file():
                figures.append((f"{name.removesuffix('.png')} ({index.get('method')})", base64.b64encode(png.read_bytes()).decode("ascii")))
    f = index.get("faithfulness")
    check = ""
    if f:
        check = (f"<p>Faithfulness over these {f['n']} samples: deletion area {sig(f['deletion_auc'])} against "
                 f"{sig(f['deletion_auc_random'])} for random orderings (lower is better), insertion area "
                 f"{sig(f['insertion_auc'])} against {sig(f['insertion_auc_random'])} (higher is better); rank correlation "
                 f"with the same method on a re-initialised model {sig(f['sanity_rank_corr'])} (low is better).</p>")  # fmt: skip
    method = html.escape(str(index.get("method", "")))
    body = (f"<p>Attributions by <b>{method}</b> of the first test samples, on the task's input axes: red pushed the "
            "explained output up, blue pushed it down. More, for any input and method: <code>medrnn explain --artifact "
            f"{html.escape(run_dir.name)}/model INPUT... --method ig|occlusion|gradient_shap|attention --check</code> "
            "(docs/explain.md).</p>" + check)  # fmt: skip
    return Section("Why the model said it", body, figures)


__all__ = ["explanation_section"]
