"""One HTML report writer for every task: run summary, metric tables with CIs, curves and calibration drawn from
predictions.npz, then the task's own sections (`Task.report_sections`), then the resolved config.

Images are base64 PNGs and CSS is inline, so the file can be mailed or attached to a submission. jinja2 renders it
with autoescaping: every string read from a file is escaped; only a task section's `html` (built with html.escape by
the task) is passed through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from medrnn import __version__
from medrnn.atomic import write_text
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.runfiles import require_complete
from medrnn.report.sections import generic_sections, load_metrics, summary_rows
from medrnn.tasks.base import Section

REPORT_CSS = """<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 0.9em; } img { max-width: 100%; height: auto; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; } .figs figure { margin: 0; flex: 1 1 420px; }
figcaption { color: #555; font-size: 0.85em; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
</style>"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
{{ css }}</head><body>
<h1>{{ title }}</h1>
<h2>Run summary</h2>
<table>{% for key, value in summary %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
{% for s in sections %}<h2>{{ s.title }}</h2>
{{ s.html }}
{% if s.figures %}<div class="figs">{% for caption, png in s.figures %}<figure><img alt="{{ caption }}" src="data:image/png;base64,{{ png }}"><figcaption>{{ caption }}</figcaption></figure>{% endfor %}</div>{% endif %}
{% endfor %}
{% if config %}<h2>Resolved config (config.yaml)</h2><pre>{{ config }}</pre>{% endif %}
<p class="note">medrnn {{ version }}</p>
</body></html>
"""


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write a self-contained HTML report for `run_dir` (default `run_dir/report.html`) and return its path."""
    run_dir = Path(run_dir)
    out = run_dir / "report.html" if out is None else Path(out)
    require_complete(run_dir)
    metrics = load_metrics(run_dir / "metrics.json")
    task = _task(metrics)
    sections = generic_sections(run_dir, metrics)
    if task is not None:
        sections += task.report_sections(run_dir, metrics)
    config_path = run_dir / "config.yaml"
    config = config_path.read_text(encoding="utf-8", errors="replace") if config_path.exists() else None
    title = f"medrnn report: {run_dir.resolve().name}" + (f" ({task.title})" if task is not None else "")
    html_text = jinja2.Environment(autoescape=True).from_string(_TEMPLATE).render(
        title=title, css=Markup(REPORT_CSS), summary=summary_rows(run_dir, metrics, task),
        sections=[_safe(s) for s in sections], config=config, version=__version__,
    )  # fmt: skip
    return write_text(out, html_text)


def _task(metrics: dict[str, Any]) -> Any:
    """The run's task from metrics.json ("task"; runs of medrnn <= 0.1 carry "kind" or nothing: ECG beats)."""
    from medrnn.tasks.base import get_task

    name = metrics.get("task") or metrics.get("kind") or "ecg_beats"
    try:
        return get_task(str(name))
    except ConfigError:
        return None


def _safe(section: Section) -> Section:
    """A task section with its (already escaped) HTML marked safe for jinja."""
    if not isinstance(section, Section):
        raise InvalidRecordError(f"report section {section!r} is not a Section")
    return Section(section.title, Markup(section.html), list(section.figures))
