"""Notes coders served as one through the generic ensemble: members must line up (same label columns, same tokenizer for
the evidence offsets, at least two), probabilities are averaged and each code's evidence comes from the member most
confident in it; the threshold of the mean is re-tuned on dev and refused on notes a member trained on."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn.ensemble import EnsemblePredictor, build_ensemble, mean_scores
from medrnn.errors import ArtifactError, ConfigError
from medrnn.models import create_model
from medrnn.predict import Predictor, is_ensemble
from medrnn.records import NoteRecord
from medrnn.tasks.base import Scores, get_task
from medrnn.tasks.icd_coding.config import NotesRunConfig
from medrnn.tasks.icd_coding.data import notes_task_data
from medrnn.tasks.icd_coding.pipeline import NotesPipeline
from medrnn.transforms.text import ClinicalTokenizer

TASK = get_task("notes")
RECORDS = [NoteRecord(i, text, "es", codes, ("D",) * len(codes), (), split) for i, text, codes, split in (
    ("a", "Paciente con fiebre y tos. Dolor torácico.", ("R50.9", "R05"), "train"),
    ("b", "Fiebre alta, tos seca; neumonía bilateral.", ("R50.9", "J18.9"), "train"),
    ("c", "Tos persistente.", ("R05",), "dev"), ("d", "Fiebre.", ("R50.9",), "test"))]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _pipeline(language: str = "es", labels: list[str] | None = None) -> NotesPipeline:
    config = NotesRunConfig.model_validate({"data": {"embeddings": "none", "window": 4}})
    data = notes_task_data(RECORDS, "es")
    pipeline = TASK.fit_pipeline(data, TASK.split(data, config), config)
    pipeline.threshold = 0.5
    if labels is not None:
        pipeline.label_names = labels
    if language != "es":
        pipeline.tokenizer = ClinicalTokenizer(language)
    return pipeline


def _member(pipeline: NotesPipeline, seed: int) -> Predictor:
    torch.manual_seed(seed)
    model = create_model("laat", vocab_size=len(pipeline.vocab), num_classes=len(pipeline.label_names), embedding_dim=8,
                         hidden_size=8, attention_size=8).eval()  # fmt: skip
    return Predictor(TASK, model, copy.copy(pipeline), {"weights_sha256": f"seed{seed}"})


def test_members_with_other_labels_or_language_are_refused() -> None:
    base = _pipeline()
    with pytest.raises(ArtifactError, match="'label_names' differs"):
        EnsemblePredictor([_member(base, 0), _member(_pipeline(labels=["J18.9", "R05", "X"]), 1)], paths=[Path("m0"), Path("m1")])
    with pytest.raises(ArtifactError, match="'tokenizer' differs"):
        EnsemblePredictor([_member(base, 0), _member(_pipeline(language="en"), 1)])
    with pytest.raises(ConfigError, match="two or more"):
        EnsemblePredictor([_member(base, 0)])


def test_mean_probability_and_evidence_of_the_most_confident_member() -> None:
    p0, p1 = np.array([[0.9, 0.2]]), np.array([[0.5, 0.6]])
    t0, t1 = np.array([[3, 4]]), np.array([[7, 8]])
    scores = mean_scores([Scores(p0, {"top_token": t0}), Scores(p1, {"top_token": t1})], TASK.merge_extras)
    np.testing.assert_allclose(scores.values, [[0.7, 0.4]])
    np.testing.assert_array_equal(scores.extras["top_token"], [[3, 8]])  # code a from member 0 (0.9), code b from member 1 (0.6)


def test_an_ensemble_codes_a_note_file_with_the_mean_and_the_confident_members_evidence(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_bytes("Paciente con fiebre alta\r\ny tos seca; dolor torácico.".encode())
    base = _pipeline()
    members = [_member(base, 0), _member(base, 1)]
    ensemble = EnsemblePredictor(members, {"threshold": 0.0})  # every code, to compare all of them
    rows = ensemble.predict([note]).rows()
    singles = [m.score(m.read(str(note), {})) for m in members]
    mean = (singles[0].values + singles[1].values) / 2
    assert len(rows) == len(base.label_names)
    text = note.read_bytes().decode("utf-8")
    for row in rows:
        c = base.label_names.index(row["code"])
        assert row["probability"] == pytest.approx(mean[0, c], abs=1e-6) and row["item_id"] == str(note)
        best = int(np.argmax([s.values[0, c] for s in singles]))
        token = members[best].read(str(note), {}).samples.tokens[0][int(singles[best].extras["top_token"][0, c])]
        assert (row["start"], row["end"]) == (token.start, token.end) and f"[{text[token.start : token.end]}]" in row["evidence"]


def test_is_ensemble_looks_for_ensemble_json(tmp_path: Path) -> None:
    assert not is_ensemble(tmp_path)
    (tmp_path / "ensemble.json").write_text("{}")
    assert is_ensemble(tmp_path)
    with pytest.raises(ArtifactError, match="format"):
        EnsemblePredictor.from_path(tmp_path)


def test_a_malformed_ensemble_file_names_the_field(tmp_path: Path) -> None:
    members = [{"path": "m0"}, {"path": "m1"}]
    bad = {"format": "medrnn-ensemble", "task": "icd_coding", "members": members, "threshold": 2}
    (tmp_path / "ensemble.json").write_text(json.dumps(bad))
    with pytest.raises(ArtifactError, match="'threshold'"):
        EnsemblePredictor.from_path(tmp_path)
    (tmp_path / "ensemble.json").write_text('{"format": "medrnn-ensemble", "task": "icd_coding", "members": "m", "threshold": 0.3}')
    with pytest.raises(ArtifactError, match="'members'"):
        EnsemblePredictor.from_path(tmp_path)


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two seeds of the task's quick config (20 real CodiEsp notes per split, one epoch)."""
    from medrnn import paths
    from medrnn.train.run import run_task

    if not (paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "train").is_dir():
        pytest.skip("CodiEsp not found under the data root; run `medrnn data fetch codiesp`")
    runs = []
    for seed in (0, 1):
        cfg = TASK.quick_config().model_copy(deep=True)
        cfg.train.seed = seed
        runs.append(run_task(TASK, cfg, tmp_path_factory.mktemp(f"notes_s{seed}"), progress=False).run_dir)
    return runs


