"""The generic parts of every report, driven by metrics.json and predictions.npz: the facts of the headline box, metric
tables with CIs (any MetricReport), the per-unit table, curves and calibration by output kind, and the run details.
Tasks add their own sections after these."""

from __future__ import annotations

import base64
import html
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import InvalidRecordError
from medrnn.report.headline import Headline, KeyMetric, headline, run_config, undefined_or
from medrnn.report.numbers import DASH, interval, is_number, sig
from medrnn.runfiles import load_json, load_npz
from medrnn.tasks.base import Section

PER_LABEL_TITLES = {"multiclass": "Per class (one vs rest)", "multilabel": "Per label"}  # default "Per output"
LABELS = {"se": "Se", "ppv": "+P", "f1": "F1", "spec": "Spec", "auroc": "AUROC", "auprc": "AUPRC", "rmse": "RMSE", "mae": "MAE",
          "r2": "R²", "support": "support", "n": "n", "n_pos": "positives", "accuracy": "Accuracy", "macro_f1": "Macro-F1",
          "kappa": "Cohen's κ", "jkappa": "jκ (Mondéjar-Guerra 2019)", "macro_auroc": "Macro AUROC", "macro_auprc": "Macro AUPRC",
          "roc_auc": "ROC-AUC (mean over outputs)", "prc_auc": "PR-AUC (mean over outputs)", "map": "MAP",
          "map_all_gold": "MAP, every gold code", "micro_f1": "micro-F1", "micro_precision": "micro precision",
          "micro_recall": "micro recall", "macro_f1_caml": "macro-F1 (CAML's way)", "micro_auroc": "micro AUROC",
          "n_labels": "labels", "n_labels_in_test": "labels in test"}  # fmt: skip
LOWER_IS_BETTER = {"rmse", "mae"}


def label(key: str) -> str:
    """The printed name of a metric key ("p@5" -> "P@5")."""
    return LABELS.get(key) or (f"P@{key[2:]}" if key.startswith("p@") else key)


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


# ---- the headline box -------------------------------------------------------------------------------------------
def default_headline(metrics: dict[str, Any], task: Any) -> Headline:
    """The box of a task that says nothing itself: its split unit as protocol, every overall metric (headline first)."""
    overall = metrics["test"].get("overall") or {}
    first = metrics["test"].get("headline")
    keys = ([first] if first in overall else []) + [k for k in overall if k != first]
    return headline(protocol=f"split by {task.split_unit}" if task is not None else "",
                    key_metrics=[KeyMetric(label(k), f"overall.{k}", k in LOWER_IS_BETTER) for k in keys[:6]])  # fmt: skip


def facts(run_dir: Path, metrics: dict[str, Any], task: Any, box: Headline) -> list[tuple[str, str]]:
    """Task, data, protocol, model, seed, date and the test set, for the headline box."""
    config = run_config(run_dir)
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    split = metrics.get("split") if isinstance(metrics.get("split"), dict) else {}
    seed = split.get("seed", train.get("seed"))
    test = metrics["test"]
    date = _finished(run_dir / "RUN_COMPLETE")
    data_config = config.get("data") if isinstance(config.get("data"), dict) else {}
    data = box.data or str(metrics.get("dataset") or data_config.get("dataset") or data_config.get("data") or "")
    model = str(metrics.get("model", ""))
    if isinstance(config.get("model"), dict) and config["model"].get("hidden_size") is not None:
        model += f" (hidden size {config['model']['hidden_size']})"
    n_units, unit = test.get("n_units"), test.get("unit", "units")
    rows = [("task", f"{task.name}: {task.title}" if task is not None else str(metrics.get("task", "?"))),
            ("data", data), ("protocol", box.protocol), ("model", model),
            ("seed", "" if seed is None else str(seed)), ("date", date),
            ("test set", f"{sig(test.get('n_samples'))} samples from {sig(n_units)} {unit}" if n_units is not None else "")]  # fmt: skip
    return rows


