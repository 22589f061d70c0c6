"""What a notes run writes beside its metrics: evidence.json for the first test notes, how often the attended token lies
inside a gold evidence span, recall over every gold code (unseen codes counted as misses), and MAP over every gold code
split into seen and unseen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from medrnn.tasks.icd_coding.data import NoteSet
from medrnn.tasks.icd_coding.descriptions import map_by_kind, ranked_with_descriptions
from medrnn.tasks.icd_coding.predict import evidence, predicted_pairs

if TYPE_CHECKING:
    from medrnn.tasks.icd_coding.pipeline import NotesPipeline


def evidence_json(notes: NoteSet, label_names: list[str], probs: np.ndarray, top_token: np.ndarray, threshold: float,
                  n_documents: int) -> list[dict[str, Any]]:  # fmt: skip
    """For the first test documents: each predicted code with its probability, gold flag and top-attention token span."""
    records = (notes.records or [])[:n_documents]
    out: list[dict[str, Any]] = [{"note_id": r.note_id, "gold_codes": list(r.codes), "codes": []} for r in records]
    for d, c in predicted_pairs(probs[: len(records)], threshold):
        code = label_names[c]
        ev = evidence(records[d].text, notes.tokens[d], int(top_token[d, c]))
        out[d]["codes"].append({"code": code, "probability": float(probs[d, c]), "gold": code in records[d].codes, **ev})
    return out


def evidence_overlap(notes: NoteSet, label_names: list[str], probs: np.ndarray, top_token: np.ndarray, threshold: float) -> dict[str, Any]:
    """How often the top-attention token overlaps a gold evidence span (CodiEsp-X) of the same code, on test documents.

    `predicted`: over predicted codes that are gold and have spans (what a coder would be shown); `gold`: over every
    gold label with spans, whatever its score (attention quality alone). None when the records carry no spans.
    """
    records, tokens = notes.records or [], notes.tokens
    if not any(r.spans for r in records) or (top_token < 0).all():
        return {"predicted": None, "gold": None, "note": "no evidence spans (English text or no CodiEsp-X) or no label attention"}
    index = {c: i for i, c in enumerate(label_names)}
    hits = {"predicted": [0, 0], "gold": [0, 0]}
    for d, record in enumerate(records):
        spans: dict[str, list[tuple[int, int]]] = {}
        for code, s, e in record.spans:
            spans.setdefault(code, []).append((s, e))
        for code, pieces in spans.items():
            c = index.get(code)
            t = int(top_token[d, c]) if c is not None else -1
            if t < 0 or t >= len(tokens[d]):
                continue
            tok = tokens[d][t]
            hit = any(tok.start < e and s < tok.end for s, e in pieces)
            keys = ("gold", "predicted") if probs[d, c] >= threshold else ("gold",)
            for key in keys:
                hits[key][0] += hit
                hits[key][1] += 1
    return {k: {"rate": h / n if n else None, "hits": h, "pairs": n} for k, (h, n) in hits.items()}


def micro_recall_all_gold(notes: NoteSet, y: np.ndarray, probs: np.ndarray, threshold: float) -> float:
    """Micro recall over every gold (document, code) pair of test, unseen codes included (they count as misses)."""
    total = sum(len(r.codes) for r in notes.records or [])
    hits = float(((probs >= threshold) & (y > 0)).sum())
    return hits / total if total else float("nan")


def gold_maps(pipeline: NotesPipeline, texts: list[str], gold: list[set[str]], probs: np.ndarray) -> dict[str, float | None]:
    """MAP over every gold code (map_all_gold, CodiEsp's official) with the title-ranked codes when the pipeline ranks them,
    split into seen (label set) and unseen gold codes; and the same without the titles (`*_labels_only`)."""
    names = pipeline.label_names
    with_titles = map_by_kind(ranked_with_descriptions(probs, names, pipeline.describe(texts, probs), pipeline.descriptions),
                              gold, names)  # fmt: skip
    labels_only = map_by_kind(ranked_with_descriptions(probs, names, None, None), gold, names)
    return {**with_titles, "map_all_gold_labels_only": labels_only["map_all_gold"], "map_seen_labels_only": labels_only["map_seen"]}
