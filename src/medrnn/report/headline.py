"""The headline box at the top of every report, and the published figures beside the run.

A task says what only it knows by returning a `Headline` among its report sections: the data, the protocol by name,
the key metrics (references into metrics.json), display names of its labels, and published results with their
citation. The writer renders it at the top; without one it shows a generic box (task, split unit, headline metric).
Like plots.py, this module is a lower piece of report/ that a world's report module may import (it imports only
tasks.base and numbers.py).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medrnn.report.numbers import DASH, finite, interval, sig
from medrnn.tasks.base import Section

HEADLINE_TITLE = "Headline"


@dataclass
class KeyMetric:
    """One headline number: `ref` is "overall.<metric>" or "<label>.<metric>" in the test report (its CI read beside
    it), or a dotted path into metrics.json ("calibration.brier", "ranking.accuracy@10"; no CI there)."""

    label: str
    ref: str
    lower_is_better: bool = False


@dataclass
class Reference:
    """A result to read the run against: a published one (with its citation) or this project's own benchmark.

    values: {key-metric label: value}; a label it does not report is left out (shown as "—"). spread: ± SD where the
    source gives one.
    """

    method: str
    citation: str
    values: dict[str, float]
    spread: dict[str, float] = field(default_factory=dict)
    kind: str = "published"  # "published" or "medrnn benchmark"


@dataclass
class Headline(Section):
    """What a task adds to the headline box (see the module docstring); `html` is optional extra text, escaped by the
    task. `comparable` says whether this run follows the protocol of the references ("" = not stated)."""

    data: str = ""
    protocol: str = ""
    key_metrics: list[KeyMetric] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    reference_note: str = ""
    comparable: str = ""
    label_names: dict[str, str] = field(default_factory=dict)  # display names of labels: {"S": "S (SVEB)"}
    unit_labels: list[str] = field(default_factory=list)  # labels the per-unit table details (multiclass; default all)


def headline(**fields: Any) -> Headline:
    """A Headline with its fixed title."""
    return Headline(HEADLINE_TITLE, **fields)


def run_config(run_dir: Path) -> dict[str, Any]:
    """The run's config.yaml as a dict ({} when absent or unreadable: the report still renders)."""
    path = Path(run_dir) / "config.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace")) if path.is_file() else {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def lookup(metrics: dict[str, Any], ref: str) -> tuple[float | None, Any]:
    """(value, CI) of a KeyMetric reference; (None, None) when metrics.json does not hold it."""
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    ci = (test.get("ci") or {}).get(ref) if isinstance(test.get("ci"), dict) else None
    if ref.startswith("overall."):
        return finite(_get(test.get("overall"), ref[len("overall.") :])), ci
    label, _, metric = ref.rpartition(".")  # labels may hold dots (ICD-10 "C34.90"): the metric is the last part
    per_label = test.get("per_label") if isinstance(test.get("per_label"), dict) else {}
    if label in per_label:
        return undefined_or(metrics, label, metric, _get(per_label[label], metric)), ci
    node: Any = metrics
    for part in ref.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return finite(node), None


def undefined_or(metrics: dict[str, Any], label: str, metric: str, value: Any) -> float | None:
    """A per-class value, or None where it is undefined although stored as 0: +P of a class never predicted, Se of a
    class absent from the test set, F1 of both (scikit-learn's zero_division writes 0 there). Needs the confusion."""
    test = metrics.get("test") or {}
    confusion, names = (test.get("extras") or {}).get("confusion"), test.get("label_names") or []
    if metric in ("ppv", "se", "f1") and isinstance(confusion, list) and label in names:
        k = names.index(label)
        try:
            support = sum(confusion[k])
            predicted = sum(row[k] for row in confusion)
        except (TypeError, IndexError):
            return finite(value)
        if (metric == "ppv" and predicted == 0) or (metric == "se" and support == 0) or (metric == "f1" and support + predicted == 0):
            return None
    return finite(value)


def render_headline(box: Headline, metrics: dict[str, Any], facts: list[tuple[str, str]]) -> str:
    """The headline box: facts (task, data, protocol, model, seed, date, test set) and the key metrics with CIs."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts if v)
    level = round(100 * float((metrics.get("test") or {}).get("ci_level", 0.95)))
    main = f"overall.{(metrics.get('test') or {}).get('headline')}"
    cards = []
    for m in box.key_metrics:
        value, ci = lookup(metrics, m.ref)
        bounds = interval(ci) if value is not None else ""
        below = f"{level}% CI {bounds}" if bounds else ("no CI" if value is not None else "undefined")
        below += " · lower is better" if m.lower_is_better else ""
        cls = "kpi main" if m.ref == main else "kpi"
        cards.append(f'<div class="{cls}"><div class="kpi-label">{html.escape(m.label)}</div>'
                     f'<div class="kpi-value">{html.escape(sig(value))}</div><div class="kpi-ci">{html.escape(below)}</div></div>')  # fmt: skip
    ci_note = _ci_note(metrics, level)
    extra = str(box.html or "")
    return (f'<div class="headline"><table class="facts">{rows}</table><div class="kpis">{"".join(cards)}</div>'
            f'<p class="note">{html.escape(ci_note)}</p>{extra}</div>')  # fmt: skip


def _ci_note(metrics: dict[str, Any], level: int) -> str:
    test = metrics.get("test") or {}
    n_boot, n_units, unit = test.get("n_boot"), test.get("n_units"), test.get("unit", "samples")
    if not n_boot:
        return "No bootstrap CIs in this run (bootstrap: 0)."
    return (
        f"{level}% CIs: percentile bootstrap, {sig(n_boot)} resamples of the {sig(n_units)} test {unit} "
        f"(all samples of a unit drawn together), so they reflect the spread between {unit}, not between samples."
    )


def render_references(box: Headline, metrics: dict[str, Any]) -> str:
    """This run beside the references, one column per key metric any reference reports ("" when there are none)."""
    if not box.references:
        return ""
    columns = [m for m in box.key_metrics if any(m.label in r.values for r in box.references)]
    head = "".join(f"<th>{html.escape(m.label)}</th>" for m in columns)
    this = "".join(f"<td><b>{html.escape(sig(v))}</b>" + (f'<br><span class="ci">{html.escape(interval(ci))}</span>' if v is not None and interval(ci) else "")
                   + "</td>" for v, ci in (lookup(metrics, m.ref) for m in columns))  # fmt: skip
    body = f'<tr class="this-run"><td><b>this run</b></td><td>{html.escape(str(metrics.get("model", "")))}, this report</td>{this}</tr>'
    for r in box.references:
        cells = ""
        for m in columns:
            value = r.values.get(m.label)
            text = DASH if value is None else sig(value)
            if value is not None and m.label in r.spread:
                decimals = len(text.partition(".")[2])
                text += f" ± {r.spread[m.label]:.{decimals}f}"
            cells += f"<td>{html.escape(text)}</td>"
        tag = "" if r.kind == "published" else f' <span class="tag">{html.escape(r.kind)}</span>'
        body += f"<tr><td>{html.escape(r.method)}{tag}</td><td>{html.escape(r.citation)}</td>{cells}</tr>"
    warn = f'<p class="warn">{html.escape(box.comparable)}</p>' if box.comparable else ""
    note = f'<p class="note">{html.escape(box.reference_note)}</p>' if box.reference_note else ""
    return f'{warn}<table class="refs"><tr><th>method</th><th>source</th>{head}</tr>{body}</table>{note}'


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
