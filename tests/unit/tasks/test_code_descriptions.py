"""Codes outside the label set ranked from their code-book titles: catalogue readers, the matcher, its dev calibration,
MAP split into seen and unseen gold codes, the ensemble's own calibration, and a quick CodiEsp run that serves them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from medrnn.io.icd_descriptions import catalogue_language, read_code_descriptions
from medrnn.errors import ConfigError
from medrnn.report.numbers import sig
from medrnn.tasks.base import get_task
from medrnn.tasks.icd_coding.config import NotesDataConfig
from medrnn.tasks.icd_coding.descriptions import FEATURES, DescriptionRanker, TitleStemmer, map_by_kind, ranked_with_descriptions

STEM = TitleStemmer("es")
TITLES = {"I82.90": "Trombosis venosa", "K35.80": "Apendicitis aguda", "E11.9": "Diabetes mellitus tipo 2"}
LABELS = ["I82.91", "R50.9"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _ranker() -> DescriptionRanker:
    titles = [STEM.stems(t) for t in TITLES.values()]
    idf = {s: 1.0 + i / 10 for i, s in enumerate(sorted({s for t in titles for s in t}))}
    return DescriptionRanker("cie10-es", list(TITLES), titles, idf, {"I82": 4, "I82.9": 4, "R50": 2, "R50.9": 2}, LABELS, top_k=2)


def _dev() -> tuple[list[str], list[set[str]], np.ndarray]:
    texts = ["Trombosis venosa profunda en la pierna.", "Apendicitis aguda operada.", "Dolor agudo sin apendicitis previa.",
             "Trombosis arterial.", "Diabetes mellitus tipo 2 mal controlada.", "Fiebre, diabetes materna."] * 3  # fmt: skip
    gold = [{"I82.90"}, {"K35.80"}, set(), set(), {"E11.9"}, set()] * 3
    return texts, gold, np.full((len(texts), len(LABELS)), 0.1)


def test_catalogues_give_dotted_codes_with_titles_and_no_ranges() -> None:
    es, en = read_code_descriptions("cie10-es"), read_code_descriptions("icd10cm-en")
    assert len(es) > 10_000 and len(en) > 90_000
    assert "W23.1" in es and "W231" not in es and all("-" not in c for c in es)
    assert en["I82.90"] == "Acute embolism and thrombosis of unspecified vein" and en["R52"] == "Pain, unspecified"
    assert catalogue_language("cie10-es") == "es" and catalogue_language("icd10cm-en") == "en"
    with pytest.raises(ConfigError, match="expected one of"):
        read_code_descriptions("snomed")


def test_the_catalogue_must_speak_the_notes_language() -> None:
    with pytest.raises(ValidationError, match="cie10-es.*'es' titles but the notes are read in 'en'.*icd10cm-en"):
        NotesDataConfig(language="en", code_descriptions="cie10-es")
    assert NotesDataConfig(language="en", code_descriptions="icd10cm-en").code_descriptions == "icd10cm-en"


def test_fit_leaves_out_the_label_set_and_keeps_no_note_word_outside_the_titles() -> None:
    ranker = DescriptionRanker.fit("cie10-es", ["Paciente Zubizarreta con dolor y fiebre."], ["R52", "R50.9"], np.array([1, 1]))
    assert "R52" not in ranker.codes and "R50.9" not in ranker.codes and "R10.4" in ranker.codes
    title_stems = {s for t in ranker.titles for s in t}
    assert set(ranker.idf) == title_stems and STEM.stems("Zubizarreta")[0] not in ranker.idf  # privacy: titles' words only
    assert ranker.idf[STEM.stems("dolor")[0]] < ranker.idf[STEM.stems("fractura")[0]]  # a word of the notes weighs less


def test_candidates_features_and_evidence_point_at_the_matched_word() -> None:
    ranker = _ranker()
    text = "Ingresa por trombosis venosa y fiebre."
    probs = np.array([0.8, 0.3])  # the coder's probabilities of I82.91 (a sibling of I82.90) and R50.9
    index, x, spans = ranker.candidates(text, probs)
    assert [ranker.codes[i] for i in index] == ["I82.90"] and x.shape == (1, len(FEATURES))
    f = dict(zip(FEATURES, x[0]))
    assert f["coverage"] == 1.0 and f["all_found"] == 1.0 and f["adjacent_pairs"] == 1.0
    assert f["category_probability"] == 0.8 and f["parent_probability"] == 0.8 and f["log_category_pairs"] == pytest.approx(np.log(5))
    assert text[spans[0, 0] : spans[0, 1]] in ("trombosis", "venosa")


def test_calibrated_on_dev_it_ranks_the_described_code_and_round_trips() -> None:
    ranker = _ranker()
    with pytest.raises(ConfigError, match="not calibrated"):
        ranker.score(["Trombosis venosa."], np.zeros((1, 2)))
    texts, gold, probs = _dev()
    info = ranker.calibrate(texts, gold, probs)
    assert info["calibrated"] and info["on"] == "dev" and info["notes"] == 18 and info["positive_pairs"] == 9
    notes = ["Tiene apendicitis aguda.", "Nada que ver."]
    scored = ranker.score(notes, np.full((2, 2), 0.1))
    assert ranker.codes[scored.code[0, 0]] == "K35.80" and scored.probability[0, 0] > 0.5
    assert (scored.code[1] == -1).all() and (scored.probability[1] == 0).all()
    again = DescriptionRanker.from_state_dict(json.loads(json.dumps(ranker.state_dict())))
    np.testing.assert_array_equal(again.score(notes, np.full((2, 2), 0.1)).probability, scored.probability)
    lonely = _ranker()
    assert lonely.calibrate(texts[:1], [set()], probs[:1])["calibrated"] is False and lonely.coef is None  # says why, stays off


def test_map_splits_into_seen_and_unseen_gold_codes() -> None:
    probs = np.array([[0.9, 0.7]])  # labels A, B
    ranker = _ranker()
    from medrnn.tasks.icd_coding.descriptions import DescribedScores

    described = DescribedScores(np.array([[0, -1]], np.int32), np.array([[0.8, 0.0]], np.float32), np.zeros((1, 2), np.int32),
                                np.zeros((1, 2), np.int32))  # fmt: skip
    ranking = ranked_with_descriptions(probs, ["A", "B"], described, ranker)
    assert [c for c, _ in ranking[0]] == ["A", "I82.90", "B"]
    # gold: A (rank 1, precision 1), I82.90 (rank 2, precision 2/2), C never ranked (0)
    maps = map_by_kind(ranking, [{"A", "I82.90", "C"}], ["A", "B"])
    assert maps == {"map_all_gold": pytest.approx(2 / 3), "map_seen": 1.0, "map_unseen": pytest.approx(0.5)}
    assert map_by_kind(ranked_with_descriptions(probs, ["A", "B"], None, None), [{"A", "I82.90", "C"}], ["A", "B"])["map_unseen"] == 0.0


def test_an_ensemble_keeps_its_own_calibration_and_leaves_the_members_alone() -> None:
    from medrnn.tasks.icd_coding.pipeline import NotesPipeline
    from medrnn.transforms.text import ClinicalTokenizer, TextVocabulary

    ranker = _ranker()
    ranker.calibrate(*_dev())
    member = NotesPipeline(ClinicalTokenizer("es"), TextVocabulary(), LABELS, np.array([4, 2]), 10, ["D"], descriptions=ranker)
    state = member.tuned_state()
    assert state["descriptions_calibration"]["coef"] == ranker.coef
    other = copy.copy(member)
    other.load_tuned_state({"descriptions_calibration": {"coef": [0.0] * len(FEATURES), "intercept": -1.0, "calibration": {}}})
    assert other.descriptions is not ranker and other.descriptions.intercept == -1.0 and member.descriptions.coef == ranker.coef


@pytest.fixture(scope="module")
def described_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The task's quick config (20 real CodiEsp notes per split, one epoch) with the Spanish titles."""
    from medrnn import paths
    from medrnn.train.run import run_task

    if not (paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "train").is_dir():
        pytest.skip("CodiEsp not found under the data root; run `medrnn data fetch codiesp`")
    task = get_task("notes")
    cfg = task.quick_config().model_copy(deep=True)
    cfg.data.code_descriptions = "cie10-es"
    return run_task(task, cfg, tmp_path_factory.mktemp("notes_titles"), progress=False).run_dir


