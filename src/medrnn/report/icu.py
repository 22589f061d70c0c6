"""One self-contained HTML report for an ICU mortality run (PhysioNet 2012 stays -> in-hospital death).

Same conventions as report/html.py and report/molecules.py: inline CSS, base64 PNGs, jinja2 with autoescaping,
so every record id, variable name and failure reason read from the run folder is escaped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import yaml

from medrnn import __version__
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.io.physionet2012 import DESCRIPTOR_LEVELS, DESCRIPTOR_RANGES, PLAUSIBLE_RANGES
from medrnn.metrics.classification import format_estimate
from medrnn.metrics.molecules import MoleculeMetricReport
from medrnn.report.html import REPORT_CSS, _load_npz, _png
from medrnn.report.icu_plots import check_binary, plot_pr, plot_reliability, plot_roc
from medrnn.report.molecules import _dict, _extras, _num

MAX_IDS_SHOWN = 100  # stays without time series listed by record id
MAX_VALUES_SHOWN = 30  # out-of-range values listed one by one (metrics.json holds up to 500)
# metrics.json entries shown in their own sections, left out of "Other entries"
_USED = {"kind", "dataset", "sets", "model", "split", "test", "calibration", "data.read", "training.epochs",
         "training.best_epoch", "training.best_val", "timings.train_seconds", "timings.seconds_per_epoch"}  # fmt: skip

_TEMPLATE = (
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
"""
    + REPORT_CSS
    + """<style>.headline { font-size: 1.1em; } .ids { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="headline"><b>{{ headline }}</b></p>
<h2>Run summary</h2>
<table>{% for key, value in summary %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
<p class="note">{{ ci_note }}</p>
<h2>Discrimination: ROC and precision-recall curves</h2>
{% if curves %}<div class="figs">{% for alt, data in curves %}<img alt="{{ alt }}" src="data:image/png;base64,{{ data }}">{% endfor %}</div>
{% else %}<p class="note">{{ curves_note }}</p>{% endif %}
<h2>Calibration: reliability diagram</h2>
{% if reliability %}<p class="note">Test stays are cut into bins of equal size by predicted risk; each point is a bin's mean
predicted risk against its observed death rate. Points on the diagonal are well calibrated; points below it mean the
model over-estimates risk.{% if hist %} Below: predicted risk of the survivors and of the deaths.{% endif %}</p>
<div class="figs"><img alt="reliability diagram" src="data:image/png;base64,{{ reliability }}">
<table><tr><th>bin</th><th>mean predicted risk</th><th>observed death rate</th></tr>
{% for row in bins %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</table></div>
{% else %}<p class="note">No "calibration" entry in metrics.json: no reliability diagram.</p>{% endif %}
<h2>Data quality (PhysioNet 2012 read)</h2>
{% if read %}<table>{% for key, value in read_rows %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
<h3>Stays without time series ({{ no_series|length }})</h3>
{% if no_series %}<p class="note">{{ no_series_note }}</p><p class="ids">{{ no_series[:max_ids]|join(", ") }}
{% if no_series|length > max_ids %} … and {{ no_series|length - max_ids }} more{% endif %}</p>{% else %}<p class="note">None.</p>{% endif %}
<h3>Values not kept as read, per variable</h3>
{% if variable_rows %}<p class="note">A value outside the plausible range is a unit or entry error: it becomes missing (no unit is
guessed). -1 is the challenge's marker for a missing value. Duplicate-time rows repeat a (time, variable) already seen.</p>
<table><tr><th>variable</th><th>plausible range</th><th>out of range</th><th>-1 markers</th><th>duplicate-time rows</th></tr>
{% for row in variable_rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</table>
{% else %}<p class="note">Every value was kept as read.</p>{% endif %}
{% if oor_values %}<h3>Out-of-range values (first {{ oor_values|length }} of {{ n_oor }})</h3>
<table><tr><th>record</th><th>time (h:mm)</th><th>variable</th><th>value</th></tr>
{% for row in oor_values %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if event_rows %}<h3>Other rows skipped or filled</h3>
<table>{% for key, value in event_rows %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>{% endif %}
<h3>Files not read ({{ failures|length }})</h3>
{% if failures %}<table><tr><th>file</th><th>reason</th></tr>
{% for source, reason in failures %}<tr><td>{{ source }}</td><td>{{ reason }}</td></tr>{% endfor %}</table>
{% else %}<p class="note">Every file was read.</p>{% endif %}
{% else %}<p class="note">No "data.read" entry in metrics.json: no data-quality section.</p>{% endif %}
{% if extras %}<h2>Other entries in metrics.json</h2>
<table>{% for key, value in extras %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>{% endif %}
{% if config %}<h2>Configuration (config.yaml)</h2><pre>{{ config }}</pre>{% endif %}
<p class="note">Generated by medrnn {{ version }}.</p>
</body></html>
"""
)


