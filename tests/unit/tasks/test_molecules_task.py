"""The molecules task on the contract: quick run -> artifact -> Predictor on a CSV with bad rows; old artifacts load;
validation loss chooses among two recipes and their ensemble."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn import paths
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.tasks.base import Scores, get_task
from medrnn.tasks.molecules.domain import fingerprints
from medrnn.tasks.molecules.pipeline import SmilesPipeline
from medrnn.selection import choose, validation_loss
from medrnn.tasks.molecules.selection import loss_of_scores
from medrnn.transforms.standardize import Standardizer


@pytest.fixture(scope="module")
def runs(moleculenet_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two quick FreeSolv runs on one split (split seed 0), model seeds 0 and 1; seed 1 with RDKit descriptor and ECFP4
    fusion."""
    from medrnn.train.run import run_task

    torch.set_num_threads(1)
    task = get_task("smiles")
    out = tmp_path_factory.mktemp("molecules")
    folders = []
    for seed in (0, 1):
        cfg = task.quick_config().model_copy(deep=True)
        cfg.data.split_seed, cfg.train.seed = 0, seed
        cfg.data.descriptors = "rdkit2d+ecfp4" if seed == 1 else "none"
        run_task(task, cfg, out / f"seed{seed}", progress=False)
        folders.append(out / f"seed{seed}")
    return folders


def test_quick_run_writes_what_the_old_run_recorded(runs: list[Path]) -> None:
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["task"] == "molecules" and metrics["task_type"] == "regression" and metrics["output_kind"] == "regression"
    assert metrics["data"]["split"]["kind"] == "random" and metrics["data"]["split"]["seed"] == 0
    assert metrics["data"]["read"]["n_kept"] == 642 and metrics["data"]["vocabulary"]["size"] > 10
    assert {"unknown_tokens_train", "unknown_tokens_test"} <= set(metrics["data"]["vocabulary"])
    assert metrics["test"]["label_names"] == ["expt"] and metrics["test"]["unit"] == "molecules"
    assert metrics["model_init"] == {"pretrain": None}
    meta = json.loads((runs[0] / "model" / "artifact.json").read_text())
    prep = meta["preprocessing"]
    assert meta["task"] == "molecules" and prep["vocabulary"]["tokens"][:2] == ["<pad>", "<unk>"]
    assert prep["task_type"] == "regression" and prep["tta"] == 1 and prep["target_scaler"] is not None
    attention = json.loads((runs[0] / "attention.json").read_text())
    assert [a["group"] for a in attention] == ["closest to the measured value"] * 6 + ["farthest from the measured value"] * 6
    assert all(len(a["tokens"]) == len(a["weights"]) and abs(sum(a["weights"]) - 1) < 1e-3 for a in attention)
    errors = [abs(a["score"][0] - a["target"][0]) for a in attention]
    assert max(errors[:6]) <= min(errors[6:])


def test_predictor_scores_good_rows_and_reports_bad_ones(runs: list[Path], tmp_path: Path) -> None:
    from medrnn.predict import Predictor

    mols = tmp_path / "new.csv"
    mols.write_text("compound,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\nbroken,C1CC\ncaffeine,Cn1cnc2c1c(=O)n(C)c(=O)n2C\n")
    predictor = Predictor.from_artifact(runs[0])
    result = predictor.predict([mols, tmp_path / "missing.csv"], id_column="compound")
    assert result.columns == ["item_id", "row", "id", "smiles", "canonical_smiles", "expt", "nn_similarity", "in_domain", "oov_tokens"]
    rows = result.rows()
    assert [r["id"] for r in rows] == ["aspirin", "caffeine"] and rows[0]["item_id"] == str(mols)
    assert [r["row"] for r in rows] == [0, 2]  # the data row: molecules with one id (or none) stay apart
    assert rows[1]["canonical_smiles"] == "Cn1c(=O)c2c(ncn2C)n(C)c1=O" and np.isfinite(rows[0]["expt"])
    (bad,) = result.failures[str(mols)]["rejected"]
    assert bad["row"] == 1 and "unclosed ring" in bad["reason"]
    assert result.failures[str(tmp_path / "missing.csv")]["error"] == "InvalidRecordError"
    with pytest.raises(InvalidRecordError, match="column 'nope' not found"):
        predictor.task.read_input(str(mols), predictor.pipeline, {"smiles_column": "nope"})


