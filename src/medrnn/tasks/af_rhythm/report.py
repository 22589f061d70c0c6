"""The AF part of a run's report: the headline (challenge F1 beside the published CinC 2017 figures) and records per class
and part of the split. ROC/PR curves, metric tables, calibration and the per-record table are generic."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from medrnn.tasks.af_rhythm.data import CLASS_NAMES, CLASSES
from medrnn.tasks.base import Section

KEY_METRICS = (("Challenge F1 (mean of N, A, O)", "overall.f1_naof"), ("F1 N", "N.f1"), ("F1 A (AF)", "A.f1"),
               ("F1 O (other)", "O.f1"), ("F1 ~ (noisy)", "~.f1"))  # fmt: skip
# Published CinC 2017 results on the HIDDEN test set (3,658 records, never released), challenge F1 = mean F1 of N, A, O.
PUBLISHED = (
    ("CRNN on log-spectrograms (Zihlmann et al.)", "Zihlmann M, Perekrestenko D, Tschannen M. Convolutional recurrent neural "
     "networks for electrocardiogram classification. Computing in Cardiology 44 (2017)", {"Challenge F1 (mean of N, A, O)": 0.821}),
    ("The four joint winners (Teijeiro; Datta; Zabihi; Hong et al.)", "Clifford GD, et al. AF classification from a short "
     "single lead ECG recording: the PhysioNet/Computing in Cardiology Challenge 2017. Computing in Cardiology 44 (2017)",
     {"Challenge F1 (mean of N, A, O)": 0.83}),
)  # fmt: skip


def af_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """The headline box (when the run has a test report) and the records per class and part of the split."""
    sections: list[Section] = [af_headline(metrics)] if isinstance(metrics.get("test"), dict) else []
    counts = (metrics.get("data") or {}).get("counts") if isinstance(metrics.get("data"), dict) else None
    if isinstance(counts, dict) and counts:
        head = "".join(f"<th>{html.escape(CLASS_NAMES[c])}</th>" for c in CLASSES)
        rows = "".join(
            f"<tr><td>{html.escape(str(part))}</td>"
            + "".join(f"<td>{int(row.get(c, 0)) if isinstance(row, dict) else '—'}</td>" for c in CLASSES)
            + "</tr>"
            for part, row in counts.items()
        )
        sections.append(Section("Records per class and part", f"<table><tr><th>part</th>{head}</tr>{rows}</table>"))
    return sections


def af_headline(metrics: dict[str, Any]) -> Section:
    """Data, protocol by name, challenge F1 and per-class F1, with the published figures and why they differ."""
    from medrnn.report.headline import KeyMetric, Reference, headline

    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    split = data.get("split") if isinstance(data.get("split"), dict) else {}
    n = data.get("records_used")
    source = "PhysioNet/CinC Challenge 2017 training set, single-lead ECG at 300 Hz, v3 labels N/A/O/~"
    if isinstance(n, int):
        source += f": {n:,} records used"
    protocol = str(split.get("protocol", "stratified split by record"))
    comparable = ("Not comparable: the published figures are on the challenge's hidden test set (3,658 records, never released); "
                  "this run is scored on held-out records of the training set (a different test set, from the same source).")  # fmt: skip
    return headline(data=source, protocol=protocol, key_metrics=[KeyMetric(label, ref) for label, ref in KEY_METRICS],
                    references=[Reference(m, c, v) for m, c, v in PUBLISHED], comparable=comparable,
                    label_names=dict(CLASS_NAMES),
                    reference_note="Challenge F1 (Clifford et al. 2017) = (F1_N + F1_A + F1_O) / 3, F1 of ~ left out; "
                    "published figures are single scores on the hidden test set, without CIs.")  # fmt: skip
