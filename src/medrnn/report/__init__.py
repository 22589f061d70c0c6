"""Plots and the self-contained HTML report of a run."""

from medrnn.report.html import write_report
from medrnn.report.icu import write_icu_report
from medrnn.report.molecules import write_molecule_report
from medrnn.report.plots import (
    figure_to_png,
    plot_confusion,
    plot_ecg_strip,
    plot_pr,
    plot_roc,
)

__all__ = [
    "figure_to_png",
    "plot_confusion",
    "plot_ecg_strip",
    "plot_pr",
    "plot_roc",
    "write_icu_report",
    "write_molecule_report",
    "write_report",
]
