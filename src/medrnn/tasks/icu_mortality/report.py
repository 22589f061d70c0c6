"""The ICU part of a run's report: stays and deaths per part of the split, and what the PhysioNet 2012 read did
(stays without time series, values out of range or marked -1 per variable, rows skipped, files not read).

Everything comes from metrics.json["data"]; jinja2 with autoescaping renders it, so every record id, variable name
and failure reason read from the run folder is escaped. ROC/PR curves, metric tables and calibration are generic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from medrnn.io.physionet2012 import DESCRIPTOR_LEVELS, DESCRIPTOR_RANGES, PLAUSIBLE_RANGES
from medrnn.tasks.base import Section

MAX_IDS_SHOWN = 100  # stays without time series listed by record id
MAX_VALUES_SHOWN = 30  # out-of-range values listed one by one (metrics.json holds up to 500)

_SPLIT = """<p class="note">{{ protocol }}</p>
<table><tr><th>part</th><th>stays</th><th>deaths</th><th>death rate</th></tr>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</table>"""

_READ = """<table>{% for key, value in read_rows %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
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
{% else %}<p class="note">Every file was read.</p>{% endif %}"""

_ENV = jinja2.Environment(autoescape=True)


def icu_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """The headline, stays and deaths per part of the split, and the data-quality section of the read (each when
    metrics.json has what it needs)."""
    data = _dict(metrics.get("data"))
    sections: list[Section] = [icu_headline(metrics)] if _dict(metrics.get("test")) else []
    split_rows = _split_rows(metrics)
    if split_rows:
        sections.append(Section("Stays and deaths per part", _ENV.from_string(_SPLIT).render(protocol=_protocol(data), rows=split_rows)))
    read = _dict(data.get("read"))
    if read:
        html = _ENV.from_string(_READ).render(
            read_rows=_read_rows(read, data),
            no_series=[str(r) for r in _list(read.get("no_time_series"))],
            no_series_note=_no_series_note(data),
            max_ids=MAX_IDS_SHOWN,
            variable_rows=_variable_rows(read),
            oor_values=_oor_values(read),
            n_oor=_num(sum(_counts(read.get("n_out_of_range")).values())),
            event_rows=_event_rows(read),
            failures=[(str(k), str(v)) for k, v in _dict(read.get("failures")).items()],
        )
        sections.append(Section("Data quality (PhysioNet 2012 read)", html))
    return sections


# Published PhysioNet 2012 (P12) in-hospital mortality, AUROC / AUPRC (mean ± SD), as docs/benchmarks.md records them
# ("Published figures", checked 2026-11-24), and this project's benchmark rows from the same page.
PUBLISHED = (
    ("GRU-D (set A, 5-fold CV)", "Che et al., Sci. Rep. 2018; Table 2 of arXiv 1606.01865", {"AUROC": 0.8424}, {"AUROC": 0.012}),
    ("GRU-D (P12, Raindrop's splits)", "Zhang et al. (Raindrop), ICLR 2022, restated by ViTST's README",
     {"AUROC": 0.819, "AUPRC": 0.461}, {"AUROC": 0.021, "AUPRC": 0.047}),
    ("SeFT (idem)", "Zhang et al., ICLR 2022 (second-hand)", {"AUROC": 0.739, "AUPRC": 0.311}, {"AUROC": 0.025, "AUPRC": 0.041}),
    ("mTAND (idem)", "Zhang et al., ICLR 2022 (second-hand)", {"AUROC": 0.842, "AUPRC": 0.482}, {"AUROC": 0.008, "AUPRC": 0.034}),
    ("Raindrop (idem)", "Zhang et al., ICLR 2022 (second-hand)", {"AUROC": 0.828, "AUPRC": 0.440}, {"AUROC": 0.017, "AUPRC": 0.030}),
)  # fmt: skip
BENCHMARK = (
    ("medrnn GRU-D, sets A+B+C 80/10/10", {"AUROC": 0.862, "AUPRC": 0.549, "Brier": 0.0889}, {"AUROC": 0.014, "AUPRC": 0.039}),
    ("logistic regression on summaries, idem", {"AUROC": 0.874, "AUPRC": 0.577, "Brier": 0.0854}, {"AUROC": 0.010, "AUPRC": 0.022}),
    ("medrnn GRU-D, set A 5-fold CV", {"AUROC": 0.835, "AUPRC": 0.479, "Brier": 0.0947}, {"AUROC": 0.020, "AUPRC": 0.021}),
)  # fmt: skip


def icu_headline(metrics: dict[str, Any]) -> Section:
    """PhysioNet 2012 sets, the split by name, AUROC/AUPRC/Brier/ECE and the published and benchmark figures."""
    from medrnn.report.headline import KeyMetric, Reference, headline

    data = _dict(metrics.get("data"))
    sets = _list(data.get("sets"))
    read = _dict(data.get("read"))
    used, stays = data.get("stays_used"), data.get("stays_read")
    source = "PhysioNet/CinC Challenge 2012" + (
        f", set{'s' if len(sets) > 1 else ''} {', '.join(str(x).upper() for x in sets)}" if sets else ""
    )
    if isinstance(used, int):
        source += f": {_num(used)} stays used" + (f" of {_num(stays)} read" if isinstance(stays, int) else "")
    source += f", first {_hours(data.get('window_hours'))} h" if data.get("window_hours") else ""
    keys = [KeyMetric("AUROC", "overall.roc_auc"), KeyMetric("AUPRC", "overall.prc_auc"),
            KeyMetric("Brier", "calibration.brier", True), KeyMetric("ECE", "calibration.ece", True)]  # fmt: skip
    refs = [Reference(m, c, v, sd) for m, c, v, sd in PUBLISHED]
    refs += [Reference(m, "docs/benchmarks.md, 3 seeds or 5 folds (mean ± SD)", v, sd, kind="medrnn benchmark") for m, v, sd in BENCHMARK]
    subset = data.get("left_out_by_max_stays")
    comparable = "Protocols differ between rows: read them as a range. "
    if subset:
        comparable = f"Not comparable: this run left {_num(subset)} stays out (data.max_stays); the rows are for orientation only. "
    comparable += "GRU-D's paper uses set A with 5-fold CV; Raindrop's table its own 5 splits of sets A+B+C (P12)."
    return headline(data=source or str(read.get("root", "")), protocol=_split_name(data),
                    key_metrics=keys, references=refs, comparable=comparable,
                    reference_note="Che et al.'s figure is confirmed in the arXiv version; the Raindrop table only second-hand "
                    "(as restated by a later paper's README). Other preprocessing and splits: differences of a few points are "
                    "within protocol and seed spread (docs/benchmarks.md).")  # fmt: skip


def _split_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """Per part: stays, deaths and death rate, as '960', '140', '14.6%'."""
    counts = _dict(_dict(metrics.get("split")).get("counts"))
    deaths = _dict(_dict(_dict(metrics.get("data")).get("split")).get("deaths"))
    rows = []
    for name, n in counts.items():
        died = deaths.get(name)
        rate = f"{died / n:.1%}" if isinstance(died, int) and isinstance(n, int) and n else "—"
        rows.append([str(name), _num(n), _num(died) if died is not None else "?", rate])
    return rows


def _protocol(data: dict[str, Any]) -> str:
    """One sentence on how the stays were split (protocol, fold, seed, stratification)."""
    split = _dict(data.get("split"))
    protocol = str(split.get("protocol", "?"))
    if protocol == "cv":
        protocol = f"stratified {split.get('folds', '?')}-fold cross-validation, fold {split.get('fold', '?')} as test"
    elif protocol == "split":
        sizes = _list(split.get("sizes"))
        protocol = "stratified holdout" + (f" {'/'.join(f'{100 * s:g}' for s in sizes)}" if sizes else "")
    sets = _list(data.get("sets"))
    where = f"PhysioNet 2012 sets {', '.join(str(s).upper() for s in sets)}" if sets else "PhysioNet 2012"
    by = split.get("stratified_by", "the outcome")
    return f"{where}: {protocol}, seed {split.get('seed', '?')}, stratified by {by}; one stay per unit."


def _split_name(data: dict[str, Any]) -> str:
    """The split in a few words: "stay split, stratified holdout 80/10/10 by In-hospital_death, seed 0"."""
    split = _dict(data.get("split"))
    protocol = str(split.get("protocol", "?"))
    by = split.get("stratified_by", "the outcome")
    if protocol == "cv":
        text = f"stay split: stratified {split.get('folds', '?')}-fold cross-validation by {by}, fold {split.get('fold', '?')} as test"
    elif protocol == "split":
        sizes = _list(split.get("sizes"))
        text = "stay split: stratified holdout" + (f" {'/'.join(f'{100 * x:g}' for x in sizes)}" if sizes else "") + f" by {by}"
    else:
        text = f"stay split: {protocol}"
    return text + f", seed {split.get('seed', '?')} (PhysioNet 2012 has no patient id: the stay is the unit)"


def _read_rows(read: dict[str, Any], data: dict[str, Any]) -> list[tuple[str, str]]:
    """Stays read per set, the row/observation totals of the read, and the stays used."""
    per_set = _dict(read.get("n_records"))
    rows = [(f"stays read, set {str(k).upper()}", _num(v)) for k, v in per_set.items()]
    if per_set:
        rows.append(("stays read, all sets", _num(sum(v for v in per_set.values() if isinstance(v, int)))))
    for key, label in (("n_rows", "data rows read"), ("n_observations", "time-series observations kept")):
        if key in read:
            rows.append((label, _num(read[key])))
    excluded = _dict(data.get("excluded_no_time_series"))
    if "count" in excluded:
        rows.append(("stays excluded: no time series", _num(excluded["count"])))
    if data.get("left_out_by_max_stays"):
        rows.append(("stays left out by data.max_stays", _num(data["left_out_by_max_stays"])))
    if "stays_used" in data:
        rows.append(("stays used (train + val + test)", _num(data["stays_used"])))
    if data.get("observations_after_window"):
        rows.append((f"observations after the first {_hours(data.get('window_hours', '?'))} h (left out of the grid)",
                     _num(data["observations_after_window"])))  # fmt: skip
    if read.get("root"):
        rows.append(("data folder", str(read["root"])))
    return rows


def _no_series_note(data: dict[str, Any]) -> str:
    """Whether the stays with descriptors only were excluded (data.drop_empty)."""
    drop = _dict(data.get("excluded_no_time_series")).get("drop_empty")
    if drop is None:
        return "Stays with descriptors only (age, gender, ...) and no measurement; see data.drop_empty in the configuration."
    return ("Excluded from training and evaluation (data.drop_empty: true)." if drop
            else "Kept as all-missing series (data.drop_empty: false).")  # fmt: skip


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
    """Rows skipped or values filled for reasons other than range (only the non-zero ones)."""
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


def _counts(value: Any) -> dict[str, int]:
    """A {name: count} entry of the read report ({} when absent or malformed)."""
    return {str(k): int(v) for k, v in _dict(value).items() if isinstance(v, (int, float))}


def _dict(value: Any) -> dict[str, Any]:
    """value if it is a dict, else {} (metrics.json entries may be absent or malformed)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """value if it is a list, else []."""
    return value if isinstance(value, list) else []


def _hours(value: Any) -> str:
    """48.0 -> "48" (a duration as configured, not a measurement)."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _num(value: Any) -> str:
    """Integers with thousands separators, floats to 3 significant digits, anything else as text."""
    from medrnn.report.numbers import sig

    return sig(value)


__all__ = ["icu_sections"]
