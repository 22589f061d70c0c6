"""ICD coding (notes) pipeline: windows cover every token once, document score = max over windows, fitting sees train only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrnn.data.batch import collate
from medrnn.models import create_model
from medrnn.records import NoteRecord
from medrnn.tasks.base import TaskData, get_task
from medrnn.tasks.icd_coding.config import NotesRunConfig
from medrnn.tasks.icd_coding.data import fit_labels, label_matrix, notes_task_data, train_word2vec, unseen_gold
from medrnn.tasks.icd_coding.pipeline import NotesPipeline
from medrnn.tasks.icd_coding.predict import chunk_dataset, evidence, score_documents


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # the CI machine's cores run benchmarks beside the tests


def _note(note_id: str, text: str, codes: tuple[str, ...], split: str) -> NoteRecord:
    return NoteRecord(note_id=note_id, text=text, language="es", codes=codes, code_types=("D",) * len(codes), split=split)


TASK = get_task("icd_coding")
CONFIG = NotesRunConfig.model_validate({"data": {"embeddings": "none", "min_doc_freq": 1}})  # three training notes: keep every word


def prepare(records: list[NoteRecord]) -> tuple[TaskData, NotesPipeline]:
    """Records -> samples by official split -> pipeline fitted on train (what a run does before the model)."""
    data = notes_task_data(records, "es")
    return data, TASK.fit_pipeline(data, TASK.split(data, CONFIG), CONFIG)


NOTES = [
    _note("a", "Paciente con fiebre y tos. Dolor torácico.", ("R50.9", "R05"), "train"),
    _note("b", "Fiebre alta, tos seca; neumonía bilateral.", ("R50.9", "J18.9"), "train"),
    _note("c", "Sin fiebre. Dolor abdominal agudo.", ("R10.0", "R05"), "train"),
    _note("d", "Tos persistente y hemoptisis.", ("R05", "R04.2"), "dev"),
    _note("e", "Fiebre y taquicardia sinusal.", ("R50.9", "R00.0"), "test"),
    _note("f", "", (), "test"),
]


def test_windows_cover_every_token_exactly_once() -> None:
    rng = np.random.default_rng(0)
    ids = [rng.integers(2, 50, size=n) for n in (1, 7, 8, 9, 23, 0)]
    dataset, chunks, report = chunk_dataset(ids, np.eye(6, 3, dtype=np.float32), window=8, num_classes=3)
    assert report.n_documents == 6 and report.n_chunked_documents == 2 and report.n_truncated_tokens == 0
    for d, doc in enumerate(ids):
        rows = np.flatnonzero(chunks.document == d)
        assert np.array_equal(chunks.start[rows][1:], chunks.end[rows][:-1])  # consecutive, no overlap, no gap
        if len(doc):
            assert chunks.start[rows][0] == 0 and chunks.end[rows][-1] == len(doc)
            assert np.array_equal(torch.cat([dataset.x[int(i)] for i in rows]).numpy(), doc)
        else:
            assert [dataset.x[int(i)].tolist() for i in rows] == [[1]]  # an empty note is read as one <unk>
        assert all(len(dataset.x[int(i)]) <= 8 for i in rows)
        assert all(np.array_equal(dataset.y[int(i)].numpy(), np.eye(6, 3)[d]) for i in rows)  # the note's labels


@pytest.mark.parametrize("name", ["caml", "laat"])
def test_document_score_is_the_max_over_its_windows(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(
        name, vocab_size=40, num_classes=5, embedding_dim=8, hidden_size=6, **({"attention_size": 4} if name == "laat" else {})
    )
    model.eval()
    rng = np.random.default_rng(1)
    ids = [rng.integers(2, 40, size=n) for n in (25, 3, 10, 11)]
    scores = score_documents(model, ids, window=10, num_classes=5, batch_size=3)
    dataset, chunks, _ = chunk_dataset(ids, None, 10, 5)
    with torch.no_grad():
        per_window = [model(collate([dataset[i]])) for i in range(len(dataset))]
    probs = np.stack([torch.sigmoid(o.logits[0].double()).numpy() for o in per_window])
    for d in range(len(ids)):
        rows = np.flatnonzero(chunks.document == d)
        np.testing.assert_allclose(scores.probs[d], probs[rows].max(axis=0), rtol=1e-6)
        best = rows[probs[rows].argmax(axis=0)]  # per label: the window that gave the score
        attended = [int(chunks.start[b]) + int(per_window[b].attention[0, c].argmax()) for c, b in enumerate(best)]
        assert scores.top_token[d].tolist() == attended
    assert scores.chunks.n_chunks == 7 and scores.chunks.n_chunked_documents == 2


def test_vocabulary_and_labels_are_fitted_on_train_only() -> None:
    data, pipeline = prepare(NOTES)
    split = TASK.split(data, CONFIG)
    assert [len(p) for p in split] == [3, 1, 2] and data.ids == ["a", "b", "c", "d", "e", "f"]
    assert pipeline.label_names == ["J18.9", "R05", "R10.0", "R50.9"]  # R04.2 (dev) and R00.0 (test) are not labels
    assert pipeline.label_counts.tolist() == [1, 2, 1, 2]
    vocab = pipeline.vocab
    assert "hemoptisis" not in vocab.index_ and "taquicardia" not in vocab.index_ and "fiebre" in vocab.index_
    text = data.info["text"]
    assert text["unknown_tokens"]["train"] == 0 and text["unknown_tokens"]["test"] > 0
    unseen = unseen_gold(TASK.subset(data, split.test).records, pipeline.label_names)
    assert (unseen["gold_pairs"], unseen["unseen_pairs"], unseen["unseen_codes"]) == (2, 1, 1) and unseen["unseen_share"] == 0.5
    assert unseen_gold(TASK.subset(data, split.val).records, pipeline.label_names)["unseen_pairs"] == 1
    assert TASK.targets(data, split.test, pipeline).tolist() == [[0, 0, 0, 1], [0, 0, 0, 0]] and text["empty_documents"]["test"] == 1
    wild = [*NOTES[:3], *(_note(n.note_id, n.text + " xenófobo", ("Z99.9",), n.split) for n in NOTES[3:])]
    _, again = prepare(wild)
    assert again.vocab.tokens_ == vocab.tokens_ and again.label_names == pipeline.label_names


def test_every_official_split_is_needed() -> None:
    from medrnn.errors import ConfigError

    with pytest.raises(ConfigError, match="no dev documents in 'here'"):
        notes_task_data([n for n in NOTES if n.split != "dev"], "es", "here")


def test_min_label_count_drops_rare_codes_and_counts_them() -> None:
    names, counts, dropped = fit_labels([n for n in NOTES if n.split == "train"], min_count=2)
    assert names == ["R05", "R50.9"] and counts.tolist() == [2, 2] and dropped == {"J18.9": 1, "R10.0": 1}
    assert label_matrix(NOTES[:2], names).tolist() == [[1, 1], [0, 1]]


def test_word2vec_is_trained_on_train_tokens_and_reproducible() -> None:
    pytest.importorskip("gensim")
    data, pipeline = prepare(NOTES)
    texts = TASK.subset(data, TASK.split(data, CONFIG).train).token_texts()
    first, found = train_word2vec(texts, pipeline.vocab, 16, seed=3, epochs=2)
    second, _ = train_word2vec(texts, pipeline.vocab, 16, seed=3, epochs=2)
    assert first.shape == (len(pipeline.vocab), 16) and first.dtype == np.float32 and not first[0].any()
    assert found == len(pipeline.vocab) - 2  # every kept token but <pad> and <unk>
    np.testing.assert_array_equal(first, second)


def test_evidence_points_at_the_attended_token() -> None:
    text = "Paciente con fiebre alta."
    data, _ = prepare([_note("x" + s, text, ("R50.9",), s) for s in ("train", "dev", "test")])
    tokens = data.samples.tokens[0]
    ev = evidence(text, tokens, 2)
    assert text[ev["start"] : ev["end"]] == ev["token"] == "fiebre" and "[fiebre]" in ev["snippet"]
    assert evidence(text, tokens, -1)["start"] is None


def test_evidence_overlap_counts_top_tokens_inside_gold_spans() -> None:
    from medrnn.tasks.icd_coding.outputs import evidence_overlap

    text = "Paciente con fiebre alta y tos."  # gold evidence of R50.9: "fiebre alta" (13-24); of R05: "tos" (27-30)
    test = NoteRecord("t", text, "es", ("R50.9", "R05"), ("D", "D"), (("R50.9", 13, 24), ("R05", 27, 30)), "test")
    data, pipeline = prepare([*NOTES[:4], test])
    index = {c: i for i, c in enumerate(pipeline.label_names)}
    top = np.zeros((1, len(index)), dtype=np.int64)
    top[0, index["R50.9"]], top[0, index["R05"]] = 3, 1  # "alta" (inside its span), "con" (outside)
    probs = np.zeros((1, len(index)))
    probs[0, index["R50.9"]] = 0.9  # only R50.9 is predicted
    notes = TASK.subset(data, TASK.split(data, CONFIG).test)
    result = evidence_overlap(notes, pipeline.label_names, probs, top, threshold=0.5)
    assert result["predicted"] == {"rate": 1.0, "hits": 1, "pairs": 1}
    assert result["gold"] == {"rate": 0.5, "hits": 1, "pairs": 2}
