"""Figures per predicted input (`medrnn predict --figures`): the task's `predict_figures` hook drawn to PNG bytes
inside the input's error boundary, and written into OUT.figures/ beside the predictions file.

A figure that cannot be drawn does not fail the prediction: the input's notes say why (its rows stand).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medrnn.atomic import atomic_path


def draw_item_figures(task: Any, item: Any, scores: Any, pipeline: Any) -> dict[str, bytes]:
    """{name: PNG bytes} of the task's figures for one predicted input (empty when it draws none)."""
    from medrnn.report.plots import figure_to_png

    return {str(name): figure_to_png(fig) for name, fig in task.predict_figures(item, scores, pipeline)}


def figures_folder(out: Path) -> Path:
    """Where the figures of predictions written to `out` go: OUT.figures/ beside it (predictions.csv -> predictions.figures/)."""
    return out.with_suffix(".figures")


def write_figures(result: Any, out: Path) -> tuple[Path, list[Path]]:
    """Write every item's figures as OUT.figures/ITEM__NAME.png; PNGs of an earlier prediction to the same OUT are removed
    first, so what lies there is this run's. Returns the folder and the files written."""
    from medrnn.explain.plots import safe

    folder = figures_folder(out)
    if folder.is_dir():
        for old in folder.glob("*.png"):
            old.unlink()
    written = []
    for item in result.items:
        for name, png in (item.figures or {}).items():
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{safe(item.item_id)}__{safe(name)}.png"
            with atomic_path(path) as tmp:
                Path(tmp).write_bytes(png)
            written.append(path)
    return folder, written


__all__ = ["draw_item_figures", "figures_folder", "write_figures"]
