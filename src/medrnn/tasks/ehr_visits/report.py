"""The coded-visit part of a run's report: cohort and samples per part, accuracy@k, and RETAIN's explanations
(visit attention and the codes that moved the output most) for a few test patients."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from medrnn.errors import InvalidRecordError
from medrnn.runfiles import load_json
from medrnn.tasks.base import Section

EXPLAINED = 4  # test samples shown in the report (explanations.json holds more)


def visit_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """Cohort table (from metrics.json), ranking metrics, and RETAIN explanations (from explanations.json)."""
    sections = []
    data = metrics.get("data", {})
    cohort = _cohort_table(data)
    if cohort:
        sections.append(Section("Patients and samples", cohort))
    ranking = metrics.get("ranking") or {}
    if ranking:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in ranking.items())
        note = "<p>accuracy@k: share of a sample's next-visit label codes among the k most probable (GRAM, Dipole).</p>"
        sections.append(Section("Next-visit diagnoses: accuracy@k", f"{note}<table>{rows}</table>"))
    path = run_dir / "explanations.json"
    if path.exists():
        explanations = _read_explanations(path)[:EXPLAINED]
        if explanations:
            sections.append(_explanation_section(explanations))
    return sections


def _cohort_table(data: dict[str, Any]) -> str:
    """Patients, samples and dropped candidate samples per split part; the read counts of the MIMIC tables."""
    patients, samples, dropped = data.get("patients", {}), data.get("samples", {}), data.get("dropped", {})
    if not isinstance(patients, dict) or not patients:
        return ""
    rows = "".join(f"<tr><td>{html.escape(part)}</td><td>{int(patients.get(part, 0))}</td><td>{int(samples.get(part, 0))}</td>"
                   f"<td>{html.escape(', '.join(f'{k}: {v}' for k, v in dropped.get(part, {}).items()) or '-')}</td></tr>"
                   for part in patients)  # fmt: skip
    read = data.get("read", {})
    summary = ""
    if isinstance(read, dict) and read:
        summary = (f"<p>{html.escape(str(read.get('version', '')))} at {html.escape(str(read.get('root', '')))}: "
                   f"{int(read.get('n_patients', 0))} patients, {int(read.get('n_admissions', 0))} admissions; "
                   f"vocabulary {int(data.get('vocabulary_size', 0))} codes (training patients only).</p>")  # fmt: skip
    return f"{summary}<table><tr><th>part</th><th>patients</th><th>samples</th><th>candidates dropped</th></tr>{rows}</table>"


def _explanation_section(explanations: list[dict[str, Any]]) -> Section:
    from medrnn.report.plots import figure_to_png

    tables = []
    for item in explanations:
        rows = "".join(f"<tr><td>{int(c['visit'])}</td><td>{html.escape(str(c['code']))}</td><td>{float(c['contribution']):+.3f}</td></tr>"
                       for c in item["top_codes"])  # fmt: skip
        head = f"{html.escape(str(item['sample_id']))} (logit {float(item['logit']):+.2f} for {html.escape(str(item['output']))})"
        tables.append(f"<h4>{head}</h4>"
                      f"<table><tr><th>visit</th><th>code</th><th>contribution to the logit</th></tr>{rows}</table>")  # fmt: skip
    text = ("<p>RETAIN's exact decomposition: the logit is the sum of per-code contributions (plus the bias); α weighs "
            "the history visits (oldest first).</p>" + "".join(tables))  # fmt: skip
    png = base64.b64encode(figure_to_png(plot_visit_attention(explanations))).decode("ascii")
    return Section("RETAIN explanations (test patients)", text, [("visit attention α of the first test samples", png)])


def plot_visit_attention(explanations: list[dict[str, Any]]) -> Any:
    """One bar chart of visit attention per explained sample."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.0 * len(explanations), 2.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(explanations), squeeze=False)[0]
    for ax, item in zip(axes, explanations):
        alpha = item["visit_attention"]
        ax.bar(range(len(alpha)), alpha, color="#1f77b4")
        ax.set_title(str(item["sample_id"]), fontsize=9)
        ax.set_xlabel("history visit (oldest first)")
        ax.set_ylim(0, 1)
        ax.set_xticks(range(len(alpha)))
    axes[0].set_ylabel("α")
    return fig


def _read_explanations(path: Path) -> list[dict[str, Any]]:
    items = load_json(path, list, "explanations")
    needed = {"sample_id", "output", "logit", "visit_attention", "top_codes"}
    if not isinstance(items, list) or any(not isinstance(i, dict) or not needed <= set(i) for i in items):
        raise InvalidRecordError(f"{path}: expected a list of objects with {sorted(needed)}")
    return items


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))
