"""The clinical-notes -> ICD-10 job end to end (issue #6): CodiEsp's official train/dev/test -> tokenizer, vocabulary
and label set fitted on train only -> token windows (long notes chunked, never truncated) -> LAAT/CAML/BiGRU with BCE
over all labels, early stopping on dev -> threshold tuned on dev -> one evaluation on test -> attention evidence."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn.artifact import save_artifact
from medrnn.config import save_config
from medrnn.data.batch import collate
from medrnn.data.sampling import LengthBucketSampler
from medrnn.errors import ConfigError
from medrnn.io.codiesp import read_codiesp
from medrnn.metrics.codes import evaluate_codes, tune_threshold
from medrnn.models import build_model
from medrnn.models.text import LabelAttention
from medrnn.predict_notes import DocumentScores, chunk_dataset, evidence, score_documents
from medrnn.tasks.icd_coding.config import AUTO_EVIDENCE_WEIGHT, NotesRunConfig, NotesTrainConfig
from medrnn.train.evidence import EvidenceSupervisedModule, EvidenceTargets
from medrnn.train.fit import fit_module
from medrnn.train.multitask import MultiTaskModule
from medrnn.train.notes_data import NotesData, prepare_notes, resolve_root, train_word2vec
from medrnn.transforms.text import Chunks


@dataclass
class NotesFitResult:
    model: nn.Module
    dev: DocumentScores
    test: DocumentScores
    chunks: dict[str, dict[str, int]]  # split -> ChunkReport.to_dict()
    embeddings: dict[str, Any]
    train_seconds: float
    epochs: int
    best_epoch: int | None
    evidence_supervision: dict[str, Any]


def build_notes_model(data: NotesData, config: NotesRunConfig, seed: int = 0) -> tuple[nn.Module, dict[str, Any]]:
    """The configured model sized to the vocabulary and label set, its embedding started from word2vec when asked."""
    d, m = config.data, config.model
    L.seed_everything(seed, workers=True, verbose=False)
    model = build_model(m.name, vocab_size=len(data.vocab_), num_classes=len(data.label_names_), embedding_dim=d.embedding_dim,
                        **m.model_dump(exclude={"name", "output_bias"}))  # fmt: skip
    if m.output_bias == "prior":  # add-half smoothing keeps every prior inside (0, 1)
        model.init_output_bias(torch.from_numpy((data.label_counts_ + 0.5) / (len(data.records["train"]) + 1.0)))
    info: dict[str, Any] = {"kind": d.embeddings, "dim": d.embedding_dim}
    if d.embeddings == "word2vec":
        start = time.perf_counter()
        texts = [[t.text for t in doc] for doc in data.tokens["train"]]
        matrix, found = train_word2vec(texts, data.vocab_, d.embedding_dim, seed=seed)
        model.load_embeddings(torch.from_numpy(matrix))
        info.update({"trained_on": "train", "rows_from_word2vec": found, "rows": len(data.vocab_), "seconds": time.perf_counter() - start})
    return model, info


def fit_notes_model(data: NotesData, config: NotesRunConfig, run_dir: str | Path, seed: int = 0, progress: bool = False) -> NotesFitResult:
    """Train on the training windows with early stopping on the dev windows; score dev and test documents (max over windows)."""
    window, num_classes = config.data.window, len(data.label_names_)
    model, embeddings = build_notes_model(data, config, seed)
    parts = {s: chunk_dataset(data.ids[s], data.y[s], window, num_classes) for s in ("train", "dev")}
    train_cfg = config.train.model_copy(update={"seed": seed, "progress": progress})
    # a window of a long note carries its whole note's codes: a code evidenced elsewhere in the note is a noisy positive
    # for this window; scoring takes the max over windows, so no code is lost at evaluation.
    # Batches of similar length: CodiEsp notes run 190-1,000 tokens, random batches are 1.8x padding (2.6x slower epochs)
    lengths = {s: np.array([len(x) for x in parts[s][0].x]) for s in parts}
    train_loader = DataLoader(parts["train"][0], batch_sampler=LengthBucketSampler(lengths["train"], train_cfg.batch_size, seed=seed),
                              collate_fn=collate)  # fmt: skip
    val_loader = DataLoader(parts["dev"][0], batch_sampler=LengthBucketSampler(lengths["dev"], train_cfg.batch_size, shuffle=False),
                            collate_fn=collate)  # fmt: skip
    module, supervision = _module(model, train_cfg, data, parts["train"][1])
    start = time.perf_counter()
    fit = fit_module(module, train_loader, val_loader, train_cfg, Path(run_dir), *module.monitor)
    seconds = time.perf_counter() - start
    dev = score_documents(model, data.ids["dev"], window, num_classes)
    test = score_documents(model, data.ids["test"], window, num_classes)
    chunks = {"train": parts["train"][2].to_dict(), "dev": dev.chunks.to_dict(), "test": test.chunks.to_dict()}
    return NotesFitResult(model, dev, test, chunks, embeddings, seconds, fit.epochs, fit.best_epoch, supervision)


def _module(model: nn.Module, config: NotesTrainConfig, data: NotesData, chunks: Chunks) -> tuple[L.LightningModule, dict[str, Any]]:
    """The training module: supervised label attention on the training spans when `evidence_weight` asks for it and
    can have it. "auto" falls back to the plain loss (reason recorded); an explicit weight > 0 that cannot apply is a
    ConfigError saying what is missing."""
    weight = config.evidence_weight
    name = getattr(model, "name", type(model).__name__)
    missing = None
    if not isinstance(getattr(model, "attention", None), LabelAttention):
        missing = f"needs a label-attention model (laat, caml), not {name!r}"
    elif not any(r.spans for r in data.records["train"]):
        missing = "the training notes carry no evidence spans (CodiEsp-X spans exist for data.language='es' only)"
    if weight == 0 or (weight == "auto" and missing):
        return MultiTaskModule(model, config, "classification"), {"weight": 0.0, "why_off": "evidence_weight=0" if weight == 0 else missing}
    if missing:
        raise ConfigError(f"train.evidence_weight={weight}: {missing}; set it to 0 or 'auto'")
    weight = AUTO_EVIDENCE_WEIGHT if weight == "auto" else float(weight)
    targets = EvidenceTargets(data.records["train"], data.tokens["train"], chunks, data.label_names_)
    info = {"weight": weight, "pairs": targets.n_pairs, "spans_not_labels": targets.spans_not_labels,
            "spans_without_tokens": targets.spans_without_tokens}  # fmt: skip
    return EvidenceSupervisedModule(model, config, targets, weight), info


def predicted_pairs(probs: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(document, label) pairs at or above the threshold, per document most probable first."""
    pairs = []
    for d in range(probs.shape[0]):
        above = np.flatnonzero(probs[d] >= threshold)
        pairs += [(d, int(c)) for c in above[np.argsort(-probs[d, above], kind="stable")]]
    return pairs


