"""The ICD-coding part of a run's report: MAP as CodiEsp scores it, the gold codes no model of this label set can
predict, and the evidence a coder would be shown for a few test notes (from metrics.json and evidence.json)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from medrnn.runfiles import load_json
from medrnn.tasks.base import Section

EVIDENCE_NOTES = 5  # test notes shown in the evidence table
CODES_PER_NOTE = 8


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"


def headline_section(metrics: dict[str, Any]) -> Section | None:
    """Test MAP over the label set and over every gold code (the CodiEsp figure), dev MAP, threshold, micro-F1."""
    overall = (metrics.get("test") or {}).get("overall") or {}
    if not overall:
        return None
    rows = [("test MAP (codes in the label set)", _num(overall.get("map"))),
            ("test MAP, every gold code (official CodiEsp scoring: unseen codes are misses)", _num(overall.get("map_all_gold"))),
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
    if key == "unseen_share" and isinstance(value, (int, float)):
        return f"{value:.1%}"
    return "n/a" if value is None else str(value)


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
    intro = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    rows = []
    for note in notes[:EVIDENCE_NOTES] if isinstance(notes, list) else []:
        for code in note.get("codes", [])[:CODES_PER_NOTE]:
            rows.append(f"<tr><td>{html.escape(str(note.get('note_id', '')))}</td><td>{html.escape(str(code.get('code', '')))}</td>"
                        f"<td>{_num(code.get('probability'))}</td><td>{'yes' if code.get('gold') else 'no'}</td>"
                        f"<td>{marked_snippet(str(code.get('snippet', '')), code.get('token'))}</td></tr>")  # fmt: skip
    if not rows:
        return Section("Evidence (test notes)", intro + "<p>No code at or above the threshold in the first test notes.</p>")
    table = "<table><tr><th>note</th><th>code</th><th>probability</th><th>gold</th><th>evidence (attended token marked)</th></tr>"
    return Section("Evidence (test notes)", intro + table + "".join(rows) + "</table>")


def notes_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """Headline MAP, unseen gold codes and the evidence table (each left out when the run holds nothing for it)."""
    sections = [headline_section(metrics), unseen_section(metrics), evidence_section(run_dir, metrics)]
    return [s for s in sections if s is not None]