def test_build_ensemble_tunes_the_threshold_of_the_mean_on_dev(quick_runs: list[Path], tmp_path: Path) -> None:
    from medrnn.metrics.codes import tune_threshold

    meta = build_ensemble(quick_runs, tmp_path / "ens")
    assert meta["task"] == "icd_coding" and meta["tuning"]["on"] == "dev" and meta["tuning"]["units"] == 20
    members = [Predictor.from_artifact(r) for r in quick_runs]
    data = TASK.load(TASK.quick_config())
    split = TASK.split(data, TASK.quick_config())
    dev = TASK.subset(data, split.val)
    mean = np.mean([m.calibrate(TASK.predict(m.model, m.pipeline, dev)).values for m in members], axis=0)  # each member calibrated
    assert meta["threshold"] == tune_threshold(TASK.targets(data, split.val, members[0].pipeline), mean)
    served = Predictor.from_artifact(tmp_path / "ens")
    assert isinstance(served, EnsemblePredictor) and served.pipeline.threshold == meta["threshold"]


def test_build_ensemble_refuses_dev_notes_a_member_trained_on(quick_runs: list[Path], tmp_path: Path) -> None:
    leaky = tmp_path / "leaky"
    import shutil

    shutil.copytree(quick_runs[1] / "model", leaky)
    from medrnn.artifact import training_data_record, write_manifest

    meta = json.loads((leaky / "artifact.json").read_text())
    ids = TASK.load(TASK.quick_config()).ids
    train_notes, dev_note = ids[:20], ids[20]  # the first dev note (20 train notes come first)
    meta["training_data"] = training_data_record([*train_notes, dev_note])  # as if this member had trained on a dev note
    (leaky / "artifact.json").write_text(json.dumps(meta))
    (leaky / "manifest.json").unlink()
    write_manifest(leaky)  # re-signed: only the training record tells this member apart
    with pytest.raises(ConfigError, match="was not trained on the training part of this split"):
        build_ensemble([quick_runs[0], leaky], tmp_path / "ens")
    assert not (tmp_path / "ens" / "ensemble.json").exists()
