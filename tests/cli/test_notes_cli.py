"""The ICD-coding (notes) task through the CLI on 40/20/20 real CodiEsp documents: train -> run folder (+ report) -> predict
text files (one missing) -> a seed ensemble with its threshold re-tuned on dev (`medrnn ensemble RUN... --out DIR`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from medrnn import paths
from medrnn.cli.main import main

SIZES = {"train": 40, "dev": 20, "test": 20}
WINDOW = 300  # below the longest of these documents: chunking is exercised


def _subset(source: Path, dest: Path, split: str, n: int, relabel: dict[str, str] | None = None) -> None:
    """The first n documents of a split (symlinked texts) with their D and X rows; `relabel` rewrites D/X codes."""
    folder = dest / split
    docs = sorted(p.stem for p in (source / split / "text_files").glob("*.txt"))[:n]
    for lang in ("text_files", "text_files_en"):
        (folder / lang).mkdir(parents=True)
        for doc in docs:
            (folder / lang / f"{doc}.txt").symlink_to(source / split / lang / f"{doc}.txt")
    keep = set(docs)
    for kind, code_field in (("D", 1), ("X", 2)):
        lines = (source / split / f"{split}{kind}.tsv").read_bytes().decode("utf-8").splitlines()
        rows = [ln.split("\t") for ln in lines if ln.split("\t")[0] in keep]
        for row in rows:
            row[code_field] = (relabel or {}).get(row[code_field], row[code_field])
        (folder / f"{split}{kind}.tsv").write_bytes("".join("\t".join(r) + "\n" for r in rows).encode("utf-8"))


def _make_root(root: Path, relabel_test: dict[str, str] | None = None) -> Path:
    source = paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish"
    if not (source / "train" / "trainD.tsv").exists():
        pytest.skip(f"CodiEsp not found under the data root ({source}); run `medrnn data fetch codiesp`")
    for split, n in SIZES.items():
        _subset(source, root / "codiesp", split, n, relabel_test if split == "test" else None)
    return root / "codiesp"


def _train(data: Path, out: Path, seed: int = 1) -> int:
    torch.set_num_threads(1)
    cfg = {"data": {"window": WINDOW, "embedding_dim": 16}, "model": {"hidden_size": 16, "attention_size": 16},
           "train": {"batch_size": 8}, "bootstrap": 20}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "in.yaml").write_text(yaml.safe_dump(cfg))
    return main(["train", "notes", "-c", str(out / "in.yaml"), "--data", str(data), "--language", "es", "--model", "laat",
                 "--max-epochs", "2", "--seed", str(seed), "--out", str(out / "run"), "--no-progress"])  # fmt: skip


@pytest.fixture(scope="module")
def notes_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_root(tmp_path_factory.mktemp("codiesp_root"))


@pytest.fixture(scope="module")
def notes_run(notes_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("notes")
    assert _train(notes_data, out) == 0
    return out / "run"


def test_train_notes_writes_a_complete_run_folder(notes_run: Path) -> None:
    for name in ("config.yaml", "metrics.json", "predictions.npz", "evidence.json", "model/weights.safetensors", "model/artifact.json",
                 "report.html", "RUN_COMPLETE"):  # fmt: skip
        assert (notes_run / name).exists(), name
    metrics = json.loads((notes_run / "metrics.json").read_text())
    assert metrics["task"] == "icd_coding" and metrics["model"] == "laat" and metrics["data"]["documents"] == SIZES
    assert metrics["split"]["counts"] == {"train": 40, "val": 20, "test": 20}
    overall = metrics["test"]["overall"]
    for key in ("map", "micro_f1", "macro_f1", "macro_f1_caml", "p@5", "p@8", "p@15"):
        assert key in overall, key
    assert metrics["test"]["extras"]["buckets"]  # frequency buckets from the training label counts
    unseen = metrics["unseen_gold_codes"]["test"]
    assert 0 < unseen["unseen_pairs"] < unseen["gold_pairs"] and unseen["unseen_share"] == metrics["unseen_gold_codes"]["test_share"]
    assert metrics["threshold_tuned_on"] == "dev" and 0.0 < metrics["threshold"] < 1.0
    assert metrics["data"]["chunks"]["train"]["n_chunked_documents"] > 0  # some notes are longer than the window
    assert metrics["model_init"]["kind"] == "none"  # random rows, the default start (word2vec is an option)
    supervision = metrics["data"]["evidence_supervision"]  # default auto: laat on Spanish notes with CodiEsp-X spans
    assert supervision["weight"] == 0.1 and supervision["pairs"] > 0
    overlap = metrics["evidence_overlap"]["gold"]
    assert overlap["pairs"] > 0 and 0.0 <= overlap["rate"] <= 1.0
    saved = yaml.safe_load((notes_run / "config.yaml").read_text())
    assert saved["data"]["window"] == WINDOW and saved["train"]["seed"] == 1 and saved["train"]["max_epochs"] == 2
    artifact = json.loads((notes_run / "model" / "artifact.json").read_text())
    assert artifact["task"] == "icd_coding" and artifact["preprocessing"]["threshold"] == metrics["threshold"]
    assert artifact["preprocessing"]["window"] == WINDOW and len(artifact["class_names"]) == metrics["data"]["text"]["labels"]["count"]
    pred = np.load(notes_run / "predictions.npz")
    assert pred["y_score"].shape == pred["y_true"].shape == pred["top_token"].shape == (SIZES["test"], len(artifact["class_names"]))
    page = (notes_run / "report.html").read_text(encoding="utf-8")
    assert "ICD coding: MAP" in page and "Evidence (test notes)" in page and "<mark>" in page


def test_evidence_offsets_point_at_real_substrings(notes_run: Path, notes_data: Path) -> None:
    evidence = json.loads((notes_run / "evidence.json").read_text(encoding="utf-8"))
    assert len(evidence) == SIZES["test"]
    checked = 0
    for doc in evidence:
        text = (notes_data / "test" / "text_files" / f"{doc['note_id']}.txt").read_bytes().decode("utf-8")
        for code in doc["codes"]:
            assert text[code["start"] : code["end"]] == code["token"] and code["token"].strip()
            assert f"[{code['token']}]" in code["snippet"]
            checked += 1
    assert checked > 0


def test_threshold_comes_from_dev_not_test(notes_run: Path, tmp_path: Path) -> None:
    """Rewriting every test gold code changes the test scores, never the threshold (tuned on dev) or the model."""
    relabelled = _make_root(tmp_path / "root", relabel_test=dict.fromkeys(_test_codes(), "z99.89"))
    assert _train(relabelled, tmp_path / "out") == 0
    original = json.loads((notes_run / "metrics.json").read_text())
    changed = json.loads((tmp_path / "out" / "run" / "metrics.json").read_text())
    assert changed["threshold"] == original["threshold"]
    assert changed["unseen_gold_codes"]["test"] != original["unseen_gold_codes"]["test"]
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "run" / "predictions.npz")["y_score"],
                                  np.load(notes_run / "predictions.npz")["y_score"])  # fmt: skip


def _test_codes() -> list[str]:
    source = paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "test"
    docs = set(sorted(p.stem for p in (source / "text_files").glob("*.txt"))[: SIZES["test"]])
    return sorted({ln.split("\t")[1] for ln in (source / "testD.tsv").read_text().splitlines() if ln.split("\t")[0] in docs})


def test_predict_notes_reports_a_missing_file_and_codes_the_rest(notes_run: Path, notes_data: Path, tmp_path: Path) -> None:
    notes = sorted((notes_data / "test" / "text_files").glob("*.txt"))[:3]
    missing = tmp_path / "missing.txt"
    out = tmp_path / "codes.csv"
    code = main(["predict", "--artifact", str(notes_run / "model"), *map(str, notes), str(missing), "--out", str(out)])
    assert code == 1  # one file failed
    errors = json.loads(out.with_suffix(".errors.json").read_text())
    assert list(errors) == [str(missing)] and "missing.txt: cannot read" in errors[str(missing)]["message"]
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and {r["item_id"] for r in rows} <= set(map(str, notes))
    for row in rows:
        text = Path(row["item_id"]).read_bytes().decode("utf-8")
        assert 0.0 < float(row["probability"]) <= 1.0 and row["code"]
        assert f"[{text[int(row['start']) : int(row['end'])]}]" in row["evidence"]
    evidence = {d["note_id"]: d for d in json.loads((notes_run / "evidence.json").read_text(encoding="utf-8"))}
    first = notes[0].stem
    assert [r["code"] for r in rows if Path(r["item_id"]).stem == first] == [c["code"] for c in evidence[first]["codes"]]


@pytest.fixture(scope="module")
def second_run(notes_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same job with another seed: the second member of a seed ensemble."""
    out = tmp_path_factory.mktemp("notes_seed2")
    assert _train(notes_data, out, seed=2) == 0
    return out / "run"


