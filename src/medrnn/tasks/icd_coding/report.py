"""The ICD-coding part of a run's report: the headline beside the published CodiEsp-D systems, MAP as CodiEsp scores it,
the codes table (per code: gold, predicted, correct on test), the gold codes no model of this label set can predict,
and the evidence a coder would be shown for a few test notes (from metrics.json, predictions.npz and evidence.json)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from medrnn.runfiles import load_json
from medrnn.tasks.base import Section

EVIDENCE_NOTES = 5  # test notes shown in the evidence table
CODES_PER_NOTE = 8
CODE_ROWS = 30  # codes in the codes table, most frequent in the test gold first

# Published CodiEsp-D test MAP (official script, every gold code counted), as docs/benchmarks.md records them (checked
# 2026-11-24 through secondary sources: the ODESIA leaderboard page and a third-party results script; the overview paper,
# Miranda-Escalada et al. 2020, CEUR-WS Vol-2696, was not reached). IXA-AAA's 0.593 is unconfirmed as an official run.
PUBLISHED = (("IXA-AAA (unconfirmed as an official run)", 0.593), ("IAM (dictionary-based)", 0.521), ("FLE", 0.519),
             ("The Mental Strokers", 0.517), ("LSI-UNED", 0.517), ("Anuj", 0.505), ("MEDIA", 0.488), ("ICB-UMA", 0.482),
             ("IMS", 0.449))  # fmt: skip
# This project's benchmark on the full official split (docs/benchmarks.md, "CodiEsp-D"): test MAP over the codes seen in
# train, MAP with every gold code, micro-F1.
BENCHMARK = (("medrnn laat+evidence, random rows, 3-seed served ensemble", 0.735, 0.602, 0.729),
             ("medrnn laat+evidence, random rows, one model (mean of 3 seeds)", 0.693, 0.567, 0.702),
             ("TF-IDF + one-vs-rest logistic regression", 0.316, 0.260, 0.326))  # fmt: skip
ALL_GOLD = "MAP, every gold code"
IN_SET = "MAP (codes in the label set)"


def _num(value: Any, digits: int = 3) -> str:
    from medrnn.report.numbers import sig

    return sig(value if isinstance(value, (int, float)) else None, digits)


def notes_headline(run_dir: Path, metrics: dict[str, Any]) -> Any:
    """CodiEsp language and code types, the official split by name, MAP (both ways), micro-F1, P@5; published MAPs."""
    from medrnn.report.headline import KeyMetric, Reference, headline, run_config

    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    config = run_config(run_dir).get("data")
    config = config if isinstance(config, dict) else {}
    language = str(metrics.get("language") or config.get("language", ""))
    codes = [str(c) for c in metrics.get("code_types") or config.get("code_types") or []]
    labels = ((data.get("text") or {}).get("labels") or {}).get("count") if isinstance(data.get("text"), dict) else None
    kinds = {"D": "D (ICD-10-CM diagnoses)", "P": "P (ICD-10-PCS procedures)"}
    named = {"es": "Spanish", "en": "English"}.get(language, language)
    source = f"{metrics.get('dataset', 'codiesp')} ({named}), codes {', '.join(kinds.get(c, c) for c in codes)}"
    source += f"; {_num(labels)} codes seen in train are the labels" if isinstance(labels, int) else ""
    documents = data.get("documents") if isinstance(data.get("documents"), dict) else {}
    per_split = config.get("documents_per_split")
    protocol = str(data.get("protocol") or "CodiEsp official train/dev/test")
    if documents:
        protocol += f" ({'/'.join(_num(v) for v in documents.values())} documents"
        protocol += f", the first {per_split} of each split: data.documents_per_split)" if per_split else ")"
    keys = [KeyMetric(IN_SET, "overall.map"), KeyMetric(ALL_GOLD, "overall.map_all_gold"), KeyMetric("micro-F1", "overall.micro_f1"),
            KeyMetric("P@5", "overall.p@5"), KeyMetric("macro-F1", "overall.macro_f1")]  # fmt: skip
    box = headline(data=source, protocol=protocol, key_metrics=keys)
    if codes != ["D"]:
        return box  # the published figures are CodiEsp-D's
    where = "CodiEsp-D test set, official script; docs/benchmarks.md (secondary sources)"
    box.references = [Reference(name, where, {ALL_GOLD: value}) for name, value in PUBLISHED]
    box.references += [Reference(name, "docs/benchmarks.md, full official split", {IN_SET: a, ALL_GOLD: b, "micro-F1": f},
                                 kind="medrnn benchmark") for name, a, b, f in BENCHMARK]  # fmt: skip
    full = not per_split and language == "es"
    box.comparable = ("" if full else "Not comparable: this run uses a subset of the documents or another language than the "
                      "official Spanish CodiEsp-D; the rows are for orientation only. ") + (
        "Compare MAP with every gold code counted (codes never seen in training count as misses, as the official script "
        "does); the published systems use dictionaries, BERT models and the code descriptions.")  # fmt: skip
    box.reference_note = ("Published MAPs from secondary sources (the overview paper was not reached); IXA-AAA's 0.593 is "
                          "probably the best run but unconfirmed as an official one. No CodiEsp-D MAP of a CNN/RNN system "
                          "was found.")  # fmt: skip
    return box


def codes_section(run_dir: Path) -> Section | None:
    """Per code on the test notes: gold notes, notes predicted at the dev-tuned threshold, correct, precision, recall, AP."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    from medrnn.runfiles import load_npz

    path = run_dir / "predictions.npz"
    if not path.exists():
        return None
    data = load_npz(path, ("y_true", "y_score"))
    y, s = np.asarray(data["y_true"], dtype=np.float64), np.asarray(data["y_score"], dtype=np.float64)
    if "label_names" not in data or y.ndim != 2 or y.shape != s.shape:
        return None
    names = [str(n) for n in data["label_names"]]
    threshold = float(data["threshold"]) if "threshold" in data else None
    gold = np.nansum(y, axis=0)
    called = (s >= threshold).sum(axis=0) if threshold is not None else np.zeros(len(names))
    correct = ((s >= threshold) & (y > 0)).sum(axis=0) if threshold is not None else np.zeros(len(names))
    order = np.lexsort((-called, -gold))[:CODE_ROWS]
    rows = []
    for k in order:
        ap = average_precision_score(y[:, k] > 0, s[:, k]) if 0 < gold[k] < len(y) else None
        precision, recall = correct[k] / called[k] if called[k] else None, correct[k] / gold[k] if gold[k] else None
        rows.append([names[k], *(_num(int(v[k])) for v in (gold, called, correct)), _num(precision), _num(recall), _num(ap)])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("code", "gold notes", "predicted", "correct", "precision", "recall", "AP"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    never = int(((called == 0) & (gold > 0)).sum())
    at = f"at the dev-tuned threshold {_num(threshold, 2)}" if threshold is not None else "(no threshold in predictions.npz)"
    note = (f"<p class=\"note\">The {len(rows)} codes most frequent in the test gold (of {len(names)} in the label set), predicted "
            f"{html.escape(at)}; AP ranks the test notes by the code's probability. {never} codes with a gold note were never "
            "predicted. Codes outside the label set are counted below.</p>")  # fmt: skip
    return Section("Codes (test notes)", f"{note}<table><tr>{head}</tr>{body}</table>")


def headline_section(metrics: dict[str, Any]) -> Section | None:
    """Test MAP over the label set and over every gold code (the CodiEsp figure), dev MAP, threshold, micro-F1."""
    overall = (metrics.get("test") or {}).get("overall") or {}
    if not overall:
        return None
    rows = [("test MAP (codes in the label set)", _num(overall.get("map"))),
            ("test MAP, every gold code (official CodiEsp scoring: an unranked code is a miss)", _num(overall.get("map_all_gold"))),
            *([("… over the gold codes seen in training / never seen (ranked from their titles)",
                f"{_num(overall.get('map_seen'))} / {_num(overall.get('map_unseen'))}"),
               ("… every gold code without the title-ranked codes", _num(overall.get("map_all_gold_labels_only")))]
              if overall.get("map_seen") is not None else []),
            ("dev MAP", _num((metrics.get("dev") or {}).get("map"))),
            ("decision threshold (tuned on dev, micro-F1)", _num(metrics.get("threshold"), 2)),
            ("test micro-F1 at that threshold", _num(overall.get("micro_f1")))]  # fmt: skip
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return Section("ICD coding: MAP", f"<table>{body}</table>")


def unseen_section(metrics: dict[str, Any]) -> Section | None:
    """Gold (note, code) pairs whose code never occurs in a training note: no model of this label set can predict them."""
    unseen = metrics.get("unseen_gold_codes") or {}
    parts = [(s, unseen[s]) for s in ("dev", "test") if isinstance(unseen.get(s), dict)]
    if not parts:
        return None
    keys = ("gold_pairs", "unseen_pairs", "unseen_share", "unseen_codes", "documents_with_unseen")
    head = "".join(f"<th>{html.escape(k.replace('_', ' '))}</th>" for k in keys)
    body = "".join(f"<tr><td>{html.escape(s)}</td>" + "".join(f"<td>{html.escape(_cell(k, u.get(k)))}</td>" for k in keys) + "</tr>"
                   for s, u in parts)  # fmt: skip
    recall = unseen.get("micro_recall_all_gold")
    note = f"<p>Test micro-recall over every gold code (unseen ones counted as misses): {html.escape(_num(recall))}</p>"
    return Section("Gold codes outside the label set", f"<table><tr><th>split</th>{head}</tr>{body}</table>{note}")


def _cell(key: str, value: Any) -> str:
    from medrnn.report.numbers import percent, sig

    return percent(value) if key == "unseen_share" else sig(value)


def marked_snippet(snippet: str, token: str | None) -> str:
    """The snippet escaped for HTML, its `[token]` marker shown as <mark>token</mark>."""
    marker = f"[{token}]" if token else ""
    at = snippet.find(marker) if marker else -1
    if at < 0:
        return html.escape(snippet)
    return html.escape(snippet[:at]) + f"<mark>{html.escape(token or '')}</mark>" + html.escape(snippet[at + len(marker) :])


def evidence_section(run_dir: Path, metrics: dict[str, Any]) -> Section | None:
    """Predicted codes of the first test notes with probability, gold flag and the attended token in context."""
    path = run_dir / "evidence.json"
    if not path.exists():
        return None
    notes = load_json(path, list, "evidence (a list of notes)")
    overlap = metrics.get("evidence_overlap") or {}
    lines = []
    for key, what in (("predicted", "correct predicted codes"), ("gold", "gold codes with spans, whatever their score")):
        o = overlap.get(key)
        if isinstance(o, dict) and o.get("rate") is not None:
            lines.append(f"top-attention token inside a gold evidence span: {o['rate']:.1%} of {o['pairs']} {what}")
    if isinstance(notes, list) and notes:
        lines.append(f"The first {min(EVIDENCE_NOTES, len(notes))} test notes, up to {CODES_PER_NOTE} codes each at or above the "
                     "threshold, most probable first: gold = the code is among the note's gold codes.")  # fmt: skip
    intro = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    rows = []
    for note in notes[:EVIDENCE_NOTES] if isinstance(notes, list) else []:
        codes = [c for c in note.get("codes", [])[:CODES_PER_NOTE] if isinstance(c, dict)] if isinstance(note, dict) else []
        if not codes:
            continue
        gold = [str(g) for g in note.get("gold_codes") or []]
        head = (f'<td rowspan="{len(codes)}" class="l"><b>{html.escape(str(note.get("note_id", "")))}</b><br>'
                f'<span class="note">gold ({len(gold)}): {html.escape(", ".join(gold))}</span></td>')  # fmt: skip
        for k, code in enumerate(codes):
            rows.append(f"<tr>{head if k == 0 else ''}<td>{html.escape(str(code.get('code', '')))}</td>"
                        f"<td>{_num(code.get('probability'))}</td><td>{'yes' if code.get('gold') else 'no'}</td>"
                        f"<td class=\"l\">{marked_snippet(str(code.get('snippet', '')), code.get('token'))}</td></tr>")  # fmt: skip
    if not rows:
        return Section("Evidence (test notes)", intro + "<p>No code at or above the threshold in the first test notes.</p>")
    table = (
        '<table><tr><th class="l">note (its gold codes)</th><th>code</th><th>probability</th><th>gold</th>'
        '<th class="l">evidence (attended token marked)</th></tr>'
    )
    return Section("Evidence (test notes)", intro + table + "".join(rows) + "</table>")


def notes_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """Headline, MAP, the codes table, unseen gold codes and the evidence table (each left out when the run holds nothing
    for it)."""
    box = notes_headline(run_dir, metrics) if (metrics.get("test") or {}).get("overall") else None
    sections = [box, headline_section(metrics), codes_section(run_dir), unseen_section(metrics), evidence_section(run_dir, metrics)]
    return [s for s in sections if s is not None]
