"""Plots and the self-contained HTML report of a run (one writer for every task)."""

from medrnn.report.html import write_report
from medrnn.report.plots import figure_to_png, plot_confusion, plot_ecg_strip, plot_pr, plot_roc

__all__ = ["figure_to_png", "plot_confusion", "plot_ecg_strip", "plot_pr", "plot_roc", "write_report"]