def write_icu_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the HTML report of an ICU mortality run folder (default `run_dir/report.html`) and return its path."""
    run_dir = Path(run_dir)
    out = run_dir / "report.html" if out is None else Path(out)
    metrics, report = _load_metrics(run_dir / "metrics.json")
    outcome = report.task_names[0]
    auroc, auprc = (format_estimate(report.per_task[outcome].get(k), report.ci.get(f"{outcome}.{k}")) for k in ("auroc", "auprc"))
    calibration = _dict(metrics.get("calibration"))
    predictions = _predictions(run_dir / "predictions.npz", report.n_samples)
    config_path = run_dir / "config.yaml"
    config_text = config_path.read_text(encoding="utf-8", errors="replace") if config_path.exists() else None
    config = _parse_config(config_text)
    curves, curves_note = [], f"{run_dir / 'predictions.npz'} not found: no curves."
    if predictions is not None:
        curves = [("ROC curve", _png(plot_roc(*predictions, outcome, f"AUROC {auroc}"))),
                  ("precision-recall curve", _png(plot_pr(*predictions, outcome, f"AUPRC {auprc}")))]  # fmt: skip
    reliability, bins = _reliability(calibration, predictions)
    read = _dict(_dict(metrics.get("data")).get("read"))
    brier = calibration.get("brier")
    headline = f"{outcome}: AUROC {auroc} · AUPRC {auprc}" + (f" · Brier {brier:.4f}" if isinstance(brier, float) else "")
    html_text = (
        jinja2.Environment(autoescape=True)
        .from_string(_TEMPLATE)
        .render(
            title=f"medrnn report: {run_dir.resolve().name}",
            headline=f"{headline} ({report.n_samples} test stays)",
            summary=_summary(run_dir, metrics, report, config, auroc, auprc),
            ci_note=_ci_note(report),
            curves=curves,
            curves_note=curves_note,
            reliability=reliability,
            hist=predictions is not None,
            bins=bins,
            read=read,
            read_rows=_read_rows(read),
            no_series=[str(r) for r in _list(read.get("no_time_series"))],
            no_series_note=_no_series_note(config),
            max_ids=MAX_IDS_SHOWN,
            variable_rows=_variable_rows(read),
            oor_values=_oor_values(read),
            n_oor=_num(sum(_counts(read.get("n_out_of_range")).values())),
            event_rows=_event_rows(read),
            failures=[(str(k), str(v)) for k, v in _dict(read.get("failures")).items()],
            extras=_extras(metrics, _USED),
            config=config_text,
            version=__version__,
        )
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html_text, encoding="utf-8")
    return out


def _load_metrics(path: Path) -> tuple[dict[str, Any], MoleculeMetricReport]:
    """metrics.json of an ICU run and its test report (one binary outcome)."""
    if not path.exists():
        raise MedrnnError(
            f"{path} not found: the report needs the metrics that `medrnn train icu` writes into its run folder; "
            f"run it first (e.g. `medrnn train icu --out {path.parent}`)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidRecordError(f"{path}: not readable as JSON ({err}); re-run `medrnn train icu` to rewrite it") from err
    if not isinstance(data, dict) or not isinstance(data.get("test"), dict):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise InvalidRecordError(f"{path}: expected an ICU run with a 'test' metric report; found keys {found}")
    try:
        report = MoleculeMetricReport.from_dict(data["test"])
    except MedrnnError as err:
        raise InvalidRecordError(f"{path}: key 'test': {err}") from err
    if report.task_type != "classification" or len(report.task_names) != 1:
        raise InvalidRecordError(
            f"{path}: key 'test' holds a {report.task_type} report of {len(report.task_names)} tasks; "
            "an ICU run scores one binary outcome (e.g. In-hospital_death)"
        )
    return data, report


def _predictions(path: Path, n_samples: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(y_true, y_score) of the test stays from predictions.npz, or None when the file is absent."""
    if not path.exists():
        return None
    data = _load_npz(path, ("y_true", "y_score"))
    try:
        y, s = check_binary(data["y_true"], data["y_score"])
    except MedrnnError as err:
        raise InvalidRecordError(f"{path}: {err}") from err
    if y.size != n_samples:
        raise InvalidRecordError(f"{path}: {y.size} stays, but metrics.json scored {n_samples}; the files come from different runs")
    return y, s