def test_predictor_reproduces_the_runs_test_predictions(runs: list[Path]) -> None:
    from medrnn.predict import Predictor

    predictor = Predictor.from_artifact(runs[1])
    task = predictor.task
    config = task.config_class.model_validate(predictor.metadata["config"])
    data = task.load(config)
    split = task.split(data, config)
    scores = task.predict(predictor.model, predictor.pipeline, task.subset(data, split.test))
    recorded = np.load(runs[1] / "predictions.npz")
    np.testing.assert_array_equal(scores.values, recorded["y_score"])


def test_descriptor_fusion_is_fitted_on_train_and_travels_in_the_artifact(runs: list[Path], tmp_path: Path) -> None:
    from medrnn.predict import Predictor

    plain, fused = (json.loads((r / "model" / "artifact.json").read_text())["preprocessing"] for r in runs)
    assert plain["descriptors"] is None
    names = fused["descriptors"]["names"]
    assert {"MolWt", "TPSA", "MolLogP"} <= set(names) and len(fused["descriptors"]["mean"]) == len(names)
    predictor = Predictor.from_artifact(runs[1])
    assert fused["ecfp4"] is True and plain["ecfp4"] is False
    # the descriptors and the 2,048 fingerprint bits join the encoder's features before the head
    assert predictor.model.num_static == predictor.pipeline.num_static == len(names) + 2048
    mols = tmp_path / "two.csv"
    mols.write_text("smiles\nCCO\nCC(=O)Oc1ccccc1C(=O)O\n")
    cached = paths.cache_dir() / "descriptors"
    before = set(cached.glob("*.npy"))
    assert before  # the run cached its splits' descriptors
    rows = predictor.predict([mols]).rows()
    assert set(cached.glob("*.npy")) == before  # a predict call leaves no cache file behind (one per call would pile up)
    static = predictor.pipeline.static(["CCO", "CC(=O)Oc1ccccc1C(=O)O"])
    assert static.shape == (2, len(names) + 2048) and np.isfinite(static).all() and np.abs(static).max() < 50
    bits = static[:, len(names):]
    assert set(np.unique(bits)) == {0.0, 1.0}  # fingerprint bits stay 0/1, unscaled
    np.testing.assert_array_equal(np.packbits(bits.astype(bool), axis=1), fingerprints(["CCO", "CC(=O)Oc1ccccc1C(=O)O"]))
    assert bits[0].sum() < bits[1].sum()  # ethanol sets fewer ECFP4 bits than aspirin
    assert rows[0]["expt"] != rows[1]["expt"]


