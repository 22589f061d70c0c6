"""One HTML report writer for every task: the headline box (task, data, protocol, model, seed, date, key metrics with
CIs) and the published figures beside the run, metric tables, the per-unit table, curves and calibration drawn from
predictions.npz, then the task's own sections (`Task.report_sections`), the run details and the resolved config folded
away at the end.

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
from medrnn.report.explain_section import explanation_section
from medrnn.report.headline import Headline, render_headline, render_references
from medrnn.report.sections import default_headline, facts, generic_sections, load_metrics, run_details
from medrnn.runfiles import require_complete
from medrnn.tasks.base import Section

REPORT_CSS = """<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1180px; color: #222;
       padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.45em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
table.kv th, table.facts th { text-align: left; white-space: nowrap; } table.kv td, table.facts td { text-align: left; }
td.l, th.l { text-align: left; } td.l { overflow-wrap: anywhere; } td.mono { font-family: ui-monospace, Menlo, Consolas, monospace; }
.ci { color: #666; font-size: 0.82em; white-space: nowrap; }
.note { color: #555; font-size: 0.88em; } .warn { color: #8a4b00; background: #fff4e0; padding: 0.4em 0.6em; }
.headline { border: 2px solid #2a6; border-radius: 6px; padding: 0.6em 1em; background: #f6fbf8; }
.headline table.facts { border: none; margin: 0; } .headline table.facts th, .headline table.facts td { border: none;
  background: none; padding: 0.15em 0.8em 0.15em 0; }
.kpis { display: flex; flex-wrap: wrap; gap: 0.6em; margin: 0.7em 0 0.3em; }
.kpi { background: #fff; border: 1px solid #cde; border-radius: 5px; padding: 0.4em 0.8em; min-width: 8.5em; }
.kpi-label { font-size: 0.82em; color: #444; } .kpi-value { font-size: 1.45em; font-weight: 600; }
.kpi-ci { font-size: 0.78em; color: #666; white-space: nowrap; }
table.refs tr.this-run td { background: #eef8f1; } table.refs td:nth-child(2) { text-align: left; }
.kpi.main { border: 2px solid #2a6; } tr.total td { font-weight: 600; background: #fafafa; } .tag { font-size: 0.75em; background: #e8e8f8; padding: 0 0.3em;
  border-radius: 3px; }
figure { margin: 0.8em 0; } figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.85em; }
details { margin: 0.6em 0; } summary { cursor: pointer; color: #245; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
</style>"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
{{ css }}</head><body>
<h1>{{ title }}</h1>
<p class="note">{{ subtitle }}</p>
{{ headline }}
{% if references %}<h2>Beside published results</h2>
{{ references }}{% endif %}
{% for s in sections %}<h2>{{ s.title }}</h2>
{{ s.html }}
{% for caption, png in s.figures %}<figure><img alt="{{ caption }}" src="data:image/png;base64,{{ png }}"><figcaption>{{ caption }}</figcaption></figure>{% endfor %}
{% endfor %}
{% if config %}<h2>Resolved config</h2>
<details><summary>config.yaml of the run (click to open)</summary><pre>{{ config }}</pre></details>{% endif %}
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
    own = task.report_sections(run_dir, metrics) if task is not None else []
    for section in own:
        if not isinstance(section, Section):
            raise InvalidRecordError(f"report section {section!r} is not a Section")
    box = next((s for s in own if isinstance(s, Headline)), None) or default_headline(metrics, task)
    own = [s for s in own if not isinstance(s, Headline)]
    why = explanation_section(run_dir, metrics)
    sections = generic_sections(run_dir, metrics, box) + own + ([why] if why else []) + [run_details(run_dir, metrics)]
    config_path = run_dir / "config.yaml"
    config = config_path.read_text(encoding="utf-8", errors="replace") if config_path.exists() else None
    title = task.title if task is not None else f"medrnn run of task {metrics.get('task', '?')}"
    html_text = jinja2.Environment(autoescape=True).from_string(_TEMPLATE).render(
        title=title, subtitle=f"medrnn report of the run in {run_dir.resolve().name}/", css=Markup(REPORT_CSS),
        headline=Markup(render_headline(box, metrics, facts(run_dir, metrics, task, box))),
        references=Markup(render_references(box, metrics)),
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
    """A section with its (already escaped) HTML marked safe for jinja."""
    return Section(section.title, Markup(section.html), list(section.figures))


__all__ = ["write_report"]