def _parse_config(text: str | None) -> dict[str, Any]:
    """config.yaml as a dict, {} when absent or unparsable: it only adds detail (fold, drop_empty); the text is shown as is."""
    if text is None:
        return {}
    try:
        return _dict(yaml.safe_load(text))
    except yaml.YAMLError:
        return {}


def _summary(
    run_dir: Path, metrics: dict[str, Any], report: MoleculeMetricReport, config: dict[str, Any], auroc: str, auprc: str
) -> list[tuple[str, Any]]:
    """Rows of the run summary: model, data, split with deaths, scores, training."""
    split, calibration = _dict(metrics.get("split")), _dict(metrics.get("calibration"))
    training, timings = _dict(metrics.get("training")), _dict(metrics.get("timings"))
    sets = metrics.get("sets")
    rows: list[tuple[str, Any]] = [
        ("run folder", str(run_dir)),
        ("model", metrics.get("model", "–")),
        ("dataset", f"{metrics.get('dataset', '–')}, sets {', '.join(str(s).upper() for s in sets)}" if isinstance(sets, list)
         else metrics.get("dataset", "–")),
        ("outcome", report.task_names[0]),
    ]  # fmt: skip
    if split:
        protocol = str(split.get("protocol", "?"))
        data_cfg = _dict(config.get("data"))
        if protocol == "cv" and "fold" in data_cfg:
            protocol += f" (fold {data_cfg['fold']} of {data_cfg.get('folds', '?')})"
        rows.append(("protocol", f"{protocol}, stratified by outcome"))
        rows.append(("seed", split.get("seed", "–")))
        counts, deaths = _dict(split.get("counts")), _dict(split.get("deaths"))
        for name, n in counts.items():
            died = deaths.get(name)
            rate = f", {died / n:.1%}" if isinstance(died, int) and isinstance(n, int) and n else ""
            rows.append((f"{name} stays (deaths)", f"{_num(n)} ({_num(died) if died is not None else '?'}{rate})"))
    pct = round(100 * report.ci_level)
    rows += [(f"AUROC [{pct}% CI]", auroc), (f"AUPRC [{pct}% CI]", auprc)]
    brier, base_rate = calibration.get("brier"), calibration.get("base_rate")
    if isinstance(brier, (int, float)):
        ref = f"; predicting the base rate for everyone scores {base_rate * (1 - base_rate):.4f}" if isinstance(base_rate, float) else ""
        rows.append(("Brier score (lower is better)", f"{brier:.4f} (base rate {base_rate:.3f}{ref})" if ref else f"{brier:.4f}"))
    if training:
        best = training.get("best_epoch")
        val = training.get("best_val")
        val_text = f", validation score {val:.4f}" if isinstance(val, (int, float)) else ""
        rows.append(("epochs (best epoch)", f"{_num(training.get('epochs', '?'))} ({best if best is not None else '–'}{val_text})"))
    if "train_seconds" in timings:
        per_epoch = timings.get("seconds_per_epoch")
        extra = f" ({per_epoch:.2f} s per epoch)" if isinstance(per_epoch, (int, float)) else ""
        rows.append(("training time", f"{timings['train_seconds']:.1f} s{extra}"))
    rows += [("test stays scored", report.n_samples), ("bootstrap resamples", report.n_boot)]
    return rows


def _ci_note(report: MoleculeMetricReport) -> str:
    """One sentence saying what the bootstrap resampled."""
    if report.n_boot == 0 or not report.ci:
        return "No confidence intervals: the run was evaluated without bootstrap (n_boot = 0)."
    return (
        f"{round(100 * report.ci_level)}% percentile CIs from {report.n_boot} bootstrap resamples of the {report.n_samples} "
        "test stays (records drawn with replacement); resamples with only survivors or only deaths are left out. "
        "The intervals describe this test set, not other hospitals or years."
    )


def _reliability(calibration: dict[str, Any], predictions: tuple[np.ndarray, np.ndarray] | None) -> tuple[str | None, list[list[str]]]:
    """Base64 PNG of the reliability diagram and its rows (bin, mean predicted, observed), or (None, [])."""
    curve = _dict(calibration.get("reliability"))
    predicted, observed = _list(curve.get("predicted")), _list(curve.get("observed"))
    if not predicted:
        return None, []
    brier = calibration.get("brier")
    y, s = predictions if predictions is not None else (None, None)
    try:
        fig = plot_reliability(predicted, observed, y, s, brier=float(brier) if isinstance(brier, (int, float)) else None)
    except (MedrnnError, TypeError, ValueError) as err:
        raise InvalidRecordError(f"metrics.json: key 'calibration.reliability': {err}") from err
    rows = [[str(k + 1), f"{p:.3f}", f"{o:.3f}"] for k, (p, o) in enumerate(zip(predicted, observed))]
    return _png(fig), rows