def test_ensemble_serves_the_mean_of_its_members_at_a_dev_tuned_threshold(notes_run: Path, second_run: Path, notes_data: Path,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    from medrnn.predict import Predictor

    ens = tmp_path / "ens"
    assert main(["ensemble", str(notes_run), str(second_run / "model"), "--out", str(ens)]) == 0
    meta = json.loads((ens / "ensemble.json").read_text())
    assert meta["task"] == "icd_coding" and meta["tuning"]["on"] == "dev" and meta["tuning"]["units"] == SIZES["dev"]
    assert 0.0 < meta["threshold"] < 1.0
    assert [(ens / m["path"]).resolve() for m in meta["members"]] == [(notes_run / "model").resolve(), (second_run / "model").resolve()]
    notes = sorted((notes_data / "test" / "text_files").glob("*.txt"))[:3]
    out = tmp_path / "codes.json"
    assert main(["predict", "--artifact", str(ens), *map(str, notes), "--out", str(out)]) == 0
    rows = json.loads(out.read_text(encoding="utf-8"))["predictions"]
    members = [Predictor.from_artifact(r) for r in (notes_run, second_run)]
    singles = [[m.score(m.read(str(n), {})).values[0] for n in notes] for m in members]
    mean = (np.array(singles[0]) + np.array(singles[1])) / 2
    names = members[0].label_names
    expected = {(str(notes[d]), names[c]) for d, c in zip(*np.nonzero(mean >= meta["threshold"]))}
    trained = [r for r in rows if r.get("basis", "trained") == "trained"]  # basis=description: a code ranked from its title
    assert {(r["item_id"], r["code"]) for r in trained} == expected and expected
    assert not {r["code"] for r in rows if r.get("basis") == "description"} & set(names)
    rows = trained
    for row in rows:
        d, c = [str(n) for n in notes].index(row["item_id"]), names.index(row["code"])
        assert row["probability"] == pytest.approx(mean[d, c], abs=1e-6)
        text = Path(row["item_id"]).read_bytes().decode("utf-8")
        assert f"[{text[row['start'] : row['end']]}]" in row["evidence"]


def test_ensemble_refuses_a_member_changed_after_it_was_built(notes_run: Path, second_run: Path, tmp_path: Path) -> None:
    import shutil

    from medrnn.ensemble import EnsemblePredictor
    from medrnn.errors import ArtifactError

    member = tmp_path / "member"
    shutil.copytree(second_run / "model", member)
    assert main(["ensemble", str(notes_run / "model"), str(member), "--out", str(tmp_path / "ens")]) == 0
    shutil.rmtree(member)
    shutil.copytree(notes_run / "model", member)  # a valid artifact, but not the one the threshold was tuned for
    with pytest.raises(ArtifactError, match="weights changed since the ensemble"):
        EnsemblePredictor.from_path(tmp_path / "ens")


def test_ensemble_refuses_to_tune_on_notes_a_member_trained_on(notes_run: Path, second_run: Path, notes_data: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import shutil

    member = tmp_path / "member"
    shutil.copytree(second_run / "model", member)
    from medrnn.artifact import trained_on, training_data_record, write_manifest

    meta = json.loads((member / "artifact.json").read_text())
    train_notes = sorted(p.stem for p in (notes_data / "train" / "text_files").glob("*.txt"))
    assert trained_on(meta, train_notes) and "items" not in meta["training_data"]  # a salted hash and a count, never the note ids
    dev_note = sorted(p.stem for p in (notes_data / "dev" / "text_files").glob("*.txt"))[0]
    meta["training_data"] = training_data_record([*train_notes, dev_note])  # as if this member had trained on a dev note
    (member / "artifact.json").write_text(json.dumps(meta))
    write_manifest(member)  # a consistent artifact, not a corrupt one
    assert main(["ensemble", "notes", str(notes_run / "model"), str(member), "--out", str(tmp_path / "ens")]) == 2
    assert "was not trained on the training part of this split" in capsys.readouterr().err
    assert not (tmp_path / "ens" / "ensemble.json").exists()


def test_batch_survives_poisoned_notes(notes_run: Path, notes_data: Path, poisoned: list[str], batch_survives) -> None:
    notes = [str(p) for p in sorted((notes_data / "test" / "text_files").glob("*.txt"))[:2]]
    rows = batch_survives(notes_run / "model", notes, poisoned)
    assert {r["item_id"] for r in rows} <= set(notes)
