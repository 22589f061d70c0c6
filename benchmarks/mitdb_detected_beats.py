"""The new-record path on DS2: XQRS detects the beats (no reference annotations used), the artifact classifies them.

Run:  python benchmarks/mitdb_detected_beats.py --artifact runs/mitdb/model
Detection is scored against the reference beats with a 150 ms window (wfdb.processing.compare_annotations,
as in ANSI/AAMI EC57); classification metrics are computed on the matched beats.
Writes benchmarks/results/mitdb_detected_beats.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path

import numpy as np
from wfdb import processing

from medrnn import paths
from medrnn.io import read_wfdb
from medrnn.metrics import MetricReport, evaluate
from medrnn.predict import Predictor
from medrnn.tasks.base import InputItem
from medrnn.tasks.ecg_beats.beats import extract_beats
from medrnn.transforms.peaks import detect_r_peaks
from medrnn.tasks.ecg_beats.beats import reference_beats

RESULTS = Path(__file__).parent / "results" / "mitdb_detected_beats.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifact", type=Path, required=True)
    args = parser.parse_args()
    predictor = Predictor.from_artifact(args.artifact)
    cfg = predictor.pipeline.config
    y_true, y_score, groups, per_record = [], [], [], {}
    t0 = time.perf_counter()
    for rid in cfg.test_records:
        record = read_wfdb(paths.dataset_dir(cfg.dataset) / rid, leads=[cfg.lead])
        ref_peaks, ref_labels = reference_beats(record)
        beats = extract_beats(record, cfg, peaks=detect_r_peaks(record.lead(cfg.lead), record.sfreq_hz, source=rid))  # XQRS, no .atr
        probs = predictor.score(InputItem(rid, beats)).values
        cmp = processing.compare_annotations(ref_peaks, beats.sample, int(0.15 * record.sfreq_hz))
        match = np.asarray(cmp.matching_sample_nums)  # per reference beat: index of the matched detection, or -1
        matched = match >= 0
        idx = match[matched]
        y_true.append(ref_labels[matched])
        y_score.append(probs[idx])
        groups.append(np.full(idx.size, rid))
        per_record[rid] = {"reference_beats": int(ref_peaks.size), "detected": int(beats.sample.size),
                           "sensitivity": float(cmp.sensitivity), "positive_predictivity": float(cmp.positive_predictivity)}
        print(rid, per_record[rid], flush=True)
    seconds = time.perf_counter() - t0
    report = evaluate(np.concatenate(y_true), np.concatenate(y_score), predictor.label_names, units=np.concatenate(groups),
                      unit="records", n_boot=1000)  # fmt: skip
    ref_total = sum(r["reference_beats"] for r in per_record.values())
    matched_total = int(sum(len(g) for g in groups))
    detected_total = sum(r["detected"] for r in per_record.values())
    out = {
        "machine": {"cores": os.cpu_count(), "date": str(date.today())},
        "artifact": str(args.artifact),
        "detection": {"sensitivity": matched_total / ref_total, "positive_predictivity": matched_total / detected_total,
                      "reference_beats": ref_total, "detected": detected_total, "matched": matched_total},
        "classification_on_matched_beats": _results_shape(report),
        "seconds": seconds,
        "per_record": per_record,
    }
    RESULTS.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["detection"], indent=1))
    print(report.table())


def _results_shape(report: MetricReport) -> dict:
    """The report in the keys results/mitdb_detected_beats.json has always had (the classification report of medrnn 0.1)."""
    return {"class_names": report.label_names, "per_class": report.per_label, "overall": report.overall, "ci": report.ci,
            "confusion": report.extras["confusion"], "n_samples": report.n_samples, "n_groups": report.n_units,
            "n_boot": report.n_boot, "ci_level": report.ci_level, "ci_unit": "group"}  # fmt: skip


if __name__ == "__main__":
    main()