def _read_rows(read: dict[str, Any]) -> list[tuple[str, str]]:
    """Stays read per set and the row/observation totals of the read."""
    per_set = _dict(read.get("n_records"))
    rows = [(f"stays read, set {str(k).upper()}", _num(v)) for k, v in per_set.items()]
    if per_set:
        rows.append(("stays read, all sets", _num(sum(v for v in per_set.values() if isinstance(v, int)))))
    for key, label in (("n_rows", "data rows read"), ("n_observations", "time-series observations kept")):
        if key in read:
            rows.append((label, _num(read[key])))
    if read.get("root"):
        rows.append(("data folder", str(read["root"])))
    return rows


def _no_series_note(config: dict[str, Any]) -> str:
    """Whether the stays with descriptors only were excluded (data.drop_empty of config.yaml)."""
    drop = _dict(config.get("data")).get("drop_empty")
    if drop is None:
        return "Stays with descriptors only (age, gender, ...) and no measurement; see data.drop_empty in the configuration."
    return ("Excluded from training and evaluation (data.drop_empty: true)." if drop
            else "Kept as all-missing series (data.drop_empty: false).")  # fmt: skip


def _counts(value: Any) -> dict[str, int]:
    """A {name: count} entry of the read report ({} when absent or malformed)."""
    return {str(k): int(v) for k, v in _dict(value).items() if isinstance(v, (int, float))}


def _variable_rows(read: dict[str, Any]) -> list[list[str]]:
    """Per variable: plausible range, out-of-range values, -1 markers, duplicate-time rows; most affected first."""
    oor, marker, dup = (_counts(read.get(k)) for k in ("n_out_of_range", "n_missing_marker", "n_duplicate_time"))
    names = sorted(set(oor) | set(marker) | set(dup), key=lambda v: (-(oor.get(v, 0) + marker.get(v, 0) + dup.get(v, 0)), v))
    return [[name, _plausible(name), *(_num(c.get(name, 0)) for c in (oor, marker, dup))] for name in names]


def _plausible(name: str) -> str:
    """The values kept for a variable, or for a descriptor (counted as "<name> (descriptor)" by the reader)."""
    descriptor = name.removesuffix(" (descriptor)")
    if descriptor != name:
        if descriptor in DESCRIPTOR_LEVELS:
            return ", ".join(f"{v:g}" for v in DESCRIPTOR_LEVELS[descriptor])
        lo_hi = DESCRIPTOR_RANGES.get(descriptor)
    else:
        lo_hi = PLAUSIBLE_RANGES.get(name)
    return f"{lo_hi[0]:g} – {lo_hi[1]:g}" if lo_hi else "–"


def _oor_values(read: dict[str, Any]) -> list[list[str]]:
    """The first MAX_VALUES_SHOWN out-of-range values: record, time since admission, variable, value."""
    rows = []
    for item in _list(read.get("out_of_range"))[:MAX_VALUES_SHOWN]:
        item = _dict(item)
        minutes = item.get("time_min")
        time = f"{int(minutes) // 60}:{int(minutes) % 60:02d}" if isinstance(minutes, (int, float)) else "?"
        value = item.get("value")
        rows.append([str(item.get("record_id", "?")), time, str(item.get("variable", "?")),
                     f"{value:g}" if isinstance(value, (int, float)) else str(value)])  # fmt: skip
    return rows


def _event_rows(read: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows skipped or values filled for reasons other than range: empty or unknown parameters, repeated or missing
    descriptors, stays without an outcome; only the non-zero ones."""
    rows = []
    if read.get("n_empty_parameter"):
        rows.append(("rows with an empty parameter name (skipped)", _num(read["n_empty_parameter"])))
    for key, label in (("unknown_parameters", "unknown parameters (skipped)"),
                       ("n_repeated_descriptor", "repeated descriptors (skipped)"),
                       ("missing_descriptors", "missing descriptors (left missing)")):  # fmt: skip
        counts = _counts(read.get(key))
        if counts:
            rows.append((label, ", ".join(f"{k} {_num(v)}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))))
    missing = _list(read.get("missing_outcomes"))
    if missing:
        shown = ", ".join(str(r) for r in missing[:20]) + (f" … and {len(missing) - 20} more" if len(missing) > 20 else "")
        rows.append((f"stays without an outcome row ({len(missing)})", shown))
    return rows


def _list(value: Any) -> list[Any]:
    """value if it is a list, else [] (optional metrics.json entries may be absent or malformed)."""
    return value if isinstance(value, list) else []


__all__ = ["write_icu_report"]
