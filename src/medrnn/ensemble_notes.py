"""Several clinical-notes coders served as one: the members' probabilities are averaged (each member reads every note
with its own window), one decision threshold is tuned on dev for that average, and each code's evidence comes from the
member most confident in the code.

Averaging independently trained networks is the deep-ensemble recipe (Lakshminarayanan et al. 2017); no maintained
library serves it for these models, so it is written here. The ensemble is a folder with one `ensemble.json` naming
the member artifacts (paths relative to it) and their weight checksums: nothing to unpickle, nothing copied.

    medrnn ensemble notes runs/notes-s0/model runs/notes-s1/model runs/notes-s2/model --out runs/notes-ensemble
    medrnn predict --artifact runs/notes-ensemble notes/*.txt
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medrnn import __version__
from medrnn.errors import ArtifactError, ConfigError
from medrnn.predict_notes import DocumentScores, NotesPredictions, NotesPredictor, predictions_for_files
from medrnn.transforms.text import Token

ENSEMBLE = "ensemble.json"
FORMAT = "medrnn-ensemble"


def is_ensemble(path: str | Path) -> bool:
    """True when `path` is an ensemble folder (holds ensemble.json) rather than a single artifact."""
    return (Path(path) / ENSEMBLE).is_file()


def _check_members(members: list[NotesPredictor], paths: list[Path]) -> None:
    """Members must code the same labels and tokenize alike (evidence offsets and averaged columns must line up)."""
    if len(members) < 2:
        raise ConfigError(f"an ensemble needs two or more member artifacts, got {len(members)}")
    first, where = members[0], paths[0]
    for member, path in zip(members[1:], paths[1:]):
        if member.label_names != first.label_names:
            only = sorted(set(member.label_names) ^ set(first.label_names))[:5]
            raise ArtifactError(f"{path}: field 'class_names' ({len(member.label_names)} codes) differs from {where} "
                                f"({len(first.label_names)} codes), e.g. {only}; train members on the same label set")  # fmt: skip
        if member.tokenizer.state_dict() != first.tokenizer.state_dict():
            raise ArtifactError(f"{path}: field 'preprocessing.tokenizer' {member.tokenizer.state_dict()} differs from {where} "
                                f"{first.tokenizer.state_dict()}; members must read notes in the same language")  # fmt: skip


class NotesEnsemble:
    """Member coders whose probabilities are averaged; `threshold` was tuned on dev for the average."""

    def __init__(self, members: list[NotesPredictor], threshold: float, metadata: dict[str, Any] | None = None,
                 paths: list[Path] | None = None) -> None:  # fmt: skip
        paths = paths or [Path(f"member {i}") for i in range(len(members))]
        _check_members(members, paths)
        self.members, self.threshold, self.metadata = members, float(threshold), metadata or {}
        self.label_names: list[str] = members[0].label_names
        self.tokenizer = members[0].tokenizer

    @classmethod
    def from_path(cls, path: str | Path, device: str | torch.device | None = None) -> NotesEnsemble:
        """Load an ensemble folder; a member whose weights changed since the ensemble was built is refused."""
        folder = Path(path)
        meta_file = folder / ENSEMBLE
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ArtifactError(f"{meta_file}: not a readable medrnn ensemble ({err})") from err
        if meta.get("format") != FORMAT or meta.get("task") != "notes":
            raise ArtifactError(f"{meta_file}: fields 'format'/'task' are {meta.get('format')!r}/{meta.get('task')!r}, "
                                f"expected {FORMAT!r}/'notes'")  # fmt: skip
        entries, threshold = meta.get("members"), meta.get("threshold")
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "path" in e for e in entries):
            raise ArtifactError(f"{meta_file}: field 'members' must be a list of {{'path', 'weights_sha256'}}, got {entries!r}")
        if not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ArtifactError(f"{meta_file}: field 'threshold' must be a probability in [0, 1], got {threshold!r}")
        members, paths = [], []
        for i, entry in enumerate(entries):
            member_path = folder / entry["path"]
            member = NotesPredictor.from_artifact(member_path, device=device)
            if member.metadata.get("weights_sha256") != entry.get("weights_sha256"):
                raise ArtifactError(f"{meta_file}: field 'members[{i}].weights_sha256' does not match {member_path}; the member was "
                                    "retrained or replaced since the ensemble was built: build it again (medrnn ensemble notes)")
            members.append(member)
            paths.append(member_path)
        return cls(members, float(threshold), meta, paths)

    def predict_texts(self, texts: list[str]) -> tuple[DocumentScores, list[list[Token]]]:
        """Mean member probability per (note, code); the evidence token is the one of the member most confident in the code."""
        scored = [member.predict_texts(texts) for member in self.members]
        outputs, tokens = [o for o, _ in scored], scored[0][1]  # members tokenize alike (checked)
        probs = np.stack([o.probs for o in outputs])  # (members, documents, codes)
        tops = np.stack([o.top_token for o in outputs])
        best = probs.argmax(axis=0)[None]
        return DocumentScores(probs.mean(axis=0), np.take_along_axis(tops, best, axis=0)[0], outputs[0].chunks), tokens

    def predict_files(self, paths: list[str | Path]) -> NotesPredictions:
        """Codes of every readable, non-empty UTF-8 note file; the others are listed with the reason."""
        return predictions_for_files(self, paths)


def build_notes_ensemble(member_paths: list[str | Path], out: str | Path, data: str | None = None, split: str = "dev",
                         device: str | torch.device | None = None) -> dict[str, Any]:  # fmt: skip
    """Score `split` of the members' dataset with every member and with their average, tune the average's threshold
    there (micro-F1, as each member's own), and write `out`/ensemble.json. Returns its content.

    `split` must be a split none of the members trained on: a note of it in a member's training list raises.
    """
    from medrnn.io.codiesp import read_codiesp
    from medrnn.metrics.codes import evaluate_codes, tune_threshold
    from medrnn.train.notes import gold_counts
    from medrnn.train.notes_data import label_matrix, resolve_root

    paths = [Path(p) for p in member_paths]
    members = [NotesPredictor.from_artifact(p, device=device) for p in paths]
    ensemble = NotesEnsemble(members, 0.5, paths=paths)  # checks the members line up before any scoring
    prep = members[0].metadata["preprocessing"]
    dataset = data or members[0].metadata.get("dataset") or "codiesp"
    records, _ = read_codiesp(resolve_root(dataset), splits=(split,), language=prep.get("language", "es"),
                              code_types=tuple(prep.get("code_types", ("D",))))  # fmt: skip
    if not records:
        raise ConfigError(f"{dataset}: split {split!r} has no notes to tune the ensemble's threshold on")
    ids = {r.note_id for r in records}
    for member, path in zip(members, paths):
        seen = ids & set(member.metadata.get("training_data", {}).get("items", []))
        if seen:
            raise ConfigError(f"{path}: {len(seen)} notes of split {split!r} (e.g. {sorted(seen)[0]}) were in its training data; "
                              "tune the threshold on notes no member trained on")  # fmt: skip
    texts = [r.text for r in records]
    y = label_matrix(records, ensemble.label_names)
    gold = gold_counts(records)
    member_probs = [m.predict_texts(texts)[0].probs for m in members]
    probs = np.mean(member_probs, axis=0)
    threshold = float(tune_threshold(y, probs))
    report = evaluate_codes(y, probs, ensemble.label_names, threshold, n_boot=0, gold_counts=gold)
    member_maps = [evaluate_codes(y, p, ensemble.label_names, threshold, n_boot=0).overall["map"] for p in member_probs]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT, "task": "notes", "medrnn_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "combine": "mean probability",
        "evidence": "token of the member with the highest probability for the code",
        "members": [{"path": os.path.relpath(p.resolve(), folder.resolve()), "weights_sha256": m.metadata["weights_sha256"],
                     "dev_map": mp} for p, m, mp in zip(paths, members, member_maps)],
        "threshold": threshold, "threshold_tuned_on": split, "dataset": dataset,
        "tuning": {"split": split, "documents": len(records), "map": report.overall["map"],
                   "map_all_gold": report.overall.get("map_all_gold"), "micro_f1": report.overall["micro_f1"]},
    }  # fmt: skip
    (folder / ENSEMBLE).write_text(json.dumps(meta, indent=2))
    return meta