def test_old_artifact_preprocessing_still_loads() -> None:
    task = get_task("molecules")
    old = {
        "vocabulary": {"min_freq": 1, "tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "C", "O"], "counts": {"C": 5, "O": 2}},
        "target_scaler": None,
        "task_type": "classification",
        "tta": 8,
        "smiles": "RDKit canonical isomeric, atom-level regex tokens",
    }
    pipeline = task.pipeline_from_state(old)
    assert pipeline.tta == 8 and pipeline.tta_seed == 0 and pipeline.label_names == []
    pipeline.label_names = ["NR-AR", "SR-p53"]  # old artifacts keep them in artifact.json's class_names
    assert pipeline.output_kind == "multilabel"
    state = pipeline.state_dict()
    assert {k: state[k] for k in old} == old
    again = SmilesPipeline.from_state_dict(state)
    assert again.state_dict() == state and again.output_kind == "multilabel"


def test_validation_loss_is_bce_or_scaled_mse_over_labelled_entries() -> None:
    y = np.array([[1.0, np.nan], [0.0, 1.0]])
    p = np.array([[0.8, 0.3], [0.4, 0.9]])
    expected = -(np.log(0.8) + np.log(0.6) + np.log(0.9)) / 3
    assert loss_of_scores(y, p, "classification", None) == pytest.approx(expected)
    scaler = Standardizer().fit(np.array([[0.0], [2.0]], dtype=np.float32))  # mean 1, sd 1
    assert loss_of_scores(np.array([[1.0], [np.nan]]), np.array([[3.0], [9.0]]), "regression", scaler) == pytest.approx(4.0)
    with pytest.raises(ConfigError, match="scaler"):
        loss_of_scores(y, p, "regression", None)
    task = get_task("molecules")
    pipeline = SmilesPipeline.from_state_dict({"vocabulary": {"tokens": ["<pad>", "<unk>", "<bos>", "<eos>"]}, "target_scaler": None,
                                               "task_type": "classification", "label_names": ["a", "b"]})  # fmt: skip
    assert task.validation_loss(y, Scores(p), pipeline) == pytest.approx(expected)


def test_choose_takes_the_lowest_validation_loss_among_runs_and_their_ensemble(runs: list[Path], tmp_path: Path) -> None:
    from medrnn.ensemble import build_ensemble
    from medrnn.predict import Predictor

    build_ensemble(runs, tmp_path / "ens")
    result = choose([*runs, tmp_path / "ens"])
    losses = [c["validation_loss"] for c in result["candidates"]]
    assert result["validation_loss"] == min(losses) and result["chosen"] == str([*runs, tmp_path / "ens"][int(np.argmin(losses))])
    assert losses[0] == pytest.approx(validation_loss(Predictor.from_artifact(runs[0])))
    assert len(set(losses)) == 3  # three different candidates


def test_choose_refuses_candidates_of_different_splits(runs: list[Path], tmp_path: Path) -> None:
    import shutil

    from medrnn.artifact import write_manifest

    other = tmp_path / "other"
    shutil.copytree(runs[1] / "model", other / "model")
    meta = json.loads((other / "model" / "artifact.json").read_text())
    meta["config"]["data"]["split_seed"] = 5
    (other / "model" / "artifact.json").write_text(json.dumps(meta))
    write_manifest(other / "model")  # a consistent artifact of another split, not a corrupt one
    with pytest.raises(ConfigError, match="validation samples differ"):
        choose([runs[0], other])


def test_decode_of_a_classifier_names_probability_columns() -> None:
    from medrnn.records import MoleculeTable
    from medrnn.tasks.base import InputItem

    task = get_task("molecules")
    pipeline = SmilesPipeline.from_state_dict({"vocabulary": {"tokens": ["<pad>", "<unk>", "<bos>", "<eos>"]}, "target_scaler": None,
                                               "task_type": "classification", "label_names": ["p_np"]})  # fmt: skip
    table = MoleculeTable(("CCO", "CCN"), ("OCC", "NCC"), np.array([0, 3]), np.zeros((2, 0)), (), ("m1", "m1"), "x.csv")
    rows = task.decode(InputItem("x.csv", table), Scores(np.array([[0.25], [0.5]])), pipeline)
    base = {"item_id": "x.csv", "id": "m1", "oov_tokens": ""}
    assert rows == [{**base, "row": 0, "smiles": "OCC", "canonical_smiles": "CCO", "p_p_np": 0.25},
                    {**base, "row": 3, "smiles": "NCC", "canonical_smiles": "CCN", "p_p_np": 0.5}]  # fmt: skip
    assert task.columns(pipeline) == ["item_id", "row", "id", "smiles", "canonical_smiles", "p_p_np", "oov_tokens"]
    assert pipeline.output_kind == "binary"
    pipeline.threshold = 0.4  # a tuned threshold adds the predicted class beside each probability
    scores = Scores(np.array([[0.25], [0.5]]), {"tokens": [["C", "C", "O"], ["C", "C", "N"]]})
    rows = task.decode(InputItem("x.csv", table), scores, pipeline)
    assert [(r["p_p_np"], r["pred_p_np"], r["oov_tokens"]) for r in rows] == [(0.25, 0, "C C O"), (0.5, 1, "C C N")]
    assert task.columns(pipeline)[5:] == ["p_p_np", "pred_p_np", "oov_tokens"]


def test_unknown_tokens_and_far_molecules_are_flagged(runs: list[Path], tmp_path: Path) -> None:
    """A molecule with a token the model never saw says which; one unlike every training molecule is out of domain."""
    from medrnn.predict import Predictor

    mols = tmp_path / "far.csv"
    train_like = json.loads((runs[0] / "metrics.json").read_text())
    assert train_like["applicability_domain"]["n_in_domain"] + train_like["applicability_domain"]["n_out_of_domain"] > 0
    mols.write_text("smiles\nC[Se]C\nO=C(N[C@@H](Cc1c[nH]c2ccccc12)C(=O)N[C@@H](CCCNC(=N)N)C(=O)O)c1ccc2ccccc2n1\nCCO\n")  # a peptide: far
    rows = Predictor.from_artifact(runs[0]).predict([mols]).rows()
    assert "[Se]" in rows[0]["oov_tokens"].split() and rows[2]["oov_tokens"] == ""
    assert 0 <= rows[1]["nn_similarity"] < 0.4 and rows[1]["in_domain"] is False
    assert rows[2]["nn_similarity"] > 0 and all(isinstance(r["in_domain"], bool) for r in rows)


def test_balanced_threshold_uses_the_labels_it_is_given() -> None:
    """The tuning function sees only the labels passed (validation in the run): other labels give another threshold."""
    from medrnn.tasks.molecules.decision import balanced_threshold

    scores = np.array([[0.1], [0.2], [0.3], [0.6], [0.7], [0.9]])
    t_val, value = balanced_threshold(np.array([0, 0, 0, 1, 1, 1.0]), scores)
    assert 0.3 < t_val <= 0.6 and value == 1.0
    t_other, _ = balanced_threshold(np.array([0, 1, 1, 1, 1, 1.0]), scores)
    assert t_other <= 0.2 and t_other != t_val
    assert balanced_threshold(np.array([[np.nan], [1.0]]), np.array([[0.2], [0.8]])) == (0.5, pytest.approx(float("nan"), nan_ok=True))


def test_split_file_reproduces_a_runs_split_and_refuses_bad_files(runs: list[Path], tmp_path: Path) -> None:
    """RUN/split.json given back as --split-file gives the same parts under another seed; bad files name the problem."""
    from medrnn.errors import ConfigError
    from medrnn.train.run import run_task

    task = get_task("molecules")
    recorded = json.loads((runs[0] / "split.json").read_text())
    cfg = task.quick_config().model_copy(deep=True)
    cfg.train.seed, cfg.data.split_file, cfg.train.explain = 7, str(runs[0] / "split.json"), 0
    run_task(task, cfg, tmp_path / "again", progress=False)
    assert json.loads((tmp_path / "again" / "split.json").read_text()) == recorded
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["data"]["split_file"]["rows_in_no_part"] == 0
    data = task.load(cfg)
    for text, message in (('{"train": [0, 1], "val": [1], "test": [2]}', "row 1 is in both train and val"),
                          ('{"train": [0], "dev": [1], "test": [2]}', "part 'dev': expected one of"),
                          ('{"train": [0], "val": [1], "test": [99999]}', "row 99999 is not a data row")):  # fmt: skip
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        cfg.data.split_file = str(bad)
        with pytest.raises(ConfigError, match=message):
            task.split(data, cfg)
    csv_file = tmp_path / "split.csv"
    csv_file.write_text("row,split\n0,train\n1,valid\n2,test\n3,train\n")
    cfg.data.split_file = str(csv_file)
    split = task.split(data, cfg)
    assert [len(p) for p in split] == [2, 1, 1] and data.info["split_file"]["rows_in_no_part"] == len(data) - 4