def evidence_json(data: NotesData, scores: DocumentScores, threshold: float, n_documents: int) -> list[dict[str, Any]]:
    """For the first test documents: each predicted code with its probability, gold flag and top-attention token span."""
    records, tokens = data.records["test"][:n_documents], data.tokens["test"]
    out: list[dict[str, Any]] = [{"note_id": r.note_id, "gold_codes": list(r.codes), "codes": []} for r in records]
    for d, c in predicted_pairs(scores.probs[: len(records)], threshold):
        code = data.label_names_[c]
        ev = evidence(records[d].text, tokens[d], int(scores.top_token[d, c]))
        out[d]["codes"].append({"code": code, "probability": float(scores.probs[d, c]), "gold": code in records[d].codes, **ev})
    return out


def evidence_overlap(data: NotesData, scores: DocumentScores, threshold: float) -> dict[str, Any]:
    """How often the top-attention token overlaps a gold evidence span (CodiEsp-X) of the same code, on test documents.

    `predicted`: over predicted codes that are gold and have spans (what a coder would be shown); `gold`: over every
    gold label with spans, whatever its score (attention quality alone). None when the records carry no spans.
    """
    records, tokens = data.records["test"], data.tokens["test"]
    if not any(r.spans for r in records) or (scores.top_token < 0).all():
        return {"predicted": None, "gold": None, "note": "no evidence spans (English text or no CodiEsp-X) or no label attention"}
    index = {c: i for i, c in enumerate(data.label_names_)}
    hits = {"predicted": [0, 0], "gold": [0, 0]}
    for d, record in enumerate(records):
        spans: dict[str, list[tuple[int, int]]] = {}
        for code, s, e in record.spans:
            spans.setdefault(code, []).append((s, e))
        for code, pieces in spans.items():
            c = index.get(code)
            t = int(scores.top_token[d, c]) if c is not None else -1
            if t < 0 or t >= len(tokens[d]):
                continue
            tok = tokens[d][t]
            hit = any(tok.start < e and s < tok.end for s, e in pieces)
            keys = ("gold", "predicted") if scores.probs[d, c] >= threshold else ("gold",)
            for key in keys:
                hits[key][0] += hit
                hits[key][1] += 1
    return {k: {"rate": h / n if n else None, "hits": h, "pairs": n} for k, (h, n) in hits.items()}


