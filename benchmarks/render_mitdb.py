"""Print the markdown tables of docs/benchmarks.md from benchmarks/results/mitdb_interpatient.json (no hand-copied numbers)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "mitdb_interpatient.json"
PUBLISHED = [  # inter-patient DS1 -> DS2, as reported by the authors (fractions)
    ("de Chazal 2004 (LDA)", dict(sveb_se=0.759, sveb_ppv=0.385, veb_se=0.777, veb_ppv=0.819, jkappa=0.612)),
    ("Mar 2011 (MLP, feature selection)", dict(sveb_se=0.832, sveb_ppv=0.335, veb_se=0.868, veb_ppv=0.759, jkappa=0.649)),
    ("Zhang 2014 (SVM, feature selection)", dict(jkappa=0.663)),
    ("Mondéjar-Guerra 2019 (SVM ensemble)", dict(jkappa=0.773)),
]
COLS = ["sveb_se", "sveb_ppv", "sveb_f1", "veb_se", "veb_ppv", "veb_f1", "jkappa", "macro_f1"]


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def _table(rows: list[dict], labels: list[str], extra: str = "train_eval_seconds") -> list[str]:
    head = ["configuration", "seeds", "SVEB Se", "SVEB +P", "SVEB F1", "VEB Se", "VEB +P", "VEB F1", "jκ", "macro-F1"]
    if extra:
        head.append("train+eval s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        runs = [r for r in rows if r["label"] == label]
        cells = [label, ",".join(str(r["seed"]) for r in runs)] + [_fmt([r[c] for r in runs]) for c in COLS]
        if extra:
            cells.append(f"{statistics.median(r[extra] for r in runs):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    out = json.loads(RESULTS.read_text())
    print(f"machine: {out['machine']}\n")
    if "speed" in out:
        print(f"speed: {out['speed']}\n")
    if "runs" in out:
        labels = list(dict.fromkeys(r["label"] for r in out["runs"]))
        print("\n".join(_table(out["runs"], labels)), "\n")
        s = out["summary"]
        lines = ["| method | SVEB Se | SVEB +P | VEB Se | VEB +P | jκ |", "|---|---|---|---|---|---|"]
        lines.append(f"| medrnn `{s['model']}` (mean of {len(s['seeds'])} seeds) | " + " | ".join(
            f"{s[k]:.3f}" for k in ["sveb_se", "sveb_ppv", "veb_se", "veb_ppv", "jkappa"]) + " |")
        for name, vals in PUBLISHED:
            lines.append(f"| {name} | " + " | ".join(f"{vals[k]:.3f}" if k in vals else "–" for k in ["sveb_se", "sveb_ppv", "veb_se", "veb_ppv", "jkappa"]) + " |")
        print("\n".join(lines), "\n")
    if "ablation" in out:
        labels = list(dict.fromkeys(r["label"] for r in out["ablation"]))
        print("\n".join(_table(out["ablation"], labels)))


if __name__ == "__main__":
    main()
