"""The ECG part of a beat run's report: the headline (SVEB/VEB Se and +P, jκ; the protocol by name) beside the published
inter-patient results, beats per class and set, and a 10 s test strip on ECG paper with predicted and reference labels.

The per-record table, metric tables, curves and calibration are the generic writer's (the Headline tells it to detail
S and V per record).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from medrnn import paths
from medrnn.atomic import atomic_path
from medrnn.io import read_wfdb
from medrnn.runfiles import load_npz
from medrnn.tasks.base import Section
from medrnn.tasks.ecg_beats.beats import AAMI_CLASSES, BeatSet
from medrnn.tasks.ecg_beats.config import MITDB_DS1, MITDB_DS2, BeatDataConfig
from medrnn.tasks.ecg_beats.decision import decide

DISPLAY = {"N": "N (normal)", "S": "S (SVEB)", "V": "V (VEB)", "F": "F (fusion)", "Q": "Q (unknown)"}
KEY_METRICS = (("SVEB Se", "S.se"), ("SVEB +P", "S.ppv"), ("VEB Se", "V.se"), ("VEB +P", "V.ppv"), ("jκ", "overall.jkappa"),
               ("Cohen's κ", "overall.kappa"), ("accuracy", "overall.accuracy"), ("macro-F1", "overall.macro_f1"))  # fmt: skip
# Published inter-patient results (DS1 -> DS2, AAMI classes), as tabulated in docs/benchmarks.md ("Beside the published
# inter-patient results"); single runs without CIs. The benchmark row is medrnn's default `lstm`, mean ± SD of seeds 0-2.
PUBLISHED = (
    ("de Chazal 2004 (LDA)", "de Chazal, O'Dwyer & Reilly, IEEE Trans. Biomed. Eng. 2004",
     {"SVEB Se": 0.759, "SVEB +P": 0.385, "VEB Se": 0.777, "VEB +P": 0.819, "jκ": 0.612}),
    ("Mar 2011 (MLP, feature selection)", "Mar et al., IEEE Trans. Biomed. Eng. 2011",
     {"SVEB Se": 0.832, "SVEB +P": 0.335, "VEB Se": 0.868, "VEB +P": 0.759, "jκ": 0.649}),
    ("Zhang 2014 (SVM, feature selection)", "Zhang et al., Comput. Biol. Med. 2014", {"jκ": 0.663}),
    ("Mondéjar-Guerra 2019 (SVM ensemble)", "Mondéjar-Guerra et al., Biomed. Signal Process. Control 2019", {"jκ": 0.773}),
)  # fmt: skip
BENCHMARK = ("medrnn lstm, seeds 0, 1, 2 (mean ± SD)", "docs/benchmarks.md, MIT-BIH inter-patient",
             {"SVEB Se": 0.812, "SVEB +P": 0.392, "VEB Se": 0.898, "VEB +P": 0.791, "jκ": 0.665},
             {"SVEB Se": 0.044, "SVEB +P": 0.013, "VEB Se": 0.039, "VEB +P": 0.030, "jκ": 0.006})  # fmt: skip


def strip_arrays(beats: BeatSet, probs: np.ndarray, config: BeatDataConfig, window_s: float = 10.0,
                 weights: list[float] | None = None) -> dict[str, Any]:  # fmt: skip
    """The 10 s test strip with the most non-N reference beats, for the report's ECG plot (classes by the run's decision
    rule: `weights` tuned on validation, or plain argmax)."""
    best_rec, best_start, best_n = str(beats.record[0]), int(beats.sample[0]), -1
    win = int(window_s * config.sfreq_hz)
    for rec in np.unique(beats.record):
        sel = beats.record == rec
        samples = beats.sample[sel]
        abnormal_before = np.concatenate([[0], np.cumsum(beats.y[sel] > 0)])  # abnormal beats before index i
        counts = abnormal_before[np.searchsorted(samples, samples + win)] - abnormal_before[:-1]  # in [s_i, s_i + win)
        i = int(np.argmax(counts))
        if counts[i] > best_n:
            best_rec, best_start, best_n = str(rec), int(samples[i]) - int(0.5 * config.sfreq_hz), int(counts[i])
    record = read_wfdb(paths.dataset_dir(config.dataset) / best_rec, leads=[config.lead])
    start = max(best_start, 0)
    stop = min(start + win, record.n_samples)
    sel = (beats.record == best_rec) & (beats.sample >= start) & (beats.sample < stop)
    at = record.lead_names.index(config.lead) if config.lead in record.lead_names else 0
    return {
        "signal": record.lead(config.lead)[start:stop].astype(np.float32),
        "sfreq_hz": record.sfreq_hz,
        "beat_sample": beats.sample[sel] - start,
        "beat_pred": decide(probs[sel], weights),
        "beat_true": beats.y[sel],
        "record_id": best_rec,
        "start_s": start / record.sfreq_hz,
        "class_names": np.array(AAMI_CLASSES),
        "lead": config.lead,
        "units": record.units[at] if len(record.units) > at else "mV",
    }


def write_strip(path: Path, beats: BeatSet, probs: np.ndarray, config: BeatDataConfig, weights: list[float] | None = None) -> None:
    """strip.npz beside the run (no pickles), written atomically."""
    arrays = strip_arrays(beats, probs, config, weights=weights)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def beat_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Any]:
    """The headline, beats per class and set (from metrics.json) and the ECG strip (from strip.npz)."""
    from medrnn.report.headline import run_config

    config = run_config(run_dir)
    data_config = config.get("data") if isinstance(config.get("data"), dict) else {}
    sections = [ecg_headline(metrics, data_config)]
    counts = metrics.get("data", {}).get("counts", {}) if isinstance(metrics.get("data"), dict) else {}
    if isinstance(counts, dict) and counts:
        head = "".join(f"<th>{html.escape(DISPLAY.get(c, c))}</th>" for c in AAMI_CLASSES)
        rows = "".join(f"<tr><td>{html.escape(str(name))}</td>" + "".join(f"<td>{int(c.get(k, 0)):,}</td>" for k in AAMI_CLASSES) + "</tr>"
                       for name, c in counts.items() if isinstance(c, dict))  # fmt: skip
        sections.append(Section("Beats per class and set", f"<table><tr><th>set</th>{head}</tr>{rows}</table>"))
    strip = run_dir / "strip.npz"
    if strip.exists():
        sections.append(strip_section(strip, str(data_config.get("lead") or "")))
    return sections


def ecg_headline(metrics: dict[str, Any], data_config: dict[str, Any]) -> Any:
    """Data, protocol by name (is this de Chazal's full DS1 -> DS2?), SVEB/VEB key metrics and the published results."""
    from medrnn.report.headline import KeyMetric, Reference, headline

    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    train = [str(r) for r in (data.get("train_records") or []) + (data.get("validation_records") or [])]
    test = [str(r) for r in data.get("test_records") or []]
    if not train and not test:  # a run whose metrics.json does not list them: the config's lists
        train, test = ([str(r) for r in data_config.get(k) or []] for k in ("train_records", "test_records"))
    full = sorted(train) == sorted(MITDB_DS1) and sorted(test) == sorted(MITDB_DS2)
    n_val = len(data.get("validation_records") or [])
    if not train and not test:
        protocol = "inter-patient (whole records on each side); this run does not record its record lists"
        comparable = "Cannot tell whether this run used DS1 → DS2: the published rows are shown for orientation only."
    elif full:
        protocol = (f"inter-patient, de Chazal DS1 → DS2: trained on the 22 DS1 records ({n_val} held out whole for validation), "
                    "tested once on the 22 DS2 records")  # fmt: skip
        comparable = ("Same protocol as the published rows (DS1 → DS2, AAMI classes, lead MLII). They are single runs "
                      "without CIs; this run's CIs show how far the 22 test records alone move each figure.")  # fmt: skip
    else:
        protocol = (f"inter-patient on custom record lists, not de Chazal's full DS1 → DS2: trained on {len(train)} records "
                    f"({n_val} for validation), tested on {len(test)} ({', '.join(test[:8])}{' …' if len(test) > 8 else ''})")  # fmt: skip
        comparable = ("Not comparable: this run does not train on DS1 and test on DS2 (`medrnn train mitdb` with the default "
                      "record lists does); the published rows are shown for orientation only.")  # fmt: skip
    lead = data_config.get("lead", "MLII")
    source = f"MIT-BIH Arrhythmia Database ({data_config.get('dataset', 'mitdb')}), lead {lead}, AAMI EC57 classes N/S/V/F/Q"
    references = [Reference(m, c, v) for m, c, v in PUBLISHED]
    references.append(Reference(BENCHMARK[0], BENCHMARK[1], BENCHMARK[2], BENCHMARK[3], kind="medrnn benchmark"))
    return headline(data=source, protocol=protocol, key_metrics=[KeyMetric(label, ref) for label, ref in KEY_METRICS],
                    references=references, comparable=comparable, label_names=dict(DISPLAY), unit_labels=["S", "V"],
                    reference_note="Published figures are those the authors report on DS1 → DS2 (single runs, no CIs; "
                    "— where a paper does not report the figure), as tabulated in docs/benchmarks.md. jκ = κ/2 + "
                    "(Se_S + +P_S + Se_V + +P_V)/8 (Mondéjar-Guerra 2019).")  # fmt: skip


def strip_section(path: Path, lead: str) -> Section:
    """The 10 s strip on ECG paper; lead and units from strip.npz (runs before they were kept there: the config's lead)."""
    from medrnn.report.plots import figure_to_png, plot_ecg_strip

    s = load_npz(path, ("signal", "sfreq_hz", "beat_sample", "beat_pred"))
    names = [str(n) for n in s["class_names"]] if "class_names" in s else list(AAMI_CLASSES)
    record_id = str(s["record_id"]) if "record_id" in s else None
    lead = str(s["lead"]) if "lead" in s else lead
    units = str(s["units"]) if "units" in s else "mV"  # MIT-BIH records are in mV; read_wfdb returns physical units
    start_s = float(s["start_s"]) if "start_s" in s else None
    fig = plot_ecg_strip(s["signal"], float(s["sfreq_hz"]), s["beat_sample"], s["beat_pred"], names, beat_true=s.get("beat_true"),
                         record_id=record_id, lead=lead or None, units=units, start_s=start_s)  # fmt: skip
    png = base64.b64encode(figure_to_png(fig)).decode("ascii")
    text = ("<p class=\"note\">10 s of the test record with the most non-N reference beats, unfiltered, on standard ECG paper "
            "(25 mm/s, 10 mm/mV): predicted class above each beat, reference class in brackets, mismatches shaded.</p>")  # fmt: skip
    return Section("ECG strip (test record)", text, [("ECG strip", png)])
