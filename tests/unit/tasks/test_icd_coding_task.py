"""The ICD-coding task on the contract: declarations and CLI options, reading a user's note files (byte-exact, clear
errors), pipeline state round trip, a quick real run (files, metrics, evidence) and its report sections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn.errors import InvalidRecordError
from medrnn.predict import Predictor
from medrnn.tasks.base import get_task
from medrnn.tasks.icd_coding.config import NotesRunConfig
from medrnn.tasks.icd_coding.pipeline import NotesPipeline
from medrnn.tasks.icd_coding.report import marked_snippet, notes_sections
from medrnn.tasks.icd_coding.task import IcdCodingTask

TASK = get_task("icd_coding")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_declarations_and_options_point_at_real_config_fields() -> None:
    assert isinstance(get_task("notes"), IcdCodingTask)
    assert TASK.output_kinds == ("multilabel",) and TASK.input_axes == ("token",) and TASK.default_model == "laat"
    assert TASK.split_unit.startswith("document")
    raw = NotesRunConfig().model_dump()
    flags = {o.flag for o in TASK.options}
    # the old command's own flags, and the vocabulary's privacy rule
    assert flags == {"--data", "--language", "--codes", "--window", "--embeddings", "--evidence-weight", "--min-doc-freq",
                     "--code-descriptions"}
    for option in TASK.options:
        section, leaf = option.field.split(".")
        assert leaf in raw[section], option.field
    cfg = NotesRunConfig.model_validate({"data": {"code_types": ["d", "p"]}, "train": {"evidence_weight": "0.3"}})
    assert cfg.data.code_types == ["D", "P"] and cfg.train.evidence_weight == 0.3  # as `--codes d,p --evidence-weight 0.3` arrive


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medrnn import paths
    from medrnn.train.run import run_task

    if not (paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "train").is_dir():
        pytest.skip("CodiEsp not found under the data root; run `medrnn data fetch codiesp`")
    return run_task(TASK, TASK.quick_config(), tmp_path_factory.mktemp("notes_quick"), progress=False).run_dir


def test_a_quick_run_keeps_everything_the_old_notes_run_recorded(quick_run: Path) -> None:
    for name in ("config.yaml", "metrics.json", "predictions.npz", "evidence.json", "model/artifact.json", "RUN_COMPLETE"):
        assert (quick_run / name).exists(), name
    m = json.loads((quick_run / "metrics.json").read_text())
    assert m["task"] == "icd_coding" and m["output_kind"] == "multilabel" and m["data"]["documents"] == {"train": 20, "dev": 20, "test": 20}
    assert m["threshold_tuned_on"] == "dev" and m["threshold"] == m["tuned_on_validation"]["threshold"]
    assert m["dev"]["map"] == m["tuned_on_validation"]["map"] and 0 < m["dev"]["map"] <= 1
    for key in ("map", "map_all_gold", "micro_f1", "macro_f1", "p@5"):
        assert key in m["test"]["overall"], key
    assert m["test"]["extras"]["buckets"] and m["test"]["n_boot"] == 20
    unseen = m["unseen_gold_codes"]
    assert unseen["test_share"] == unseen["test"]["unseen_share"] and 0 <= unseen["micro_recall_all_gold"] <= 1
    assert m["data"]["evidence_supervision"]["weight"] == 0.1 and m["evidence_overlap"]["gold"]["pairs"] > 0
    assert m["data"]["text"]["labels"]["count"] == len(json.loads((quick_run / "model/artifact.json").read_text())["class_names"])
    assert m["data"]["chunks"]["train"]["window"] == 300 and m["model_init"] == {"kind": "none", "dim": 16}
    pred = np.load(quick_run / "predictions.npz")
    assert pred["top_token"].shape == pred["y_score"].shape and float(pred["threshold"]) == m["threshold"]
    assert pred["note_id"].tolist() == pred["ids"].tolist()


def test_predictor_codes_note_files_as_the_run_scored_its_test_notes(quick_run: Path, tmp_path: Path) -> None:
    from medrnn import paths

    evidence = json.loads((quick_run / "evidence.json").read_text(encoding="utf-8"))
    first = evidence[0]
    note = paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "test" / "text_files" / f"{first['note_id']}.txt"
    empty, bad = tmp_path / "empty.txt", tmp_path / "latin1.txt"
    empty.write_text("  \n")
    bad.write_bytes("fiebre alta y tos".encode("utf-16"))
    result = Predictor.from_artifact(quick_run).predict([note, tmp_path / "missing.txt", empty, bad])
    assert [i.item_id for i in result.items] == [str(note)]
    assert [r["code"] for r in result.rows()] == [c["code"] for c in first["codes"]]
    text = note.read_bytes().decode("utf-8")
    for row, code in zip(result.rows(), first["codes"]):
        assert (row["start"], row["end"]) == (code["start"], code["end"]) and row["evidence"] == code["snippet"]
        assert text[row["start"] : row["end"]] == code["token"] and row["probability"] == round(code["probability"], 6)
    messages = {Path(k).name: v["message"] for k, v in result.failures.items()}
    assert "missing.txt: cannot read" in messages["missing.txt"] and "empty note" in messages["empty.txt"]
    assert "not UTF-8" in messages["latin1.txt"]
    assert result.columns == ["item_id", "code", "probability", "start", "end", "evidence", "basis"]


def test_report_sections_show_map_unseen_codes_and_escaped_evidence(quick_run: Path) -> None:
    metrics = json.loads((quick_run / "metrics.json").read_text())
    sections = TASK.report_sections(quick_run, metrics)
    titles = [s.title for s in sections]
    assert titles == ["Headline", "ICD coding: MAP", "Codes (test notes)", "Gold codes outside the label set", "Evidence (test notes)"]
    from medrnn.report.numbers import sig

    assert sig(metrics["test"]["overall"]["map_all_gold"]) in sections[1].html
    assert "<mark>" in sections[4].html or "No code at or above" in sections[4].html
    assert notes_sections(quick_run / "nothing", {}) == []


def test_snippets_are_escaped_and_the_token_marked() -> None:
    assert marked_snippet("a <b> [x&y] c", "x&y") == "a &lt;b&gt; <mark>x&amp;y</mark> c"
    assert marked_snippet("<i>", None) == "&lt;i&gt;"


def test_read_input_keeps_the_file_byte_exact(tmp_path: Path) -> None:
    note = tmp_path / "n.txt"
    note.write_bytes("Fiebre\r\n\r\nalta  ½".encode())
    from medrnn.tasks.icd_coding.predict import read_note_file

    text = read_note_file(note)
    assert text == "Fiebre\r\n\r\nalta  ½"  # no newline translation: offsets count every character
    with pytest.raises(InvalidRecordError, match="empty note"):
        (tmp_path / "e.txt").write_text("\n")
        read_note_file(tmp_path / "e.txt")


def test_pipeline_state_round_trip_and_old_artifact_keys(quick_run: Path) -> None:
    meta = json.loads((quick_run / "model" / "artifact.json").read_text())
    state = meta["preprocessing"]
    for key in ("tokenizer", "vocabulary", "window", "threshold", "threshold_tuned_on", "language", "code_types", "label_counts"):
        assert key in state, key  # the keys `medrnn train notes` wrote before the Task contract
    pipeline = TASK.pipeline_from_state(state)
    assert isinstance(pipeline, NotesPipeline) and pipeline.state_dict() == state
    assert pipeline.label_names == meta["class_names"] and pipeline.threshold == state["threshold"]
