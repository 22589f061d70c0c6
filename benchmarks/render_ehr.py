"""Markdown tables for docs/benchmarks.md from benchmarks/results/physionet2012.json and ehr_scale.json.

Run:  python benchmarks/render_ehr.py > /tmp/ehr_tables.md
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
LABELS = {"gru_d": "GRU-D", "gru": "GRU on values, mask, Δt", "lstm": "LSTM on values, mask, Δt", "rnn": "Elman RNN on values, mask, Δt",
          "lr": "Logistic regression on summaries"}  # fmt: skip


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.3f}" + (f" ± {std:.3f}" if std is not None else "")


def physionet_tables(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, title in (("summary", "Sets A+B+C, stratified 80/10/10, seeds 0 1 2"), ("summary_cv", "Set A, stratified 5-fold CV")):
        summary = results.get(key, {})
        lines += [f"#### {title}", "", "| model | AUROC | AUPRC | Brier | runs | median train s |", "|---|---|---|---|---|---|"]
        for model, row in sorted(summary.get("per_model", {}).items(), key=lambda kv: -kv[1]["auroc"]):
            runs = [r for r in results["runs"] if r["protocol"] == summary["protocol"] and r["model"] == model and r["error"] is None]
            secs = sorted(r["train_seconds"] for r in runs if r.get("train_seconds") is not None)
            med = f"{secs[len(secs) // 2]:.0f}" if secs else "–"
            lines.append(f"| {LABELS.get(model, model)} | {_pm(row['auroc'], row['auroc_std'])} | {_pm(row['auprc'], row['auprc_std'])} "
                         f"| {row['brier']:.4f} | {len(row['seeds'])} | {med} |")  # fmt: skip
        lines.append("")
    failed = [r for r in results.get("runs", []) if r["error"]]
    lines += [f"Failed runs: {len(failed)}" + "".join(f"\n- {r['protocol']} {r['model']} {r['unit']}: {r['error']}" for r in failed), ""]
    return lines


def scale_table(results: dict[str, Any]) -> list[str]:
    s, rows = results["summary"], results["data"]["rows"]
    counts = " | ".join(f"{v:,}" for v in rows.values())
    lines = ["| rows | " + " | ".join(rows) + " |", "|---|" + "---|" * len(rows), f"| count | {counts} |",
             "", "| implementation | seconds | peak GB |", "|---|---|---|"]  # fmt: skip
    for impl in ("medrnn", "pandas"):
        runs = [r for r in results["runs"] if r["impl"] == impl]
        bad = [r for r in runs if r["status"] != "ok"]
        secs, peak = (s["seconds"], s["peak_gb"]) if impl == "medrnn" else (s["pandas_seconds"], s["pandas_peak_gb"])
        shown = "–" if secs is None else f"{secs:.0f}"
        note = f" ({len(bad)} run failed: {bad[0].get('reason', bad[0]['status'])}, after {bad[0]['wall_seconds']:.0f} s)" if bad else ""
        lines.append(f"| {impl} | {shown}{note} | {'–' if peak is None else f'{peak:.2f}'} |")
    return lines


def demo_table(results: dict[str, Any]) -> list[str]:
    """One row per dataset/task/model: mean test AUROC over the seeds where it is defined, with its spread."""
    lines = ["| dataset | task | model | AUROC | AUPRC | accuracy@10 | seeds scored | one-class test | test patients |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for key, row in results["summary"].items():
        dataset, task, model = key.split("/")
        acc = "–" if row.get("accuracy@10") is None else f"{row['accuracy@10']:.3f}"
        auprc = "–" if row.get("auprc") is None else f"{row['auprc']:.3f}"
        patients = "–" if row.get("test_patients") is None else f"{row['test_patients']:.0f}"
        lines.append(f"| {dataset} | {task} | {model} | {_pm(row['auroc'], row['auroc_std'])} | {auprc} | {acc} "
                     f"| {len(row['seeds'])} | {row['auroc_undefined']} | {patients} |")  # fmt: skip
    failed = [r for r in results["runs"] if r["error"]]
    lines += ["", f"Failed runs: {len(failed)}. Date {results['date'][:10]}; {results['machine']['cores']} cores, "
              f"{results['machine']['threads']} thread(s)."]  # fmt: skip
    return lines


def main() -> None:
    p12 = RESULTS / "physionet2012.json"
    if p12.exists():
        print("\n".join(physionet_tables(json.loads(p12.read_text()))))
    for path in sorted(RESULTS.glob("ehr_scale*.json")):
        print(f"#### {path.name}\n")
        print("\n".join(scale_table(json.loads(path.read_text()))))
        print()


if __name__ == "__main__":
    main()