def _finished(path: Path) -> str:
    """When the run finished: the timestamp RUN_COMPLETE holds, else the file's modification time ("" without one)."""
    if not path.is_file():
        return ""
    stamp = path.read_text(encoding="utf-8", errors="replace").strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?", stamp):
        return stamp.replace("T", " ")
    return datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")


def _flat(value: Any) -> str:
    """A value of metrics.json in one line: numbers to 3 significant digits, objects as "key value" pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_flat(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_flat(v) for v in value)
    return sig(value)


def run_details(run_dir: Path, metrics: dict[str, Any]) -> Section:
    """Where the run is, what each part of the split holds, how training went and how long it took."""
    rows = [("run folder", str(run_dir))]
    split = metrics.get("split", {}) if isinstance(metrics.get("split"), dict) else {}
    if isinstance(split.get("counts"), dict):
        units = split.get("units", {}) if isinstance(split.get("units"), dict) else {}
        rows.append(("samples (units) per part", ", ".join(f"{k} {sig(v)}" + (f" ({sig(units[k])})" if k in units else "")
                                                             for k, v in split["counts"].items())))  # fmt: skip
    if split.get("unit"):
        rows.append(("split unit", str(split["unit"])))
    rows.append(("output kind", str(metrics.get("output_kind") or metrics["test"].get("output_kind", ""))))
    training = metrics.get("training") if isinstance(metrics.get("training"), dict) else {}
    if training:
        rows.append(("training", f"{sig(training.get('epochs'))} epochs, best epoch {sig(training.get('best_epoch'))} on "
                                 f"{training.get('monitor', 'validation')} = {sig(training.get('best_val'))}"))  # fmt: skip
    tuned = metrics.get("tuned_on_validation")
    if isinstance(tuned, dict) and tuned:
        rows.append(("tuned on validation", _flat(tuned)))
    timings = metrics.get("timings") if isinstance(metrics.get("timings"), dict) else {}
    if timings:
        rows.append(("timings", ", ".join(f"{k.replace('_', ' ')} {_flat(v)}" for k, v in timings.items())))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return Section("Run details", f'<table class="kv">{body}</table>')


# ---- metric tables ----------------------------------------------------------------------------------------------
def generic_sections(run_dir: Path, metrics: dict[str, Any], box: Headline) -> list[Section]:
    """Metric tables, per-unit table, confusion matrix, curves and calibration."""
    test = metrics["test"]
    extras = test.get("extras") if isinstance(test.get("extras"), dict) else {}
    sections = [_overall(test)]
    if isinstance(test.get("per_label"), dict) and test["per_label"]:
        title = PER_LABEL_TITLES.get(str(test.get("output_kind")), "Per output")
        sections.append(_table_section(title, test["per_label"], test.get("ci", {}), metrics, box.label_names))
    if isinstance(extras.get("buckets"), dict) and extras["buckets"]:
        sections.append(_table_section("By training frequency of the code", extras["buckets"], test.get("ci", {}), metrics, {}))
    if isinstance(extras.get("skipped"), dict) and extras["skipped"]:
        items = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in extras["skipped"].items())
        sections.append(Section("Outputs not scored", f"<ul>{items}</ul>"))
    notes = [n for source in (extras.get("notes"), metrics.get("notes")) if isinstance(source, list) for n in source if isinstance(n, str)]
    if notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in dict.fromkeys(notes))
        sections.append(Section("Notes on the metrics", f"<ul>{items}</ul>"))
    predictions = _predictions(run_dir, metrics)
    if predictions is not None:
        from medrnn.report.units import unit_section

        kind = _kind(metrics)
        units = unit_section(predictions, kind, _label_names(predictions, test), str(test.get("unit", "units")), box.label_names,
                             box.unit_labels)  # fmt: skip
        if units is not None:
            sections.append(units)
    curves = _curves(predictions, metrics, box.label_names)
    if curves is not None:
        sections.append(curves)
    calibration = _calibration(metrics, predictions)
    if calibration is not None:
        sections.append(calibration)
    return sections


def _overall(test: dict[str, Any]) -> Section:
    ci = test.get("ci", {}) if isinstance(test.get("ci"), dict) else {}
    headline_key = test.get("headline")
    level = round(100 * float(test.get("ci_level", 0.95)))
    rows = "".join(f"<tr><td>{html.escape(label(k))}{' <b>(headline)</b>' if k == headline_key else ''}</td>"
                   f"<td>{html.escape(sig(v))}</td><td>{html.escape(interval(ci.get(f'overall.{k}')) if sig(v) != DASH else '')}</td></tr>"
                   for k, v in (test.get("overall") or {}).items())  # fmt: skip
    missing = any(interval(ci.get(f"overall.{k}")) == "" for k, v in (test.get("overall") or {}).items() if sig(v) != DASH)
    note = '<p class="note">An empty CI cell: the run does not bootstrap that metric (or its resamples left it undefined).</p>'
    note = note if missing else ""
    return Section("Overall (test)", f"<table><tr><th>metric</th><th>value</th><th>{level}% CI</th></tr>{rows}</table>{note}")


def _table_section(title: str, table: dict[str, dict[str, Any]], ci: Any, metrics: dict[str, Any], display: dict[str, str]) -> Section:
    ci = ci if isinstance(ci, dict) else {}
    names = list(table)[:MAX_LABEL_ROWS]
    columns: list[str] = []
    for name in names:
        columns += [c for c in (table[name] if isinstance(table[name], dict) else {}) if c not in columns]
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in columns)
    body = ""
    for name in names:
        row = table[name] if isinstance(table[name], dict) else {}
        cells = "".join(f"<td>{_cell(_value(metrics, str(name), c, row.get(c)), ci.get(f'{name}.{c}'))}</td>" for c in columns)
        body += f"<tr><td>{html.escape(display.get(str(name), str(name)))}</td>{cells}</tr>"
    more = (
        f'<p class="note">first {MAX_LABEL_ROWS} of {len(table)} rows (metrics.json holds them all)</p>'
        if len(table) > MAX_LABEL_ROWS
        else ""
    )
    note = '<p class="note">Each cell: the value, its CI below; — where undefined (e.g. +P of a class never predicted).</p>'
    return Section(title, f'<table class="metrics"><tr><th></th>{head}</tr>{body}</table>{note if ci else ""}{more}')


def _value(metrics: dict[str, Any], name: str, column: str, value: Any) -> Any:
    """A per-label entry: counts as they are, scores None where undefined though stored as 0."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return value
    return undefined_or(metrics, name, column, value) if is_number(value) else value


