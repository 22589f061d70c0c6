"""`medrnn pretrain icd_coding`: word2vec on the CodiEsp training notes only, written as an artifact whose embedding
`--init-from` aligns token by token into every notes model, and which a run's own word2vec does not overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn import paths
from medrnn.artifact import load_artifact, trained_on
from medrnn.data.splits import subsample_train
from medrnn.errors import ConfigError
from medrnn.io.codiesp import RELEASE_FOLDER
from medrnn.tasks.base import get_task
from medrnn.tasks.icd_coding.config import NotesRunConfig
from medrnn.tasks.icd_coding.pretrain import pretraining_corpus
from medrnn.train.transfer import apply_transfer, load_source
from medrnn.transforms.text import ClinicalTokenizer

TASK = get_task("icd_coding")
SOURCE_DOCUMENTS = 10  # fewer than the target's 20: some target tokens are not in the source (they keep their own row)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _release() -> Path:
    folder = paths.dataset_dir("codiesp") / RELEASE_FOLDER
    if not (folder / "train").is_dir():
        pytest.skip("CodiEsp not found under the data root; run `medrnn data fetch codiesp`")
    return folder


def _stems(folder: Path, limit: int | None = None) -> list[str]:
    return [p.stem for p in sorted((folder / "text_files").glob("*.txt"))][:limit]


def _config(**data: object) -> NotesRunConfig:
    raw = TASK.quick_config().model_dump()
    raw["data"].update(data)
    return NotesRunConfig.model_validate(raw)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pretraining through the CLI on the first training notes; min_doc_freq 1: every word of them is in the vocabulary."""
    from medrnn.cli.main import main

    _release()
    out = tmp_path_factory.mktemp("notes_w2v") / "w2v"
    code = main(["pretrain", "icd_coding", "--quick", "--out", str(out), "--set", f"data.documents_per_split={SOURCE_DOCUMENTS}",
                 "--set", "data.min_doc_freq=1", "--set", "pretrain.epochs=2"])  # fmt: skip
    assert code == 0
    return out


def test_the_artifact_holds_word2vec_rows_its_vocabulary_and_names_the_embedding(source: Path) -> None:
    meta = json.loads((source / "model" / "artifact.json").read_text())
    assert meta["task"] == "icd_coding" and meta["transfer"]["parameters"] == ["embedding.weight"]
    stats = meta["transfer"]["pretrain"]
    assert stats["corpus"]["split"] == "train" and stats["corpus"]["languages"] == ["es"] and stats["embedding_dim"] == 16
    model, _ = load_artifact(source / "model", device="cpu")
    weight = model.embedding.weight.detach()
    assert model.config["name"] == "laat" and tuple(weight.shape) == (stats["vocabulary_size"], 16)
    assert torch.equal(weight[0], torch.zeros(16)) and torch.isfinite(weight).all()
    assert stats["rows_from_word2vec"] == stats["vocabulary_size"] - 2  # every word; <pad> and <unk> have no vector
    tokens = TASK.pipeline_from_state(meta["preprocessing"]).tokens()
    assert tokens is not None and tokens[:2] == ["<pad>", "<unk>"] and len(tokens) == weight.shape[0]


def test_the_corpus_is_the_training_notes_and_never_a_dev_or_test_note(source: Path) -> None:
    release = _release()
    train_ids = _stems(release / "train", SOURCE_DOCUMENTS)
    held_out = set(_stems(release / "dev")) | set(_stems(release / "test"))
    meta = json.loads((source / "model" / "artifact.json").read_text())
    assert trained_on(meta, train_ids) and not trained_on(meta, [*train_ids, sorted(held_out)[0]])
    # min_doc_freq 1: the vocabulary is exactly the words of those training notes; a dev or test note's text in the
    # corpus would add its own words (CodiEsp's dev and test notes hold thousands the first training notes lack)
    notes = [release / "train" / "text_files" / f"{i}.txt" for i in train_ids]
    tokenizer = ClinicalTokenizer("es")
    train_words = {t.text for p in notes for t in tokenizer.tokenize_with_offsets(p.read_text(encoding="utf-8"))}
    vocabulary = set(TASK.pipeline_from_state(meta["preprocessing"]).tokens() or []) - {"<pad>", "<unk>"}
    assert vocabulary == train_words
    dev = release / "dev" / "text_files" / f"{_stems(release / 'dev', 1)[0]}.txt"
    assert {t.text for t in tokenizer.tokenize_with_offsets(dev.read_text(encoding="utf-8"))} - train_words  # the check can fail
    # a labelled run's --train-fraction does not shrink the corpus: every training note, the labelled share or not
    labelled_share = _config(documents_per_split=SOURCE_DOCUMENTS)
    labelled_share.train.train_fraction = 0.1
    corpus = pretraining_corpus(labelled_share)
    assert corpus.note_ids == train_ids and not set(corpus.note_ids) & held_out


def test_english_translations_join_the_corpus_only_when_asked() -> None:
    _release()
    cfg = _config(documents_per_split=3)
    both = NotesRunConfig.model_validate({**cfg.model_dump(), "pretrain": {"languages": ["es", "en"], "epochs": 1}})
    spanish, mixed = pretraining_corpus(cfg), pretraining_corpus(both)
    assert spanish.info["languages"] == ["es"] and spanish.info["texts"] == 3
    assert mixed.note_ids == spanish.note_ids and mixed.info["texts"] == 6  # one note, two versions; counted once
    assert len(mixed.by_note) == 3 and sum(map(len, mixed.by_note)) == mixed.info["tokens"]
    assert "the" in {t for text in mixed.texts for t in text} and "the" not in {t for text in spanish.texts for t in text}
    with pytest.raises(ValueError, match="at most once"):
        NotesRunConfig.model_validate({"pretrain": {"languages": ["es", "es"]}})


