"""Plots and the self-contained HTML report of a run (one writer for every task).

Names are loaded on first use, so that a world's report module can import the light pieces (numbers, headline) without
pulling jinja2 and matplotlib in.
"""

from __future__ import annotations

from typing import Any

_WHERE = {"write_report": "html", "figure_to_png": "plots", "plot_confusion": "plots", "plot_ecg_strip": "plots",
          "plot_roc_pr": "plots"}  # fmt: skip
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'medrnn.report' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"medrnn.report.{_WHERE[name]}"), name)
