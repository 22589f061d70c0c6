"""ICD coding of clinical notes (CodiEsp, CLEF eHealth 2020): a Spanish (or machine-translated English) case report ->
its ICD-10 codes, each with the token its label attention read most (the evidence). CodiEsp's own split: train fits the
vocabulary, the label set and word2vec; dev stops training and tunes the decision threshold; test is scored once."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn import atomic, paths
from medrnn.data.batch import collate
from medrnn.data.sampling import LengthBucketSampler
from medrnn.data.splits import Split
from medrnn.errors import ConfigError, NotFittedError
from medrnn.io.codiesp import read_codiesp
from medrnn.metrics.codes import evaluate_codes, tune_threshold
from medrnn.models import build_model
from medrnn.tasks.serving import ServedInput
from medrnn.tasks.base import InputItem, Scores, Section, Task, TaskData, TaskOption, missing_catalogue_folder, register_task
from medrnn.tasks.icd_coding import explain as explaining
from medrnn.tasks.icd_coding.config import NotesRunConfig
from medrnn.tasks.icd_coding.data import (SPLITS, NoteSet, gold_counts, label_matrix, notes_task_data, text_report,
                                          train_word2vec, unseen_gold)  # fmt: skip
from medrnn.tasks.icd_coding.evidence import EvidenceLoss, evidence_supervision
from medrnn.tasks.icd_coding.outputs import evidence_json, evidence_overlap, gold_maps, micro_recall_all_gold
from medrnn.tasks.icd_coding.pipeline import NotesPipeline
from medrnn.tasks.icd_coding.predict import (chunk_dataset, evidence, ranked_codes, read_note_file, score_documents,
                                             span_evidence)  # fmt: skip
from medrnn.tasks.icd_coding.report import notes_sections
from medrnn.transforms.text import chunk_documents

NOTES = ["test metrics cover the label set (codes seen in train) except map_all_gold, which counts every gold code outside it "
         "as a miss, as the official CodiEsp MAP does; see also unseen_gold_codes",
         "windows of notes longer than data.window are trained with their note's codes and scored by max over windows"]  # fmt: skip


@register_task
class IcdCodingTask(Task):
    """A clinical note -> ICD-10 codes with the evidence each code attended to (CodiEsp)."""

    name = "icd_coding"
    aliases = ("notes",)
    title = "Clinical notes -> ICD-10 codes with evidence (CodiEsp: official train/dev/test)"
    data = "codiesp (CLEF eHealth 2020 case reports: text_files/ + D/P codes + X evidence spans)"
    readers = ("read_codiesp",)
    split_unit = "document (CodiEsp's official train/dev/test)"
    output_kinds = ("multilabel",)
    input_axes = ("token",)
    default_model = "laat"
    models = ("laat", "caml", "bigru_maxpool")
    time_estimate = "about 30 min on 2 CPU cores (CodiEsp-D, LAAT; docs/benchmarks.md); --quick: seconds"
    config_class = NotesRunConfig
    predict_help = ("UTF-8 text files, one note each (read byte-exact); one row per (note, code at or above the dev-tuned "
                    "threshold): item_id (the file as given), code, probability, start, end, evidence (the attended token in "
                    "context), and with code descriptions basis (trained: a label; description: a code outside the label set "
                    "whose title the note matches, the matched word as evidence)")  # fmt: skip
    options = (
        TaskOption("--data", "data.data", "codiesp (default; under the data root) or a CodiEsp folder holding train/ dev/ test/ "
                   "(or final_dataset_v4_to_publish/).", short="-d"),
        TaskOption("--language", "data.language", "es (default; the original Spanish, with evidence spans) or en (the machine "
                   "translation; no spans).", short="-l"),
        TaskOption("--codes", "data.code_types", "Code types, comma-separated: D (ICD-10-CM diagnoses, default), P (ICD-10-PCS "
                   "procedures) or D,P.", kind="list"),
        TaskOption("--window", "data.window", "Tokens per model input (default 2500); longer notes are cut into windows and each "
                   "code takes its best window's score.", kind="int"),
        TaskOption("--min-doc-freq", "data.min_doc_freq", "A word enters the vocabulary (saved in the model file) only when at "
                   "least this many training notes hold it (default 5): rarer words are names and record numbers.", kind="int"),
        TaskOption("--embeddings", "data.embeddings", "none (default: random rows, the better start on CodiEsp-size data) or "
                   "word2vec (trained on the training notes only, needs gensim; for large note collections)."),
        TaskOption("--code-descriptions", "data.code_descriptions", "Rank codes no training note carries from their code-book "
                   "titles, calibrated on dev: auto (default: Spanish CIE-10 for es notes, CDC ICD-10-CM for en), none, "
                   "cie10-es or icd10cm-en. Their rows say basis=description."),
        TaskOption("--evidence-weight", "train.evidence_weight", "Weight of the loss that teaches each code's attention the gold "
                   "evidence spans of the training notes (CodiEsp-X): auto (default: 0.1 for laat/caml on Spanish text, else "
                   "off), 0 (off) or a number."),
    )  # fmt: skip
    served_input = ServedInput(uploads=(".txt",), json_suffix=".txt", json_example=["Paciente con dolor abdominal y fiebre."])
    examples = ("medrnn train notes --out runs/notes                                   # Spanish diagnoses, LAAT, word2vec",
                "medrnn train notes --model caml --language en --max-epochs 10",
                "medrnn predict --artifact runs/notes/model notes/*.txt --out codes.csv  # codes + evidence for new notes")  # fmt: skip

    # ---- training ----------------------------------------------------------------------------------------------
    def quick_config(self) -> NotesRunConfig:
        return NotesRunConfig.model_validate({"data": {"documents_per_split": 20, "window": 300, "embedding_dim": 16},
                                              "model": {"hidden_size": 16, "attention_size": 16},
                                              "train": {"max_epochs": 1, "progress": False}, "bootstrap": 20,
                                              "evidence_documents": 5})  # fmt: skip

    def missing_data(self, config: NotesRunConfig) -> dict[str, list[str]]:
        return missing_catalogue_folder(config.data.data, ("codiesp",), "a CodiEsp folder holding train/ dev/ test/")

    def load(self, config: NotesRunConfig, progress: bool = False) -> TaskData:
        d = config.data
        records, read_report = read_codiesp(paths.resolve_dataset(d.data), language=d.language, code_types=tuple(d.code_types))
        return notes_task_data(records, d.language, d.data, d.documents_per_split, read_report.summary())

    def split(self, data: TaskData, config: NotesRunConfig) -> Split:
        split_of = np.array([r.split for r in data.samples.records])
        return Split(*(np.flatnonzero(split_of == s).astype(np.int64) for s in SPLITS))

    def subset(self, data: TaskData, index: np.ndarray) -> NoteSet:
        return data.samples.subset(np.asarray(index, dtype=np.int64))

    def join(self, parts: list[NoteSet]) -> NoteSet:
        return NoteSet.concat(parts)

    def fit_pipeline(self, data: TaskData, split: Split, config: NotesRunConfig) -> NotesPipeline:
        parts = {s: self.subset(data, index) for s, index in zip(SPLITS, split)}
        pipeline = NotesPipeline.fit(parts["train"], config.data)
        if config.train.init_from:  # transfer: read with the source's vocabulary (all its notes' words, not only the labelled ones)
            from medrnn.train.transfer import source_preprocessing

            pipeline.adopt_vocabulary(source_preprocessing(config.train.init_from))
        report = text_report(parts, pipeline.vocab, pipeline.label_names, config.data.min_label_count, pipeline.dropped_labels,
                             config.data.min_doc_freq)  # fmt: skip
        report.pop("unseen_gold")  # in metrics.json["unseen_gold_codes"] (write_outputs)
        chunks = {s: chunk_documents([len(t) for t in p.tokens], pipeline.window)[1].to_dict() for s, p in parts.items()}
        data.info.update({"text": report, "chunks": chunks})
        return pipeline

    def pipeline_from_state(self, state: dict[str, Any]) -> NotesPipeline:
        return NotesPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: NotesPipeline) -> np.ndarray:
        return label_matrix(self.subset(data, index).records or [], pipeline.label_names)

    def build_model(self, data: TaskData, split: Split, pipeline: NotesPipeline,
                    config: NotesRunConfig) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
        d, m = config.data, config.model
        model = build_model(m.name, m, exclude=("output_bias",), vocab_size=len(pipeline.vocab), num_classes=len(pipeline.label_names),
                            embedding_dim=d.embedding_dim)  # fmt: skip
        if m.output_bias == "prior":  # add-half smoothing keeps every prior inside (0, 1)
            model.init_output_bias(torch.from_numpy((pipeline.label_counts + 0.5) / (len(split.train) + 1.0)))
        info: dict[str, Any] = {"kind": d.embeddings, "dim": d.embedding_dim}
        if d.embeddings == "word2vec":
            start = time.perf_counter()
            texts = self.subset(data, split.train).token_texts()
            matrix, found = train_word2vec(texts, pipeline.vocab, d.embedding_dim, seed=config.train.seed)
            model.load_embeddings(torch.from_numpy(matrix))
            info.update({"trained_on": "train", "rows_from_word2vec": found, "rows": len(pipeline.vocab),
                         "seconds": time.perf_counter() - start})  # fmt: skip
        return model, info

    def pretrain(self, config: NotesRunConfig, out: Path) -> dict[str, Any]:
        """word2vec on every CodiEsp training note (labelled or not; never dev or test; pretrain.* settings) as the
        embedding of a `model.name` model with its vocabulary, an artifact whose embedding alone `--init-from` moves."""
        from medrnn.tasks.icd_coding.pretrain import write_pretrained

        return write_pretrained(config, out)

    def loaders(self, data: TaskData, split: Split, pipeline: NotesPipeline, config: NotesRunConfig) -> tuple[DataLoader, DataLoader, list]:
        t, n = config.train, len(pipeline.label_names)
        # a window of a long note carries its whole note's codes: a code evidenced elsewhere in the note is a noisy positive
        # for this window; scoring takes the max over windows, so no code is lost at evaluation.
        # Batches of similar length: CodiEsp notes run 190-1,000 tokens, random batches are 1.8x padding (2.6x slower epochs)
        train, val = self.subset(data, split.train), self.subset(data, split.val)
        train_set = chunk_dataset(pipeline.encode(train), label_matrix(train.records or [], pipeline.label_names), pipeline.window, n)[0]
        val_set = chunk_dataset(pipeline.encode(val), label_matrix(val.records or [], pipeline.label_names), pipeline.window, n)[0]
        lengths = {k: np.array([len(x) for x in v.x]) for k, v in (("train", train_set), ("val", val_set))}
        return (DataLoader(train_set, batch_sampler=LengthBucketSampler(lengths["train"], t.batch_size, seed=t.seed), collate_fn=collate),
                DataLoader(val_set, batch_sampler=LengthBucketSampler(lengths["val"], t.batch_size, shuffle=False), collate_fn=collate),
                [])  # fmt: skip

    def extra_loss(self, data: TaskData, split: Split, pipeline: NotesPipeline, config: NotesRunConfig,
                   model: nn.Module) -> EvidenceLoss | None:  # fmt: skip
        """Supervised label attention on the training notes' gold evidence spans (see evidence.py), as `train.evidence_weight` asks."""
        train = self.subset(data, split.train)
        chunks = chunk_documents([len(t) for t in train.tokens], pipeline.window)[0]  # the training windows of `loaders`
        loss, info = evidence_supervision(model, config.train, train.records or [], train.tokens, chunks, pipeline.label_names)
        data.info["evidence_supervision"] = info
        return loss

    def predict(self, model: nn.Module, pipeline: NotesPipeline, samples: NoteSet) -> Scores:
        scores = score_documents(model, pipeline.encode(samples), pipeline.window, len(pipeline.label_names))
        return Scores(scores.probs, {"top_token": scores.top_token})

    def tune(self, pipeline: NotesPipeline, scores: Scores, y: np.ndarray, samples: Any = None) -> dict[str, Any]:
        """One global threshold maximising micro-F1 on dev (CAML/LAAT practice); dev MAP and micro-F1 there; and, with code
        descriptions, the title ranker's calibration on the dev notes' codes outside the label set."""
        threshold = float(tune_threshold(y, scores.values))
        pipeline.threshold = threshold
        overall = evaluate_codes(y, scores.values, pipeline.label_names, threshold, n_boot=0).overall
        pipeline.tuning_ = {"threshold": threshold, "on": "dev", "documents": int(y.shape[0]), "map": overall["map"],
                            "micro_f1": overall["micro_f1"]}  # fmt: skip
        if pipeline.descriptions is not None:  # the title ranker's calibration reads the coder's dev probabilities
            if samples is None or samples.records is None:
                raise ConfigError("icd_coding: data.code_descriptions needs the dev notes with their gold codes to calibrate on")
            ranker = dataclasses.replace(pipeline.descriptions)  # a copy: an ensemble's pipeline shares its first member's
            gold = [set(r.codes) for r in samples.records]
            pipeline.tuning_["code_descriptions"] = ranker.calibrate(samples.texts, gold, scores.values)
            pipeline.descriptions = ranker
            pipeline.tuning_["code_descriptions"]["dev"] = gold_maps(pipeline, samples.texts, gold, scores.values)
        return dict(pipeline.tuning_)

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: NotesPipeline, config: NotesRunConfig,
                 samples: NoteSet) -> Any:  # fmt: skip
        # units are the note ids (one document each): the bootstrap resamples documents
        report = evaluate_codes(y, scores.values, pipeline.label_names, _threshold(pipeline), train_counts=pipeline.label_counts,
                                n_boot=config.bootstrap, seed=config.train.seed, gold_counts=gold_counts(samples.records or []),
                                units=units, unit="documents")  # fmt: skip
        if samples.records is not None:  # map_all_gold counts the title-ranked codes too, when the pipeline ranks them
            report.overall.update(gold_maps(pipeline, samples.texts, [set(r.codes) for r in samples.records], scores.values))
        return report

    def write_outputs(self, run_dir: Path, data: TaskData, split: Split, pipeline: NotesPipeline, scores: Scores,
                      model: nn.Module, config: NotesRunConfig) -> dict[str, Any]:  # fmt: skip
        d, threshold = config.data, _threshold(pipeline)
        test = self.subset(data, split.test)
        probs, top = scores.values, scores.extras["top_token"]
        _add_to_predictions(run_dir / "predictions.npz", note_id=np.array(test.note_ids), top_token=top, threshold=threshold)
        chosen = evidence_json(test, pipeline.label_names, probs, top, threshold, config.evidence_documents)
        atomic.write_text(run_dir / "evidence.json", json.dumps(chosen, indent=1, ensure_ascii=False))
        dev_map = pipeline.tuning_.get("map")
        if dev_map is None:  # a pipeline not tuned in this process: score dev again (the same model gives the same scores)
            dev_probs = self.predict(model, pipeline, self.subset(data, split.val)).values
            y_dev = self.targets(data, split.val, pipeline)
            dev_map = evaluate_codes(y_dev, dev_probs, pipeline.label_names, threshold, n_boot=0).overall["map"]
        unseen = {s: unseen_gold(self.subset(data, index).records or [], pipeline.label_names)
                  for s, index in (("dev", split.val), ("test", split.test))}  # fmt: skip
        y_test = self.targets(data, split.test, pipeline)
        return {
            "dataset": d.data, "language": d.language, "code_types": list(d.code_types),
            "threshold": threshold, "threshold_tuned_on": "dev", "dev": {"map": dev_map},
            "unseen_gold_codes": {**unseen, "test_share": unseen["test"]["unseen_share"],
                                  "micro_recall_all_gold": micro_recall_all_gold(test, y_test, probs, threshold)},
            "evidence_overlap": evidence_overlap(test, pipeline.label_names, probs, top, threshold),
            "notes": NOTES,
        }  # fmt: skip

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    # ---- inference ---------------------------------------------------------------------------------------------
    def read_input(self, source: str, pipeline: NotesPipeline, options: dict[str, Any]) -> InputItem:
        text = read_note_file(source)
        tokens = pipeline.tokenizer.tokenize_with_offsets(text)
        return InputItem(str(source), NoteSet([str(source)], [text], [tokens], pipeline.tokenizer.language))

    def decode(self, item: InputItem, scores: Scores, pipeline: NotesPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import in_set, set_labels  # conformal columns, only when --coverage was asked

        notes: NoteSet = item.samples
        threshold, top = _threshold(pipeline), scores.extras["top_token"]
        rows = []
        for i, name in enumerate(notes.note_ids):
            shown = list(ranked_codes(scores.values[i], threshold))  # with --coverage, the set's codes below the threshold too
            for c in shown + sorted(set(set_labels(scores, i, pipeline)) - set(shown), key=lambda k: -scores.values[i, k]):
                ev = evidence(notes.texts[i], notes.tokens[i], int(top[i, c]))
                rows.append({"item_id": name, "code": pipeline.label_names[c], "probability": round(float(scores.values[i, c]), 6),
                             "start": ev["start"], "end": ev["end"], "evidence": ev["snippet"],
                             **({"basis": "trained"} if pipeline.descriptions is not None else {}),
                             **in_set(scores, i, c, pipeline)})  # fmt: skip
        described = pipeline.describe(notes.texts, scores.values)
        if described is not None:  # codes outside the label set whose title the note matches, at or above the same threshold
            for i, name in enumerate(notes.note_ids):
                for c, p, start, end in zip(described.code[i], described.probability[i], described.start[i], described.end[i]):
                    if c >= 0 and p >= threshold:
                        ev = span_evidence(notes.texts[i], int(start), int(end))
                        code = pipeline.descriptions.codes[int(c)]  # type: ignore[union-attr]
                        rows.append({"item_id": name, "code": code, "probability": round(float(p), 6), "start": ev["start"],
                                     "end": ev["end"], "evidence": ev["snippet"], "basis": "description"})  # fmt: skip
        return rows

    def columns(self, pipeline: NotesPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        basis = ["basis"] if pipeline.descriptions is not None else []  # trained (a label) or description (title match)
        return ["item_id", "code", "probability", "start", "end", "evidence", *basis, *conformal_columns(pipeline, per_label=True)]

    def merge_extras(self, member_scores: list[Scores]) -> dict[str, Any]:
        """A code's evidence token comes from the member most confident in that code (ties: the first member)."""
        probs = np.stack([s.values for s in member_scores])  # (members, documents, codes)
        tops = np.stack([s.extras["top_token"] for s in member_scores])
        best = probs.argmax(axis=0)[None]
        return {"top_token": np.take_along_axis(tops, best, axis=0)[0]}

    # ---- report ------------------------------------------------------------------------------------------------
    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        return notes_sections(run_dir, metrics)


def _threshold(pipeline: NotesPipeline) -> float:
    if pipeline.threshold is None:
        raise NotFittedError("icd_coding: the pipeline has no decision threshold; tune it on dev first (Task.tune)")
    return float(pipeline.threshold)


def _add_to_predictions(path: Path, **arrays: Any) -> None:
    """Add arrays to the run's predictions.npz (the generic run writes ids, y_true, y_score; notes keep top_token too)."""
    with np.load(path, allow_pickle=False) as npz:
        kept = {k: npz[k] for k in npz.files}
    with atomic.atomic_path(path) as tmp:
        np.savez_compressed(tmp, **kept, **arrays)


__all__ = ["IcdCodingTask"]
