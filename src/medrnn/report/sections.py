"""The generic sections of every report: metric tables with CIs (any MetricReport dict), curves and calibration
drawn from predictions.npz by output kind. Tasks add their own sections after these."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import InvalidRecordError
from medrnn.metrics.report import format_estimate
from medrnn.runfiles import load_json, load_npz
from medrnn.tasks.base import Section

PER_LABEL_TITLES = {"multiclass": "Per class (one vs rest)", "multilabel": "Per label"}  # default "Per output"
LABELS = {"se": "Se", "ppv": "+P", "f1": "F1", "spec": "Spec", "auroc": "AUROC", "auprc": "AUPRC", "rmse": "RMSE", "mae": "MAE",
          "r2": "R²", "support": "support", "n": "n", "n_pos": "positives", "accuracy": "Accuracy", "macro_f1": "Macro-F1",
          "kappa": "Cohen's κ", "jkappa": "jκ (Mondéjar-Guerra 2019)", "macro_auroc": "Macro AUROC", "macro_auprc": "Macro AUPRC",
          "roc_auc": "ROC-AUC (mean over outputs)", "prc_auc": "PR-AUC (mean over outputs)", "map": "MAP"}  # fmt: skip
MAX_LABEL_ROWS = 40


def load_metrics(path: Path) -> dict[str, Any]:
    """metrics.json as a dict; a missing or unreadable file says how to make one."""
    if not path.exists():
        raise InvalidRecordError(f"{path}: no metrics.json here; train a run first with `medrnn train TASK --out {path.parent}`")
    data = load_json(path, dict, "metrics.json")
    if "test" not in data and ("overall" in data or "per_label" in data):
        data = {"test": data}  # a bare report
    if not isinstance(data.get("test"), dict):
        raise InvalidRecordError(f"{path}: field 'test' missing or not an object; expected the test MetricReport of a run")
    return data


def summary_rows(run_dir: Path, metrics: dict[str, Any], task: Any) -> list[tuple[str, str]]:
    """Key facts of the run: task, model, split by unit, training, headline."""
    rows = [("run folder", str(run_dir))]
    if task is not None:
        rows += [("task", f"{task.name}: {task.title}"), ("split unit", task.split_unit)]
    for key in ("model", "output_kind"):
        if key in metrics:
            rows.append((key.replace("_", " "), str(metrics[key])))
    split = metrics.get("split", {})
    if isinstance(split.get("counts"), dict):
        units = split.get("units", {})
        rows.append(("samples (units)", ", ".join(f"{k} {v:,}" + (f" ({units[k]:,})" if k in units else "") for k, v in split["counts"].items())))
    if "seed" in split:
        rows.append(("seed", str(split["seed"])))
    training = metrics.get("training", {})
    if training:
        rows.append(("training", f"{training.get('epochs')} epochs, best epoch {training.get('best_epoch')} on {training.get('monitor', 'validation')}"
                     f" = {_num(training.get('best_val'))}"))  # fmt: skip
    test = metrics["test"]
    for key in ("n_samples", "n_units", "unit", "n_boot"):
        if key in test:
            rows.append((key.replace("_", " "), str(test[key])))
    return rows


def generic_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """Metric tables, confusion matrix, curves and calibration."""
    test = metrics["test"]
    extras = test.get("extras") if isinstance(test.get("extras"), dict) else {}
    sections = [_overall(test)]
    if isinstance(test.get("per_label"), dict) and test["per_label"]:
        title = PER_LABEL_TITLES.get(str(test.get("output_kind")), "Per output")
        sections.append(_table_section(title, test["per_label"], test.get("ci", {})))
    if isinstance(extras.get("buckets"), dict) and extras["buckets"]:
        sections.append(_table_section("By training frequency of the code", extras["buckets"], test.get("ci", {})))
    if isinstance(extras.get("skipped"), dict) and extras["skipped"]:
        items = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in extras["skipped"].items())
        sections.append(Section("Outputs not scored", f"<ul>{items}</ul>"))
    if isinstance(extras.get("notes"), list) and extras["notes"]:
        items = "".join(f"<li>{html.escape(str(note))}</li>" for note in extras["notes"])
        sections.append(Section("Notes on the metrics", f"<ul>{items}</ul>"))
    curves = _curves(run_dir, metrics)
    if curves is not None:
        sections.append(curves)
    calibration = _calibration(metrics.get("calibration"))
    if calibration is not None:
        sections.append(calibration)
    return sections


def _overall(test: dict[str, Any]) -> Section:
    ci = test.get("ci", {})
    headline = test.get("headline")
    rows = "".join(f"<tr><td>{html.escape(LABELS.get(k, k))}{' (headline)' if k == headline else ''}</td>"
                   f"<td>{html.escape(format_estimate(_f(v), ci.get(f'overall.{k}')))}</td></tr>"
                   for k, v in test.get("overall", {}).items())  # fmt: skip
    level = round(100 * float(test.get("ci_level", 0.95)))
    note = f"<p class=\"note\">{level}% percentile-bootstrap CIs, {test.get('n_boot', 0)} resamples of the test {html.escape(_unit(test))}.</p>"
    return Section("Overall (test)", f"<table><tr><th>metric</th><th>value [{level}% CI]</th></tr>{rows}</table>{note}")


def _table_section(title: str, table: dict[str, dict[str, Any]], ci: dict[str, Any]) -> Section:
    names = list(table)[:MAX_LABEL_ROWS]
    columns: list[str] = []
    for name in names:
        columns += [c for c in table[name] if c not in columns]
    head = "".join(f"<th>{html.escape(LABELS.get(c, c))}</th>" for c in columns)
    body = ""
    for name in names:
        cells = "".join(f"<td>{html.escape(_cell(table[name].get(c), ci.get(f'{name}.{c}')))}</td>" for c in columns)
        body += f"<tr><td>{html.escape(str(name))}</td>{cells}</tr>"
    more = f"<p class=\"note\">first {MAX_LABEL_ROWS} of {len(table)} rows</p>" if len(table) > MAX_LABEL_ROWS else ""
    return Section(title, f"<table><tr><th></th>{head}</tr>{body}</table>{more}")


def _curves(run_dir: Path, metrics: dict[str, Any]) -> Section | None:
    """Confusion matrix + one-vs-rest curves (multiclass), per-output ROC/PR (binary, multilabel), parity (regression)."""
    from medrnn.report import curves, plots

    path = run_dir / "predictions.npz"
    test = metrics["test"]
    confusion = (test.get("extras") or {}).get("confusion")
    if not path.exists():
        if confusion:
            names = test.get("label_names", [])
            return Section("Confusion matrix", "", [("confusion matrix", _png(plots.plot_confusion(confusion, names)))])
        return None
    data = load_npz(path, ("y_true", "y_score"))
    y, s = data["y_true"], data["y_score"]
    kind = metrics.get("output_kind") or test.get("output_kind") or "binary"
    names = [str(n) for n in data["label_names"]] if "label_names" in data else _names(test, s)
    if s.ndim != 2 or s.shape[1] != len(names):
        raise InvalidRecordError(f"{path}: y_score has shape {s.shape}, expected (n, {len(names)}) for the labels {names[:5]} in metrics.json")
    figures = []
    if kind == "multiclass":
        if confusion:
            figures.append(("confusion matrix", _png(plots.plot_confusion(confusion, names))))
        figures += [("ROC curves", _png(plots.plot_roc(y, s, names))), ("precision-recall curves", _png(plots.plot_pr(y, s, names)))]
    elif kind == "regression":
        figures += [("parity plot", _png(curves.plot_parity(y, s, names))), ("residuals", _png(curves.plot_residuals(y, s, names)))]
    elif s.shape[1] <= 3 * curves.MAX_PLOT_TASKS:
        mean = test.get("overall", {})
        figures += [("ROC curves", _png(curves.plot_task_curves(y, s, names, "roc", _f(mean.get("roc_auc"))))),
                    ("precision-recall curves", _png(curves.plot_task_curves(y, s, names, "pr", _f(mean.get("prc_auc")))))]  # fmt: skip
    else:
        return Section("Curves", f"<p class=\"note\">{s.shape[1]} outputs: per-output curves are not drawn; see the tables.</p>")
    return Section("Curves", "", figures)


def _calibration(calibration: Any) -> Section | None:
    if not isinstance(calibration, dict) or "reliability" not in calibration:
        return None
    from medrnn.report.curves import plot_reliability

    fig = plot_reliability(calibration["reliability"], _f(calibration.get("ece")), _f(calibration.get("brier")), str(calibration.get("of", "")))
    text = (f"<p>ECE {_num(calibration.get('ece'))} (expected calibration error, equal-width bins), Brier {_num(calibration.get('brier'), 4)}, "
            f"over {html.escape(str(calibration.get('of', '')))} ({calibration.get('n', '?')} test entries). Lower is better for both.</p>")  # fmt: skip
    return Section("Calibration", text, [("reliability diagram", _png(fig))])


def _names(test: dict[str, Any], s: np.ndarray) -> list[str]:
    if isinstance(test.get("label_names"), list):
        return [str(n) for n in test["label_names"]]
    return [f"output {k}" for k in range(s.shape[1] if s.ndim == 2 else 1)]


def _unit(test: dict[str, Any]) -> str:
    return f"{test.get('n_units', '?')} {test.get('unit', 'samples')} (all samples of a unit drawn together)"


def _cell(value: Any, interval: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    return format_estimate(_f(value), interval) if isinstance(value, (float, int)) or value is None else str(value)


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def _png(fig: Any) -> str:
    from medrnn.report.plots import figure_to_png

    return base64.b64encode(figure_to_png(fig)).decode("ascii")