def test_a_run_reports_seen_and_unseen_map_and_predict_serves_described_codes(described_run: Path) -> None:
    from medrnn import paths
    from medrnn.predict import Predictor

    m = json.loads((described_run / "metrics.json").read_text())
    overall, tuned = m["test"]["overall"], m["tuned_on_validation"]["code_descriptions"]
    assert tuned["calibrated"] and tuned["notes"] == 20 and tuned["on"] == "dev"
    for key in ("map_all_gold", "map_seen", "map_unseen", "map_all_gold_labels_only"):
        assert 0 <= overall[key] <= 1, key
    assert overall["map_seen_labels_only"] == pytest.approx(overall["map"])  # without titles, seen gold = the label set's MAP
    section = next(x for x in get_task("notes").report_sections(described_run, m) if x.title == "ICD coding: MAP")
    assert "never seen (ranked from their titles)" in section.html and sig(overall["map_unseen"], 3) in section.html
    predictor = Predictor.from_artifact(described_run)
    predictor.pipeline.threshold = 0.0  # every ranked code, to see the described ones
    note = next((paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "test" / "text_files").glob("*.txt"))
    result = predictor.predict([note])
    assert result.columns[:7] == ["item_id", "code", "probability", "start", "end", "evidence", "basis"]
    described = [r for r in result.rows() if r["basis"] == "description"]
    assert described and not {r["code"] for r in described} & set(predictor.label_names)
    text = note.read_bytes().decode("utf-8")
    titles = read_code_descriptions("cie10-es")
    for row in described:
        assert STEM.stems(text[row["start"] : row["end"]])[0] in STEM.stems(titles[row["code"]])  # evidence: a title word
