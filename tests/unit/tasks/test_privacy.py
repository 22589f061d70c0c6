"""Nothing lost, nothing leaked: what a task puts into the model artifact and the log holds no patient identifier, free-text
vocabularies keep only words of several training documents, and prediction outputs name each input exactly as given.

Quick real runs (small subsets of CodiEsp, PhysioNet 2012 set A and the MIMIC-IV demo) go through `run_task`; every
training id (note ids = file stems, RecordIDs, subject_id / hadm_id) is then looked for in the pipeline state and in
every file of RUN/model, artifact.json whole (its `training_data` is a salted hash and a count).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from medrnn import paths
from medrnn.predict import Predictor
from medrnn.records import NoteRecord
from medrnn.tasks.base import Task, TaskData, get_task
from medrnn.tasks.icd_coding.config import NotesDataConfig
from medrnn.tasks.icd_coding.data import NoteSet, fit_vocabulary
from medrnn.tasks.icd_coding.pipeline import NotesPipeline
from medrnn.train.run import run_task
from medrnn.transforms.text import ClinicalTokenizer

ICU_STAYS = 100  # set-A stays in the ICU subset (the first files), beside one descriptors-only stay and one corrupt file
DESCRIPTORS_ONLY = "140501"  # a set-A stay without any time series: excluded from training, and counted
CORRUPT = "999999"


# ---- searching for ids ---------------------------------------------------------------------------------------------
def id_pattern(ids: Iterable[str]) -> re.Pattern[bytes]:
    """Any of `ids` as a whole token: 132539 must not match inside 0.1325398 or 11325390, S0004-...-1 anywhere."""
    alternatives = sorted({re.escape(str(i)) for i in ids}, key=len, reverse=True)
    return re.compile(rb"(?<![0-9A-Za-z])(?:" + "|".join(alternatives).encode() + rb")(?![0-9A-Za-z])")


def json_leaks(value: Any, pattern: re.Pattern[bytes], where: str = "") -> Iterator[str]:
    """Paths of the JSON strings (keys and values) and integers of `value` that hold an id (floats cannot be ids)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_leaks(str(key), pattern, f"{where}/<key>")
            yield from json_leaks(item, pattern, f"{where}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from json_leaks(item, pattern, f"{where}[{i}]")
    elif isinstance(value, (str, int)) and not isinstance(value, bool) and pattern.search(str(value).encode()):
        yield f"{where}: {str(value)[:80]!r}"


def file_leaks(path: Path, pattern: re.Pattern[bytes]) -> list[str]:
    """Where a file of an artifact folder holds an id: JSON walked, safetensors
    by its header's strings and its raw tensor bytes, anything else as bytes."""
    raw = path.read_bytes()
    if path.suffix == ".json":
        meta = json.loads(raw)
        return [f"{path.name}{leak}" for leak in json_leaks(meta, pattern)]
    if path.suffix == ".safetensors":
        (size,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + size])
        strings = {k: {"dtype": v.get("dtype")} if isinstance(v, dict) else v for k, v in header.items()}  # shapes, offsets: sizes
        leaks = [f"{path.name} header{leak}" for leak in json_leaks(strings, pattern)]
        return leaks + [f"{path.name} tensor bytes at {m.start()}" for m in pattern.finditer(raw[8 + size :])]
    return [f"{path.name} at byte {m.start()}" for m in pattern.finditer(raw)]


def assert_no_ids(run_dir: Path, state: dict[str, Any], ids: set[str]) -> None:
    """No id in the task's pipeline state, nor anywhere in any file of RUN/model."""
    assert ids, "no ids to look for"
    pattern = id_pattern(ids)
    leaks = list(json_leaks(json.loads(json.dumps(state)), pattern, "preprocessing"))
    files = sorted(p for p in (run_dir / "model").rglob("*") if p.is_file())
    assert files
    for path in files:
        leaks += file_leaks(path, pattern)
    assert not leaks, f"training ids in the artifact: {leaks[:10]}"


def test_the_id_search_finds_whole_ids_only() -> None:
    pattern = id_pattern(["132539", "S0004-06142005000100015-1"])
    assert list(json_leaks({"a": ["x 132539"], "132539": 1}, pattern)) and list(json_leaks({"n": 132539}, pattern))
    assert list(json_leaks({"files": "notes/S0004-06142005000100015-1.txt"}, pattern))
    assert not list(json_leaks({"mean": 0.1325398, "n": 11325390, "s": "a132539b", "f": 132539.0}, pattern))


