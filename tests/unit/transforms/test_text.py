"""Clinical tokenizer offsets, the train-only text vocabulary, chunking without silent truncation, and ICD spelling."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from medrnn.errors import ConfigError, InvalidRecordError, NotFittedError, ShapeError
from medrnn.records import NoteRecord
from medrnn.transforms.icd import icd9_with_dot, icd10_with_dot, icd_with_dot, normalise_icd10
from medrnn.transforms.text import ClinicalTokenizer, TextVocabulary, chunk, chunk_documents, merge_chunk_outputs

SPANISH = "Varón de 45 años, p.ej. glucemia 120 mg/dl; ¿dolor torácico? Dx: I82.90 (trombosis)\n\tTAC: 3,5 cm."


def test_offsets_map_back_to_the_exact_substring() -> None:
    tokens = ClinicalTokenizer("es").tokenize_with_offsets(SPANISH)
    assert all(SPANISH[t.start : t.end].lower() == t.text for t in tokens)
    assert [t.text for t in tokens][:12] == ["varón", "de", "45", "años", ",", "p", ".", "ej", ".", "glucemia", "120", "mg"]
    texts = [t.text for t in tokens]
    for piece in (["mg", "/", "dl"], ["¿", "dolor", "torácico", "?"], ["i", "82", ".", "90"], ["3", ",", "5", "cm", "."]):
        assert any(texts[i : i + len(piece)] == piece for i in range(len(texts))), piece
    assert all(not t.text.isspace() and t.text for t in tokens)


def test_normalisation_keeps_accents_and_original_offsets() -> None:
    decomposed = unicodedata.normalize("NFD", "Próstata ﬁebre")  # "o" + combining accent; the "ﬁ" ligature
    tokens = ClinicalTokenizer("es").tokenize_with_offsets(decomposed)
    assert [t.text for t in tokens] == ["próstata", "fiebre"]
    assert [decomposed[t.start : t.end] for t in tokens] == [decomposed[:9], decomposed[10:]]
    assert ClinicalTokenizer("en", lowercase=False).tokenize("Chest X-ray") == ["Chest", "X", "-", "ray"]


def test_tokenizer_language_and_state() -> None:
    tok = ClinicalTokenizer("en")
    with pytest.raises(ConfigError, match="is in 'es'"):
        tok.tokenize_record(NoteRecord("n1", "Dolor.", "es"))
    assert [t.text for t in tok.tokenize_record(NoteRecord("n2", "Pain.", "en"))] == ["pain", "."]
    assert ClinicalTokenizer.from_state_dict(tok.state_dict()).state_dict() == {"language": "en", "lowercase": True}
    with pytest.raises(ConfigError, match="language 'de'"):
        ClinicalTokenizer("de")
    with pytest.raises(InvalidRecordError):
        tok.tokenize_with_offsets(None)  # type: ignore[arg-type]


def test_vocabulary_fitted_on_train_only() -> None:
    tok = ClinicalTokenizer("es")
    train = [tok.tokenize("fiebre y tos"), tok.tokenize("fiebre alta")]
    test = tok.tokenize("fiebre y disnea")
    vocab = TextVocabulary().fit(train)
    assert vocab.decode([0, 1]) == ["<pad>", "<unk>"] and vocab.decode([2]) == ["fiebre"]  # most frequent first
    ids, n_unknown = vocab.encode(test)
    assert n_unknown == 1 and ids.tolist() == [2, vocab.index_["y"], 1] and ids.dtype == np.int64
    assert vocab.unknown_tokens([test]) == {"disnea": 1}
    restored = TextVocabulary.from_state_dict(vocab.state_dict())
    assert restored.tokens_ == vocab.tokens_ and restored.encode(test)[0].tolist() == ids.tolist()
    assert all(isinstance(v, (list, int, type(None))) for v in vocab.state_dict().values())


def test_vocabulary_min_count_max_size_and_errors() -> None:
    vocab = TextVocabulary(min_count=2, max_size=1).fit([["a", "a", "a", "b", "b", "c"]])
    assert vocab.tokens_ == ["<pad>", "<unk>", "a"] and vocab.n_train_unknown_ == 3
    with pytest.raises(NotFittedError):
        TextVocabulary().encode(["a"])
    with pytest.raises(InvalidRecordError, match="first tokens"):
        TextVocabulary.from_state_dict({"tokens": ["a", "<pad>"]})


@pytest.mark.parametrize("window", [1, 2, 3, 7, 16, 50])
def test_chunks_cover_every_token_exactly_once(window: int) -> None:
    for n in range(0, 120):
        windows = chunk(np.arange(n), window)
        covered = np.zeros(n, dtype=np.int64)
        for start, end in windows:
            assert 0 <= start <= end <= n and end - start <= window
            covered[start:end] += 1
        assert (covered == 1).all() and len(windows) == max(1, -(-n // window))
        for stride in range(1, window):  # overlapping mode (stride < window): every token at least once, full windows, none past the end
            over = chunk(n, window, stride)
            seen = np.zeros(n, dtype=np.int64)
            for start, end in over:
                assert end - start == min(window, n)
                seen[start:end] += 1
            assert (seen >= 1).all()


def test_chunk_documents_counts_and_merge_by_max() -> None:
    chunks, report = chunk_documents([3, 10, 0], window=4)
    assert chunks.document.tolist() == [0, 1, 1, 1, 2] and chunks.end.tolist() == [3, 4, 8, 10, 0]
    assert (report.n_documents, report.n_chunks, report.n_chunked_documents, report.max_chunks_per_document) == (3, 5, 1, 3)
    assert report.n_truncated_documents == 0
    scores = np.array([[0.1, 0.9], [0.2, 0.1], [0.7, 0.3], [0.4, 0.2], [0.0, 0.0]])
    assert merge_chunk_outputs(scores, chunks.document).tolist() == [[0.1, 0.9], [0.7, 0.3], [0.0, 0.0]]
    _, cut = chunk_documents([3, 10], window=4, max_chunks=2)
    assert (cut.n_truncated_documents, cut.n_truncated_tokens) == (1, 2)
    with pytest.raises(ConfigError, match="stride <= window"):
        chunk(10, 4, stride=5)
    with pytest.raises(ShapeError, match="no chunk output"):
        merge_chunk_outputs(scores[:1], np.array([0]), n_documents=2)


def test_icd_helpers() -> None:
    assert [normalise_icd10(c) for c in ("r52", " i82.90 ", "bw03zzz")] == ["R52", "I82.90", "BW03ZZZ"]
    for bad in ("", "i82..9", "i82 90", ".r52"):
        with pytest.raises(InvalidRecordError):
            normalise_icd10(bad)
    assert [icd9_with_dot(c, "D") for c in ("4019", "25000", "E8809", "V707", "042", "E849")] == [
        "401.9",
        "250.00",
        "E880.9",
        "V70.7",
        "042",
        "E849",
    ]
    assert [icd9_with_dot(c, "P") for c in ("9604", "3893", "00.01")] == ["96.04", "38.93", "00.01"]
    assert (icd10_with_dot("I8290", "D"), icd10_with_dot("R52", "D"), icd10_with_dot("0DTJ4ZZ", "P")) == ("I82.90", "R52", "0DTJ4ZZ")
    assert icd_with_dot("5A1955Z", "P", 10) == "5A1955Z"
    with pytest.raises(ConfigError, match="code kind"):
        icd9_with_dot("4019", "X")
    with pytest.raises(InvalidRecordError, match="ICD version"):
        icd_with_dot("4019", "D", 11)