def gold_counts(records: list) -> np.ndarray:
    """Gold codes per document, the codes outside the label set included (for MAP as CodiEsp scores it)."""
    return np.array([len(set(r.codes)) for r in records], dtype=np.int64)


def micro_recall_all_gold(data: NotesData, probs: np.ndarray, threshold: float) -> float:
    """Micro recall over every gold (document, code) pair of test, unseen codes included (they count as misses)."""
    total = sum(len(r.codes) for r in data.records["test"])
    hits = float(((probs >= threshold) & (data.y["test"] > 0)).sum())
    return hits / total if total else float("nan")


def run_notes_experiment(config: NotesRunConfig, run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Read CodiEsp, fit, tune the threshold on dev, evaluate once on test; write config.yaml, metrics.json,
    predictions.npz, evidence.json and model/."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    d, seed = config.data, config.train.seed
    records, read_report = read_codiesp(resolve_root(d.data), language=d.language, code_types=tuple(d.code_types))
    data = prepare_notes(records, d)
    fit = fit_notes_model(data, config, run_dir, seed=seed, progress=progress)
    threshold = float(tune_threshold(data.y["dev"], fit.dev.probs))
    report = evaluate_codes(data.y["test"], fit.test.probs, data.label_names_, threshold, train_counts=data.label_counts_,
                            n_boot=config.bootstrap, seed=seed, gold_counts=gold_counts(data.records["test"]))  # fmt: skip
    save_artifact(run_dir / "model", fit.model, {"tokenizer": data.tokenizer_.state_dict(), "vocabulary": data.vocab_.state_dict(),
                  "window": d.window, "threshold": threshold, "threshold_tuned_on": "dev", "language": d.language,
                  "code_types": list(d.code_types), "label_counts": data.label_counts_.tolist()}, data.label_names_,
                  [r.note_id for r in data.records["train"]], extra={"task": "notes", "dataset": d.data})  # fmt: skip
    test_ids = np.array([r.note_id for r in data.records["test"]])
    np.savez_compressed(run_dir / "predictions.npz", note_id=test_ids, y_true=data.y["test"], y_score=fit.test.probs,
                        top_token=fit.test.top_token, label_names=np.array(data.label_names_), threshold=threshold)  # fmt: skip
    (run_dir / "evidence.json").write_text(json.dumps(evidence_json(data, fit.test, threshold, config.evidence_documents), indent=1,
                                                      ensure_ascii=False), encoding="utf-8")  # fmt: skip
    unseen = data.report["unseen_gold"]["test"]
    metrics = {
        "kind": "notes", "dataset": d.data, "language": d.language, "code_types": list(d.code_types), "model": config.model.name,
        "split": {"protocol": "CodiEsp official train/dev/test; dev: early stopping and threshold", "seed": seed,
                  "documents": data.report["documents"]},
        "threshold": threshold, "threshold_tuned_on": "dev",
        "dev": {"map": evaluate_codes(data.y["dev"], fit.dev.probs, data.label_names_, threshold, n_boot=0).overall["map"]},
        "test": report.to_dict(),
        "unseen_gold_codes": {**data.report["unseen_gold"], "test_share": unseen["unseen_share"],
                              "micro_recall_all_gold": micro_recall_all_gold(data, fit.test.probs, threshold)},
        "evidence_overlap": evidence_overlap(data, fit.test, threshold),
        "data": {"read": read_report.summary(), "text": {k: v for k, v in data.report.items() if k != "unseen_gold"},
                 "chunks": fit.chunks, "embeddings": fit.embeddings},
        "training": {"epochs": fit.epochs, "best_epoch": fit.best_epoch, "train_seconds": fit.train_seconds,
                     "evidence_supervision": fit.evidence_supervision},
        "notes": ["test metrics cover the label set (codes seen in train) except map_all_gold, which counts every gold code "
                  "outside it as a miss, as the official CodiEsp MAP does; see also unseen_gold_codes",
                  "windows of notes longer than data.window are trained with their note's codes and scored by max over windows"],
    }  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    return metrics