# ---- quick runs ----------------------------------------------------------------------------------------------------
class LogRecords(logging.Handler):
    """Every record of the `medrnn` loggers during a run, DEBUG included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self, at_least: int) -> str:
        return "\n".join(r.getMessage() for r in self.records if r.levelno >= at_least)


def quick_run(task: Task, config: Any, run_dir: Path) -> tuple[TaskData, Any, LogRecords]:
    """run_task with the medrnn log recorded at DEBUG; returns the run's samples (reloaded), the result and the log."""
    torch.set_num_threads(1)
    handler, logger = LogRecords(), logging.getLogger("medrnn")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        result = run_task(task, config, run_dir, progress=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    data = task.load(config)
    return data, result, handler


@pytest.fixture(scope="module")
def notes_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TaskData, Any, LogRecords]:
    if not (paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "train" / "trainD.tsv").exists():
        pytest.skip("CodiEsp not found under the data root; run `medrnn data fetch codiesp`")
    task = get_task("icd_coding")
    run_dir = tmp_path_factory.mktemp("notes") / "run"
    return (run_dir, *quick_run(task, task.quick_config(), run_dir))


@pytest.fixture(scope="module")
def icu_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding a small PhysioNet 2012 set A: the first ICU_STAYS stays, a descriptors-only stay, a corrupt file."""
    source = paths.dataset_dir("physionet2012")
    if not (source / "set-a" / f"{DESCRIPTORS_ONLY}.txt").exists() or not (source / "Outcomes-a.txt").exists():
        pytest.skip(f"PhysioNet 2012 set A not found under the data root ({source}); run `medrnn data fetch physionet2012`")
    root = tmp_path_factory.mktemp("icu_root")
    folder = root / "physionet2012" / "set-a"
    folder.mkdir(parents=True)
    for path in [*sorted((source / "set-a").glob("*.txt"))[:ICU_STAYS], source / "set-a" / f"{DESCRIPTORS_ONLY}.txt"]:
        (folder / path.name).symlink_to(path)
    (folder / f"{CORRUPT}.txt").write_text(f"Time,Parameter,Value\n00:00,RecordID,{CORRUPT}\n01:xx,HR,80\n")
    (root / "physionet2012" / "Outcomes-a.txt").symlink_to(source / "Outcomes-a.txt")
    return root


def icu_config() -> Any:
    from medrnn.tasks.icu_mortality.config import IcuRunConfig

    return IcuRunConfig.model_validate({"data": {"sets": ["a"]}, "model": {"hidden_size": 16, "head_hidden": 8},
                                        "train": {"max_epochs": 1, "batch_size": 32, "progress": False}, "bootstrap": 10})  # fmt: skip


@pytest.fixture(scope="module")
def icu_run(icu_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TaskData, Any, LogRecords]:
    run_dir = tmp_path_factory.mktemp("icu") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDRNN_DATA", str(icu_root))
        return (run_dir, *quick_run(get_task("icu_mortality"), icu_config(), run_dir))


@pytest.fixture(scope="module")
def ehr_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TaskData, Any, LogRecords]:
    if not (paths.dataset_dir("mimic4-demo") / "hosp" / "admissions.csv.gz").exists():
        pytest.skip("MIMIC-IV demo not found under the data root; run `medrnn data fetch mimic4-demo`")
    task = get_task("ehr_visits")
    run_dir = tmp_path_factory.mktemp("ehr") / "run"
    return (run_dir, *quick_run(task, task.quick_config(), run_dir))


def notes_ids(data: TaskData) -> set[str]:
    """Note ids (CodiEsp file stems) of every note of the run, the training notes among them."""
    return set(data.samples.note_ids)


def icu_ids(root: Path) -> set[str]:
    """RecordIDs (= file stems) of every stay file of the subset: used, excluded (descriptors only) and unreadable."""
    return {p.stem for p in (root / "physionet2012" / "set-a").glob("*.txt")}


def ehr_ids(data: TaskData) -> set[str]:
    """subject_id and hadm_id of every patient and admission read (training patients among them)."""
    return {p.patient_id for p in data.samples.patients} | {a.hadm_id for p in data.samples.patients for a in p.admissions}


def test_notes_artifact_holds_no_note_id(notes_run: tuple[Path, TaskData, Any, LogRecords]) -> None:
    run_dir, data, result, _ = notes_run
    task = get_task("icd_coding")
    train = set(data.units[task.split(data, task.quick_config()).train].tolist())
    assert len(train) == 20 and train <= notes_ids(data)
    assert_no_ids(run_dir, result.pipeline.state_dict(), notes_ids(data))


def test_icu_artifact_holds_no_record_id(icu_run: tuple[Path, TaskData, Any, LogRecords], icu_root: Path) -> None:
    run_dir, data, result, _ = icu_run
    ids = icu_ids(icu_root)
    assert set(data.ids) <= ids and DESCRIPTORS_ONLY in ids and len(data) == ICU_STAYS  # the excluded stay is not a sample
    assert_no_ids(run_dir, result.pipeline.state_dict(), ids)


def test_ehr_artifact_holds_no_subject_or_admission_id(ehr_run: tuple[Path, TaskData, Any, LogRecords]) -> None:
    run_dir, data, result, _ = ehr_run
    ids = ehr_ids(data)
    assert len(ids) > 100  # 100 patients and their admissions
    assert_no_ids(run_dir, result.pipeline.state_dict(), ids)


def test_ecg_pipeline_state_names_no_record() -> None:
    from medrnn.tasks.ecg_beats.config import BeatDataConfig
    from medrnn.tasks.ecg_beats.pipeline import BeatPipeline

    config = BeatDataConfig(train_records=["rec-a1", "rec-a2"], test_records=["rec-b1"])
    state = BeatPipeline(config, None, ["N", "S", "V", "F", "Q"]).state_dict()
    assert not list(json_leaks(state, id_pattern(["rec-a1", "rec-a2", "rec-b1"])))
    again = BeatPipeline.from_state_dict(json.loads(json.dumps(state)))
    assert again.state_dict() == state and again.config.model_dump(exclude={"train_records", "test_records", "val_records"}) == \
        config.model_dump(exclude={"train_records", "test_records", "val_records"})  # fmt: skip


# ---- logs ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", ["notes_run", "icu_run", "ehr_run"])
def test_runs_log_counts_not_ids(run: str, request: pytest.FixtureRequest) -> None:
    _, data, _, log = request.getfixturevalue(run)
    ids = icu_ids(request.getfixturevalue("icu_root")) if run == "icu_run" else {"notes_run": notes_ids, "ehr_run": ehr_ids}[run](data)
    text = log.text(logging.INFO)
    assert not id_pattern(ids).search(text.encode()), f"ids in the INFO log: {text[:500]}"


def test_icu_load_logs_the_excluded_and_unread_stays_as_counts(icu_root: Path, caplog: pytest.LogCaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from medrnn.tasks.icu_mortality.data import load_stays

    monkeypatch.setenv("MEDRNN_DATA", str(icu_root))
    caplog.set_level(logging.DEBUG, logger="medrnn")
    data = load_stays(icu_config().data)
    info = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    debug = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    assert "1 stays without any time series excluded" in info and "1 stay files not read" in info
    assert DESCRIPTORS_ONLY not in info and CORRUPT not in info and not id_pattern(icu_ids(icu_root)).search(info.encode())
    assert DESCRIPTORS_ONLY in debug and CORRUPT in debug  # for whoever debugs the read, at DEBUG only
    assert data.info["excluded_no_time_series"]["record_ids"] == [DESCRIPTORS_ONLY]  # the run folder keeps the list


# ---- the free-text vocabulary ----------------------------------------------------------------------------------------
def _documents() -> list[list[str]]:
    """Ten training documents: "shared" in 5 of them, "rare" in 4 (ten times in one), "nombre" in 1, "y" in all."""
    docs = [["y"] for _ in range(10)]
    for i in range(5):
        docs[i].append("shared")
    for i in range(5, 9):
        docs[i].append("rare")
    docs[5] += ["rare"] * 9
    docs[9] += ["nombre", "nombre"]
    return docs


def test_a_word_enters_the_vocabulary_only_from_min_doc_freq_documents() -> None:
    assert NotesDataConfig().min_doc_freq == 5
    docs = _documents()
    vocab = fit_vocabulary(docs, min_count=1, min_doc_freq=5)
    assert "shared" in vocab.index_ and "y" in vocab.index_
    assert "rare" not in vocab.index_ and "nombre" not in vocab.index_  # 4 documents (13 times) and 1 document: left out
    assert vocab.n_train_tokens_ == 10 + 5 + 13 + 2 and vocab.n_train_unknown_ == 13 + 2  # counted as training unknowns
    assert "rare" in fit_vocabulary(docs, min_count=1, min_doc_freq=4).index_
    assert "nombre" in fit_vocabulary(docs, min_count=1, min_doc_freq=1).index_


def test_the_notes_pipeline_applies_min_doc_freq_and_saves_it() -> None:
    texts = [" ".join(doc) for doc in _documents()]
    records = [NoteRecord(f"n{i}", text, "es", ("R05",), ("D",), (), "train") for i, text in enumerate(texts)]
    notes = NoteSet.from_records(records, ClinicalTokenizer("es"))
    pipeline = NotesPipeline.fit(notes, NotesDataConfig(embeddings="none"))
    assert set(pipeline.vocab.tokens_[2:]) == {"y", "shared"}
    state = json.loads(json.dumps(pipeline.state_dict()))
    assert state["min_doc_freq"] == 5 and "rare" not in json.dumps(state) and "nombre" not in json.dumps(state)
    assert NotesPipeline.from_state_dict(state).state_dict() == state
    assert "rare" in NotesPipeline.fit(notes, NotesDataConfig(embeddings="none", min_doc_freq=4)).vocab.index_


def test_the_quick_notes_run_vocabulary_keeps_words_of_five_training_notes(notes_run: tuple[Path, TaskData, Any, LogRecords]) -> None:
    from medrnn.tasks.icd_coding.data import document_frequency

    run_dir, data, result, _ = notes_run
    task = get_task("icd_coding")
    train = task.subset(data, task.split(data, task.quick_config()).train)
    frequency = document_frequency(train.token_texts())
    kept = result.pipeline.vocab.tokens_[2:]
    assert kept and all(frequency[t] >= 5 for t in kept)
    assert {t for t, n in frequency.items() if n >= 5} == set(kept)  # min_token_count 1: every shared word is kept
    text = result.metrics["data"]["text"]
    assert text["min_doc_freq"] == 5 and text["words_below_min_doc_freq"] == sum(n < 5 for n in frequency.values())
    assert (run_dir / "model" / "artifact.json").exists() and result.metrics["test"]["overall"]["map"] is not None


# ---- output ids ------------------------------------------------------------------------------------------------------
def test_ecg_rows_name_the_record_as_given(mitdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medrnn.models import create_model
    from medrnn.tasks.ecg_beats.config import BeatDataConfig
    from medrnn.tasks.ecg_beats.pipeline import BeatPipeline

    monkeypatch.setenv("MEDRNN_DATA", str(mitdb_dir.parent))  # "232" alone: the record under the data root
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    for suffix in (".hea", ".dat"):
        (tmp_path / "in" / f"232{suffix}").symlink_to(mitdb_dir / f"232{suffix}")
    torch.manual_seed(0)
    model = create_model("lstm", input_size=1, num_classes=5, hidden_size=8, frontend="none").eval()
    task = get_task("ecg_beats")
    predictor = Predictor(task, model, BeatPipeline(BeatDataConfig(rr_features=False), None, ["N", "S", "V", "F", "Q"]), {})
    peaks = np.arange(1000, 20000, 300)  # given, so the test needs no R-peak detection
    result = predictor.predict(["in/232", "232", str(tmp_path / "in" / "232.hea")], peaks=peaks)
    assert not result.failures
    rows = result.rows()
    assert [r["item_id"] for r in rows[:: len(rows) // 3]] == ["in/232", "232", str(tmp_path / "in" / "232.hea")]
    assert sorted({r["item_id"] for r in rows}) == sorted(["in/232", "232", str(tmp_path / "in" / "232.hea")])


def test_icu_rows_carry_the_file_beside_the_record_id(icu_run: tuple[Path, TaskData, Any, LogRecords], icu_root: Path,
                                                      tmp_path: Path) -> None:  # fmt: skip
    run_dir = icu_run[0]
    first = sorted((icu_root / "physionet2012" / "set-a").glob("*.txt"))[0]
    copy = tmp_path / "other" / first.name
    copy.parent.mkdir()
    shutil.copy(first, copy)
    result = Predictor.from_artifact(run_dir).predict([first, copy])
    rows = result.rows()
    assert result.columns[:2] == ["item_id", "record_id"] and [r["item_id"] for r in rows] == [str(first), str(copy)]
    assert rows[0]["record_id"] == rows[1]["record_id"] == first.stem


def test_ehr_rows_carry_the_patient_file(ehr_run: tuple[Path, TaskData, Any, LogRecords], tmp_path: Path) -> None:
    run_dir = ehr_run[0]
    patient = {"patient_id": "p1", "admissions": [{"hadm_id": "h1", "admit_time": "2180-05-06 22:23:00",
                                                   "discharge_time": "2180-05-07 17:15:00", "codes": ["ICD9_DX:4019"]}]}  # fmt: skip
    files = [tmp_path / "a" / "p1.json", tmp_path / "b" / "p1.json"]
    for path in files:
        path.parent.mkdir()
        path.write_text(json.dumps(patient))
    result = Predictor.from_artifact(run_dir).predict(files)
    rows = result.rows()
    assert result.columns[0] == "item_id" and [r["item_id"] for r in rows] == [str(p) for p in files]
    assert [r["patient_id"] for r in rows] == ["p1", "p1"]