@pytest.fixture(scope="module")
def target_data() -> tuple[NotesRunConfig, object]:
    _release()
    cfg = _config(min_doc_freq=2)  # the quick config (20 notes a split); words of 2 notes, so some are not in the source's 10
    return cfg, TASK.load(cfg)


def _target(cfg: NotesRunConfig, data: object, **updates: object) -> tuple[object, object, object]:
    """Model and pipeline as `fit_task` builds them (half the training notes labelled), before and after `--init-from`,
    with the run's own vocabulary (as with a source that tokenizes otherwise): the rows must be aligned token by token."""
    from medrnn.tasks.icd_coding.pipeline import NotesPipeline

    split = subsample_train(TASK.split(data, cfg), cfg.train.train_fraction, cfg.train.seed)
    pipeline = NotesPipeline.fit(TASK.subset(data, split.train), cfg.data)
    torch.manual_seed(0)
    model, _ = TASK.build_model(data, split, pipeline, cfg)
    before = model.embedding.weight.detach().clone()
    report, _ = apply_transfer(model, cfg.train, pipeline)
    return model, pipeline, (before, report)


@pytest.mark.parametrize("name", ["laat", "caml", "bigru_maxpool"])
@pytest.mark.parametrize("embeddings", ["none", "word2vec"])
def test_init_from_copies_the_rows_of_shared_tokens_into_every_notes_model(source: Path, target_data: tuple, name: str,
                                                                           embeddings: str) -> None:  # fmt: skip
    base, data = target_data
    raw = base.model_dump()
    raw["model"]["name"] = name  # the source is a laat: only its embedding moves, so any notes model takes it
    if name != "laat":
        raw["model"]["attention_size"] = 128  # laat's field, left at its default for the others
    raw["data"]["embeddings"] = embeddings  # the run's own word2vec comes first; the transferred rows replace its rows
    raw["train"].update({"init_from": str(source), "train_fraction": 0.5})
    model, pipeline, (before, report) = _target(NotesRunConfig.model_validate(raw), data)
    state, _, source_tokens = load_source(source)
    where = {t: i for i, t in enumerate(source_tokens)}
    target_tokens = pipeline.tokens()
    shared = [t for t in target_tokens if t in where]
    fresh = [t for t in target_tokens if t not in where]
    assert report["embedding_rows"] == {"shared_tokens": len(shared), "target_tokens": len(target_tokens)}
    assert target_tokens != source_tokens[: len(target_tokens)]  # two vocabularies, two orders: the rows must be aligned
    weight = model.embedding.weight.detach()
    for token in [*shared[2:6], "paciente", "dolor"]:
        assert torch.equal(weight[target_tokens.index(token)], state["embedding.weight"][where[token]]), token
    assert fresh and all(torch.equal(weight[target_tokens.index(t)], before[target_tokens.index(t)]) for t in fresh)
    assert report["parameters"] == 1  # only the embedding moves; the encoder and head start fresh


def test_a_whole_run_trains_from_the_transferred_rows(source: Path, target_data: tuple, tmp_path: Path) -> None:
    """Through `fit_task` (word2vec on, frontend frozen): after training, the shared rows are still the source's."""
    from medrnn.train.run import fit_task

    base, data = target_data
    raw = base.model_dump()
    raw["data"]["embeddings"] = "word2vec"  # the run's own word2vec first; the transferred rows then replace its shared rows
    raw["train"].update({"init_from": str(source), "freeze": "frontend", "train_fraction": 0.5})
    fitted = fit_task(TASK, NotesRunConfig.model_validate(raw), tmp_path / "run", data=data)
    state, _, source_tokens = load_source(source)
    weight, tokens = fitted.model.embedding.weight.detach(), fitted.pipeline.tokens()
    rows = [(tokens.index(t), source_tokens.index(t)) for t in tokens[2:] if t in source_tokens]
    assert rows and all(torch.equal(weight[j], state["embedding.weight"][i]) for j, i in rows)
    # the run reads with the source's vocabulary (every pretraining note's words), not only its labelled half's
    assert tokens == source_tokens
    assert fitted.model_init["trained_on"] == "train" and fitted.model_init["transfer"]["source_task"] == "icd_coding"


def test_an_embedding_of_another_width_is_refused(source: Path, target_data: tuple) -> None:
    base, data = target_data
    raw = base.model_dump()
    raw["data"].update({"embedding_dim": 8, "embeddings": "none"})
    raw["train"]["init_from"] = str(source)
    with pytest.raises(ConfigError, match="embedding width is 16 there and 8 here"):
        _target(NotesRunConfig.model_validate(raw), data)


def test_pretraining_is_reproducible(tmp_path: Path) -> None:
    _release()
    cfg = _config(documents_per_split=5, min_doc_freq=1)
    first, second = (TASK.pretrain(cfg, tmp_path / name) for name in ("a", "b"))
    assert first["vocabulary_size"] == second["vocabulary_size"] > 2
    a, _ = load_artifact(tmp_path / "a" / "model", device="cpu")
    b, _ = load_artifact(tmp_path / "b" / "model", device="cpu")
    assert torch.equal(a.embedding.weight, b.embedding.weight)
    assert np.isfinite(first["seconds"])
