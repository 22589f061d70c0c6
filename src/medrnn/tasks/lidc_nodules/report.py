"""LIDC's part of report.html: the nodules per part of the patient-wise split, and where the slice attention fell
relative to the radiologists' outlines (the explained nodules' figures, outlines beside attributions, come from the
generic explanation section)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from medrnn.report.numbers import percent, sig
from medrnn.tasks.base import Section


def lidc_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """The split table and the attention-in-outlines table, each when metrics.json has what it needs."""
    sections = []
    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    split = data.get("split") if isinstance(data.get("split"), dict) else {}
    classes = [str(c) for c in data.get("classes", [])]
    counts = split.get("class_counts") if isinstance(split.get("class_counts"), dict) else {}
    if counts and classes:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in classes)
        rows = "".join(f"<tr><td>{html.escape(str(part))}</td><td>{sig(split.get('patients', {}).get(part))}</td>"
                       + "".join(f"<td>{sig(v)}</td>" for v in list(values)[: len(classes)]) + "</tr>"
                       for part, values in counts.items())  # fmt: skip
        left = ", ".join(f"{html.escape(str(k))}: {sig(v)}" for k, v in (data.get("left_out_by_label") or {}).items()) or "none"
        sections.append(Section("Nodules per part (split by patient)",
                                f"<table><tr><th>part</th><th>patients</th>{head}</tr>{rows}</table>"
                                f"<p>Left out by label: {left}. Labels are the radiologists' median malignancy rating, not "
                                "pathology; the crops are 8-bit windowed grey levels, not Hounsfield units.</p>"))  # fmt: skip
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    rating = (test.get("extras") or {}).get("benign_vs_malignant") if isinstance(test.get("extras"), dict) else None
    if isinstance(rating, dict) and rating.get("n"):
        ci = rating.get("auroc_ci") or [None, None]
        sections.append(Section("The predicted rating as a benign-vs-malignant score",
                                f"<p>The model predicts the mean of the radiologists' malignancy ratings (1-5). Read as a score "
                                f"for malignant (median rating &gt; 3) against benign (&lt; 3), on the {sig(rating['n'])} test "
                                f"nodules of {sig(rating.get('n_patients'))} patients with one of those labels (indeterminate "
                                f"left out), its AUROC is {sig(rating.get('auroc'))} (95 % CI {sig(ci[0])}-{sig(ci[1])}, "
                                "bootstrap by patient). Set it beside the benign-vs-malignant models' AUROC with care: this run "
                                "keeps the indeterminate nodules, so its patients and its split (same seed) are not theirs."
                                "</p>"))  # fmt: skip
    share = metrics.get("attention_in_outlines")
    if isinstance(share, dict) and share.get("nodules"):
        sections.append(Section("Slice attention and the radiologists' outlines",
                                f"<p>Over {sig(share['nodules'])} test nodules with some slices outlined by at least "
                                f"{sig(share.get('consensus_votes'))} radiologists and some not, the model put "
                                f"{percent(share['attention_share'])} of its slice attention on the outlined slices; uniform "
                                f"attention would put {percent(share['uniform_share'])} there. Attention on outlined slices "
                                f"exceeded the uniform share for {percent(share['nodules_above_uniform'])} of these "
                                "nodules.</p>"))  # fmt: skip
    examples = example_section(run_dir, metrics.get("examples"))
    if examples is not None:
        sections.append(examples)
    return sections


def example_section(run_dir: Path, examples: Any) -> Section | None:
    """A few test nodules drawn when the run was written (RUN/examples/): outlines beside the slice attention."""
    if not isinstance(examples, list):
        return None
    figures = []
    for entry in examples:
        path = Path(run_dir) / "examples" / Path(str(entry.get("file", ""))).name if isinstance(entry, dict) else None
        if path is not None and path.is_file():
            caption = f"{entry.get('nodule')}: radiologists {entry.get('label')}; model {entry.get('prediction')}"
            figures.append((caption, base64.b64encode(path.read_bytes()).decode("ascii")))
    if not figures:
        return None
    attention = all(isinstance(e, dict) and e.get("slice_attention") for e in examples)
    return Section("Test nodules: the radiologists' outlines and the slice attention",
                   "<p>Chosen without looking at the labels: among the test nodules outlined by at least two radiologists on "
                   "some slice, the two the model scored most and the two it scored least malignant. Each shows the slices "
                   "the model read (its central crop), the consensus outline (green, at least 2 of 4 radiologists) and, "
                   + ("beneath each slice, its attention weight." if attention else "this model having no slice attention, "
                      "no weights.") + "</p>", figures)  # fmt: skip


__all__ = ["example_section", "lidc_sections"]
