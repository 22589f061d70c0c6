"""The ECG part of a beat run's report: beats per class and set, and a 10 s test strip with predicted and true labels."""

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
from medrnn.tasks.ecg_beats.config import BeatDataConfig


def strip_arrays(beats: BeatSet, probs: np.ndarray, config: BeatDataConfig, window_s: float = 10.0) -> dict[str, Any]:
    """The 10 s test strip with the most non-N reference beats, for the report's ECG plot."""
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
    return {
        "signal": record.lead(config.lead)[start:stop].astype(np.float32),
        "sfreq_hz": record.sfreq_hz,
        "beat_sample": beats.sample[sel] - start,
        "beat_pred": probs[sel].argmax(axis=1),
        "beat_true": beats.y[sel],
        "record_id": best_rec,
        "start_s": start / record.sfreq_hz,
        "class_names": np.array(AAMI_CLASSES),
    }


def write_strip(path: Path, beats: BeatSet, probs: np.ndarray, config: BeatDataConfig) -> None:
    """strip.npz beside the run (no pickles), written atomically."""
    arrays = strip_arrays(beats, probs, config)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def beat_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Any]:
    """Beats per class and set (from metrics.json) and the ECG strip (from strip.npz)."""
    from medrnn.report.plots import figure_to_png, plot_ecg_strip

    sections = []
    counts = metrics.get("data", {}).get("counts", {})
    if isinstance(counts, dict) and counts:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in AAMI_CLASSES)
        rows = "".join(f"<tr><td>{html.escape(str(name))}</td>" + "".join(f"<td>{int(c.get(k, 0)):,}</td>" for k in AAMI_CLASSES) + "</tr>"
                       for name, c in counts.items() if isinstance(c, dict))  # fmt: skip
        sections.append(Section("Beats per class and set", f"<table><tr><th>set</th>{head}</tr>{rows}</table>"))
    strip = run_dir / "strip.npz"
    if strip.exists():
        s = load_npz(strip, ("signal", "sfreq_hz", "beat_sample", "beat_pred"))
        names = [str(n) for n in s["class_names"]] if "class_names" in s else list(AAMI_CLASSES)
        record_id = str(s["record_id"]) if "record_id" in s else None
        fig = plot_ecg_strip(s["signal"], float(s["sfreq_hz"]), s["beat_sample"], s["beat_pred"], names,
                             beat_true=s.get("beat_true"), record_id=record_id)  # fmt: skip
        png = base64.b64encode(figure_to_png(fig)).decode("ascii")
        sections.append(Section("ECG strip (test record)", "<p class=\"note\">10 s of the test record with the most non-N beats: "
                                "predicted class above each beat, reference class in brackets, mismatches shaded.</p>",
                                [("ECG strip", png)]))  # fmt: skip
    return sections
