"""Ensemble members must line up: same label columns, same tokenizer (evidence offsets), at least two of them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from medrnn.ensemble_notes import NotesEnsemble, is_ensemble
from medrnn.errors import ArtifactError, ConfigError
from medrnn.predict_notes import DocumentScores
from medrnn.transforms.text import ChunkReport, ClinicalTokenizer


def _member(labels: list[str], language: str = "es", probs: np.ndarray | None = None, top: np.ndarray | None = None) -> SimpleNamespace:
    scores = DocumentScores(probs, top, ChunkReport(window=10, stride=10)) if probs is not None else None
    tokenizer = ClinicalTokenizer(language)
    return SimpleNamespace(label_names=labels, tokenizer=tokenizer,
                           predict_texts=lambda texts: (scores, [tokenizer.tokenize_with_offsets(t) for t in texts]))


def test_members_with_other_labels_or_language_are_refused() -> None:
    with pytest.raises(ArtifactError, match="class_names.*e.g. \\['c'\\]"):
        NotesEnsemble([_member(["a", "b"]), _member(["a", "b", "c"])], 0.5, paths=[Path("m0"), Path("m1")])
    with pytest.raises(ArtifactError, match="tokenizer"):
        NotesEnsemble([_member(["a"]), _member(["a"], language="en")], 0.5)
    with pytest.raises(ConfigError, match="two or more"):
        NotesEnsemble([_member(["a"])], 0.5)


def test_mean_probability_and_evidence_of_the_most_confident_member() -> None:
    p0, p1 = np.array([[0.9, 0.2]]), np.array([[0.5, 0.6]])
    t0, t1 = np.array([[3, 4]]), np.array([[7, 8]])
    ens = NotesEnsemble([_member(["a", "b"], probs=p0, top=t0), _member(["a", "b"], probs=p1, top=t1)], 0.5)
    scores, tokens = ens.predict_texts(["fiebre alta"])
    np.testing.assert_allclose(scores.probs, [[0.7, 0.4]])
    np.testing.assert_array_equal(scores.top_token, [[3, 8]])  # code a from member 0 (0.9), code b from member 1 (0.6)
    assert [t.text for t in tokens[0]] == ["fiebre", "alta"]


def test_is_ensemble_looks_for_ensemble_json(tmp_path: Path) -> None:
    assert not is_ensemble(tmp_path)
    (tmp_path / "ensemble.json").write_text("{}")
    assert is_ensemble(tmp_path)
    with pytest.raises(ArtifactError, match="format"):
        NotesEnsemble.from_path(tmp_path)


def test_a_malformed_ensemble_file_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "ensemble.json").write_text('{"format": "medrnn-ensemble", "task": "notes", "members": [{"path": "m"}], "threshold": 2}')
    with pytest.raises(ArtifactError, match="'threshold'"):
        NotesEnsemble.from_path(tmp_path)
    (tmp_path / "ensemble.json").write_text('{"format": "medrnn-ensemble", "task": "notes", "members": "m", "threshold": 0.3}')
    with pytest.raises(ArtifactError, match="'members'"):
        NotesEnsemble.from_path(tmp_path)