def _cell(value: Any, ci: Any) -> str:
    """A metric cell: the value, and its CI in small type under it."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    text = html.escape(sig(value))
    bounds = interval(ci) if text != DASH else ""
    return text + (f'<br><span class="ci">{html.escape(bounds)}</span>' if bounds else "")


# ---- figures from predictions.npz ------------------------------------------------------------------------------
def _predictions(run_dir: Path, metrics: dict[str, Any]) -> dict[str, np.ndarray] | None:
    path = run_dir / "predictions.npz"
    if not path.exists():
        return None
    data = load_npz(path, ("y_true", "y_score"))
    s = np.asarray(data["y_score"])
    names = _label_names(data, metrics["test"])
    if s.ndim != 2 or s.shape[1] != len(names):
        raise InvalidRecordError(
            f"{path}: y_score has shape {s.shape}, expected (n, {len(names)}) for the labels {names[:5]} in metrics.json"
        )
    return data


def _kind(metrics: dict[str, Any]) -> str:
    return str(metrics.get("output_kind") or metrics["test"].get("output_kind") or "binary")


def _label_names(data: dict[str, np.ndarray], test: dict[str, Any]) -> list[str]:
    if "label_names" in data:
        return [str(n) for n in data["label_names"]]
    if isinstance(test.get("label_names"), list):
        return [str(n) for n in test["label_names"]]
    s = np.asarray(data["y_score"])
    return [f"output {k}" for k in range(s.shape[1] if s.ndim == 2 else 1)]


def _curves(data: dict[str, np.ndarray] | None, metrics: dict[str, Any], display: dict[str, str]) -> Section | None:
    """Confusion matrix + one-vs-rest curves (multiclass), ROC/PR per output (binary, multilabel), parity (regression)."""
    from medrnn.report import curves, plots

    test = metrics["test"]
    confusion = (test.get("extras") or {}).get("confusion")
    if data is None:
        if confusion:
            names = test.get("label_names", [])
            return Section("Confusion matrix", "", [("confusion matrix", _png(plots.plot_confusion(confusion, names, display)))])
        return None
    y, s = data["y_true"], np.asarray(data["y_score"])
    kind = _kind(metrics)
    names = _label_names(data, test)
    figures = []
    if kind == "multiclass":
        if confusion:
            figures.append(("confusion matrix", _png(plots.plot_confusion(confusion, names, display))))
        figures.append(("ROC curves", _png(plots.plot_roc_pr(y, s, names, display))))
    elif kind == "regression":
        if len(_columns_with_labels(y, s)) <= 3:
            figures.append(("parity plot", _png(curves.plot_parity_residuals(y, s, names))))
        else:
            figures += [("parity plot", _png(curves.plot_parity(y, s, names))), ("residuals", _png(curves.plot_residuals(y, s, names)))]
    elif s.shape[1] <= 3 * curves.MAX_PLOT_TASKS:
        mean = test.get("overall", {})
        means = (_float(mean.get("roc_auc", mean.get("macro_auroc"))), _float(mean.get("prc_auc", mean.get("macro_auprc"))))
        figures.append(("ROC curves", _png(curves.plot_task_roc_pr(y, s, names, means, display))))
    else:  # too many outputs for one curve each: every labelled (sample, output) pair pooled (micro-averaged)
        mean = test.get("overall", {})
        pooled = "all outputs, pooled"
        y2 = np.asarray(y, dtype=np.float64).reshape(s.shape).reshape(-1, 1)
        figures.append(("ROC curves", _png(curves.plot_task_roc_pr(y2, s.reshape(-1, 1), [pooled], (None, None)))))
        text = (
            f"{s.shape[1]} outputs: one curve over every labelled (sample, output) pair, pooled (micro-averaged); "
            f"the mean per-output AUROC is {sig(mean.get('roc_auc', mean.get('macro_auroc')))}. Per-output figures are in the tables."
        )
        return Section("Curves", f'<p class="note">{html.escape(text)}</p>', figures)
    note = {"multiclass": "The confusion matrix (rows: reference, row-normalised), then ROC and precision-recall curves, one class "
                          "against the rest, with the legend beside them.",
            "regression": "Predicted against measured in the target's units, and the residuals."}.get(kind, "")  # fmt: skip
    return Section("Curves", f'<p class="note">{note}</p>' if note else "", figures)


def _columns_with_labels(y: np.ndarray, s: np.ndarray) -> list[int]:
    y2 = np.asarray(y, dtype=np.float64).reshape(s.shape)
    return [t for t in range(s.shape[1]) if (~np.isnan(y2[:, t])).any()]


def _calibration(metrics: dict[str, Any], data: dict[str, np.ndarray] | None) -> Section | None:
    """The reliability diagram of metrics.json's calibration summary (computed from predictions.npz for runs that lack
    it), with the histogram of the probabilities it rests on."""
    from medrnn.report.curves import plot_reliability

    kind = _kind(metrics)
    calibration = metrics.get("calibration")
    if not isinstance(calibration, dict) and data is not None and kind != "regression":
        from medrnn.metrics.calibration import calibration_summary

        calibration = calibration_summary(data["y_true"], data["y_score"], kind)
    if not isinstance(calibration, dict) or "reliability" not in calibration:
        lines = _uncertainty_lines(metrics, {})  # regression: the conformal intervals only
        return Section("Uncertainty", lines) if lines else None
    probabilities = outcomes = None
    names = ("negative", "positive")
    if data is not None:
        s = np.asarray(data["y_score"], dtype=np.float64)
        if kind == "multiclass":
            probabilities = s.max(axis=1)
            outcomes = (s.argmax(axis=1) == np.asarray(data["y_true"]).ravel()).astype(np.float64)
            names = ("wrong", "right")
        else:
            y = np.asarray(data["y_true"], dtype=np.float64).reshape(s.shape)
            keep = ~np.isnan(y)
            probabilities, outcomes = s[keep], y[keep]
    of = str(calibration.get("of", ""))
    before = metrics.get("calibration_before") if isinstance(metrics.get("calibration_before"), dict) else {}
    fig = plot_reliability(calibration["reliability"], _float(calibration.get("ece")), _float(calibration.get("brier")), of,
                           probabilities, outcomes, names, before.get("reliability"))  # fmt: skip
    base = f", base rate {sig(calibration['base_rate'])}" if is_number(calibration.get("base_rate")) else ""
    text = (f"<p>ECE {html.escape(sig(calibration.get('ece')))} (expected calibration error, 15 equal-width bins), Brier "
            f"{html.escape(sig(calibration.get('brier')))}{html.escape(base)}, over {html.escape(of)} "
            f"({html.escape(sig(calibration.get('n')))} test entries). Lower is better for both; point estimates, no CI.</p>")  # fmt: skip
    return Section("Calibration", text + _uncertainty_lines(metrics, before), [("reliability diagram", _png(fig))])


def _uncertainty_lines(metrics: dict[str, Any], before: dict[str, Any]) -> str:
    """ECE and Brier before -> after the calibrator fitted on validation, and the conformal coverage on test."""
    lines = []
    after, method = metrics.get("calibration") or {}, (metrics.get("calibrator") or {}).get("method")
    if before and method:
        lines.append(f"Calibrator: {method}, fitted on validation. Test ECE {sig(before.get('ece'))} → {sig(after.get('ece'))}, "
                     f"Brier {sig(before.get('brier'))} → {sig(after.get('brier'))} (before → after; grey curve: before).")  # fmt: skip
    conformal = metrics.get("conformal") if isinstance(metrics.get("conformal"), dict) else {}
    if is_number(conformal.get("coverage")):
        size = (f"mean set size {sig(conformal['mean_set_size'])}" if is_number(conformal.get("mean_set_size"))
                else f"mean interval width {sig(conformal.get('mean_width'))}")  # fmt: skip
        per = conformal.get("per_class_coverage") or {}
        per_text = f"; per class {', '.join(f'{k} {sig(v)}' for k, v in per.items())}" if per and conformal.get("class_conditional") else ""
        lines.append(f"Conformal {'intervals' if 'mean_width' in conformal else 'sets'} (`medrnn predict --coverage {conformal.get('coverage_target', 0.9):g}`): test coverage "
                     f"{sig(conformal['coverage'])}, {size}{per_text}.")  # fmt: skip
    elif conformal.get("error"):
        lines.append(f"Conformal sets: {conformal['error']}")
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def _float(value: Any) -> float | None:
    return float(value) if is_number(value) else None


def _png(fig: Any) -> str:
    from medrnn.report.plots import figure_to_png

    return base64.b64encode(figure_to_png(fig)).decode("ascii")


__all__ = ["default_headline", "facts", "generic_sections", "load_metrics", "run_details"]
