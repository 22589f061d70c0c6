"""The coded-visit part of a run's report: the headline (MIMIC version, patient split, target), cohort and samples per
part, accuracy@k, and RETAIN's explanations (visit attention and the codes that moved the output most) for a few test
patients. No published comparison: the demos' ~15 test patients rank nothing (docs/benchmarks.md)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from medrnn.errors import InvalidRecordError
from medrnn.runfiles import load_json
from medrnn.tasks.base import Section

EXPLAINED = 4  # test samples shown in the report (explanations.json holds more)
TARGET_WORDS = {"readmission_30d": "readmission within 30 days, predicted at discharge",
                "next_admission_mortality": "in-hospital death in the next admission, predicted at its admission",
                "next_visit_diagnosis": "the diagnoses of the next visit (top-k training diagnoses, multi-label)"}  # fmt: skip


def visit_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """Headline, cohort table (from metrics.json), ranking metrics, and RETAIN explanations (from explanations.json)."""
    sections: list[Section] = [visit_headline(run_dir, metrics)] if isinstance(metrics.get("test"), dict) else []
    data = metrics.get("data", {}) if isinstance(metrics.get("data"), dict) else {}
    cohort = _cohort_table(data)
    if cohort:
        sections.append(Section("Patients and samples", cohort))
    ranking = metrics.get("ranking") or {}
    if isinstance(ranking, dict) and ranking:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in ranking.items())
        note = "<p>accuracy@k: share of a sample's next-visit label codes among the k most probable (GRAM, Dipole).</p>"
        sections.append(Section("Next-visit diagnoses: accuracy@k", f"{note}<table>{rows}</table>"))
    path = run_dir / "explanations.json"
    if path.exists():
        explanations = _spread_over_patients(_read_explanations(path))
        if explanations:
            sections.append(_explanation_section(explanations))
    return sections


def visit_headline(run_dir: Path, metrics: dict[str, Any]) -> Section:
    """MIMIC version and cohort, the patient split and target by name, and the key metrics of the output kind."""
    from medrnn.report.headline import KeyMetric, headline, run_config
    from medrnn.report.numbers import sig

    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    read = data.get("read") if isinstance(data.get("read"), dict) else {}
    config = run_config(run_dir).get("data")
    config = config if isinstance(config, dict) else {}
    dataset = str(data.get("dataset") or metrics.get("dataset") or config.get("data", ""))
    source = dataset
    if read:
        source += (f" ({read.get('version', 'MIMIC')}): {sig(read.get('n_patients'))} patients, {sig(read.get('n_admissions'))} "
                   f"admissions; codes from {', '.join(str(c) for c in read.get('code_sources') or [])}")  # fmt: skip
    sizes = config.get("split_sizes")
    split = "patient split" + (f" {'/'.join(f'{100 * float(x):g}' for x in sizes)}" if isinstance(sizes, list) else "")
    seed = (metrics.get("split") or {}).get("seed") if isinstance(metrics.get("split"), dict) else None
    target = str(data.get("target") or metrics.get("target") or config.get("task", ""))
    protocol = (f"{split}, seed {seed} (a patient's admissions on one side; vocabulary fitted on training patients); "
                f"target: {TARGET_WORDS.get(target, target)}")  # fmt: skip
    if metrics.get("output_kind") == "multilabel":
        keys = [KeyMetric("mean AUROC", "overall.roc_auc"), KeyMetric("mean AUPRC", "overall.prc_auc")]
        keys += [KeyMetric(k, f"ranking.{k}") for k in (metrics.get("ranking") or {}) if str(k).startswith("accuracy@")]
    else:
        keys = [KeyMetric("AUROC", "overall.roc_auc"), KeyMetric("AUPRC", "overall.prc_auc"),
                KeyMetric("Brier", "calibration.brier", True), KeyMetric("ECE", "calibration.ece", True)]  # fmt: skip
    return headline(data=source, protocol=protocol, key_metrics=keys)


def _cohort_table(data: dict[str, Any]) -> str:
    """Patients, samples and dropped candidate samples per split part; the read counts of the MIMIC tables."""
    patients, samples, dropped = data.get("patients", {}), data.get("samples", {}), data.get("dropped", {})
    if not isinstance(patients, dict) or not patients:
        return ""
    rows = "".join(f"<tr><td>{html.escape(part)}</td><td>{int(patients.get(part, 0))}</td><td>{int(samples.get(part, 0))}</td>"
                   f"<td class=\"l\">{html.escape(', '.join(f'{k}: {v}' for k, v in dropped.get(part, {}).items()) or '—')}</td></tr>"
                   for part in patients)  # fmt: skip
    read = data.get("read", {})
    summary = ""
    if isinstance(read, dict) and read:
        summary = (f"<p>{html.escape(str(read.get('version', '')))} at {html.escape(str(read.get('root', '')))}: "
                   f"{int(read.get('n_patients', 0))} patients, {int(read.get('n_admissions', 0))} admissions; "
                   f"vocabulary {int(data.get('vocabulary_size', 0))} codes (training patients only).</p>")  # fmt: skip
    return f"{summary}<table><tr><th>part</th><th>patients</th><th>samples</th><th class='l'>candidates dropped</th></tr>{rows}</table>"


def _explanation_section(explanations: list[dict[str, Any]]) -> Section:
    from medrnn.report.numbers import sig
    from medrnn.report.plots import figure_to_png

    tables = []
    for item in explanations:
        rows = "".join(f"<tr><td>{int(c['visit'])}</td><td>{html.escape(str(c['code']))}</td>"
                       f"<td>{'+' if float(c['contribution']) > 0 else ''}{html.escape(sig(float(c['contribution'])))}</td></tr>"
                       for c in item["top_codes"])  # fmt: skip
        head = (f"{html.escape(str(item['sample_id']))}: logit {html.escape(sig(float(item['logit'])))} for "
                f"{html.escape(str(item['output']))}")  # fmt: skip
        tables.append(f"<h4>{head}</h4>"
                      f"<table><tr><th>visit</th><th>code</th><th>contribution to the logit</th></tr>{rows}</table>")  # fmt: skip
    text = ("<p>RETAIN's exact decomposition: the logit is the sum of per-code contributions (plus the bias); α weighs "
            "the history visits (oldest first). The figure shows, per explained test sample, α per visit and the codes "
            "with the largest contributions (red raises the predicted risk, blue lowers it).</p>"
            '<details><summary>the contribution tables</summary>' + "".join(tables) + "</details>")  # fmt: skip
    png = base64.b64encode(figure_to_png(plot_contributions(explanations))).decode("ascii")
    return Section(
        "RETAIN explanations (test patients)", text, [("visit attention α and code contributions of the first test samples", png)]
    )


def plot_contributions(explanations: list[dict[str, Any]]) -> Any:
    """One row per explained sample: visit attention α (left) and the signed contributions of its top codes (right)."""
    from medrnn.report.plots import WIDE_IN, new_figure

    n = len(explanations)
    fig = new_figure(WIDE_IN, 2.6 * n + 0.3)
    axes = fig.subplots(n, 2, squeeze=False, width_ratios=[1, 2.6])
    for (ax_a, ax_c), item in zip(axes, explanations):
        alpha = [float(a) for a in item["visit_attention"]]
        ax_a.bar(range(len(alpha)), alpha, color="#1f77b4")
        ax_a.set(ylim=(0, 1), xticks=range(len(alpha)), xlabel="history visit (oldest first)", ylabel="α")
        ax_a.set_title(str(item["sample_id"]), fontsize=9)
        codes = list(item["top_codes"])[::-1]
        values = [float(c["contribution"]) for c in codes]
        ax_c.barh(range(len(codes)), values, color=["#d62728" if v > 0 else "#1f77b4" for v in values])
        ax_c.set_yticks(range(len(codes)), labels=[f"visit {int(c['visit'])}: {c['code']}" for c in codes], fontsize=7)
        ax_c.axvline(0, color="black", linewidth=0.6)
        reach = 1.1 * max((abs(v) for v in values), default=1.0) or 1.0
        ax_c.set_xlim(-reach, reach)  # zero in the middle: raising and lowering read alike
        ax_c.set_xlabel(f"contribution to the logit of {item['output']}")
        ax_c.set_title(f"logit {float(item['logit']):+.3g}", fontsize=9)
    return fig


def _spread_over_patients(items: list[dict[str, Any]], n: int = EXPLAINED) -> list[dict[str, Any]]:
    """The first sample of each patient ("patient/admission" ids) first, so the figure is not one patient's history."""
    seen: set[str] = set()
    first, rest = [], []
    for item in items:
        patient = str(item["sample_id"]).split("/")[0]
        (rest if patient in seen else first).append(item)
        seen.add(patient)
    return (first + rest)[:n]


def _read_explanations(path: Path) -> list[dict[str, Any]]:
    items = load_json(path, list, "explanations")
    needed = {"sample_id", "output", "logit", "visit_attention", "top_codes"}
    if not isinstance(items, list) or any(not isinstance(i, dict) or not needed <= set(i) for i in items):
        raise InvalidRecordError(f"{path}: expected a list of objects with {sorted(needed)}")
    return items


def _fmt(value: Any) -> str:
    from medrnn.report.numbers import sig

    return html.escape(sig(value))
