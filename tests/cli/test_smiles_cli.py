"""The SMILES job through the CLI on real BBBP rows: train -> run folder -> report -> predict a CSV with bad rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from medrnn.cli.main import main


@pytest.fixture(scope="module")
def smiles_run(moleculenet_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("smiles")
    lines = (moleculenet_dir / "BBBP.csv").read_text().splitlines()
    (out / "bbbp_head.csv").write_text("\n".join(lines[:201]) + "\n")  # 200 real rows, rows 59 and 61 unparsable
    cfg = {"model": {"hidden_size": 16, "embedding_dim": 16, "attention_size": 8, "head_hidden": 16},
           "train": {"max_epochs": 2, "batch_size": 32}, "data": {"tta": 2}, "bootstrap": 30}  # fmt: skip
    (out / "in.yaml").write_text(yaml.safe_dump(cfg))
    code = main(["train", "smiles", "-c", str(out / "in.yaml"), "--data", str(out / "bbbp_head.csv"), "--target", "p_np",
                 "--split", "scaffold", "--seed", "2", "--out", str(out / "run"), "--no-progress"])  # fmt: skip
    assert code == 0
    return out / "run"


def test_train_smiles_writes_a_complete_run_folder(smiles_run: Path) -> None:
    for name in ("config.yaml", "metrics.json", "predictions.npz", "attention.json", "report.html", "model/weights.safetensors",
                 "RUN_COMPLETE"):  # fmt: skip
        assert (smiles_run / name).exists(), name
    metrics = json.loads((smiles_run / "metrics.json").read_text())
    assert metrics["task"] == "molecules" and metrics["task_type"] == "classification" and metrics["output_kind"] == "binary"
    assert metrics["data"]["split"]["kind"] == "scaffold" and metrics["split"]["seed"] == 2
    assert sum(metrics["split"]["counts"].values()) == 198
    assert metrics["test"]["unit"] == "scaffolds"  # the bootstrap resamples whole scaffolds
    assert metrics["data"]["read"]["n_rejected"] == 2 and [r["row"] for r in metrics["data"]["read"]["rejected"]] == [59, 61]
    saved = yaml.safe_load((smiles_run / "config.yaml").read_text())
    assert saved["data"]["targets"] == ["p_np"] and saved["train"]["seed"] == 2 and saved["model"]["hidden_size"] == 16
    meta = json.loads((smiles_run / "model" / "artifact.json").read_text())
    assert meta["task"] == "molecules" and meta["class_names"] == ["p_np"]
    assert meta["preprocessing"]["vocabulary"]["tokens"][:2] == ["<pad>", "<unk>"] and meta["preprocessing"]["tta"] == 2
    attention = json.loads((smiles_run / "attention.json").read_text())
    assert all(len(a["tokens"]) == len(a["weights"]) and abs(sum(a["weights"]) - 1) < 1e-3 for a in attention)
    assert {a["group"] for a in attention} <= {"most confident correct", "most confident wrong"}
    html = (smiles_run / "report.html").read_text()
    assert "p_np" in html and "most confident" in html


def test_predict_scores_good_rows_and_reports_bad_ones(smiles_run: Path, tmp_path: Path) -> None:
    mols = tmp_path / "new.csv"
    mols.write_text("compound,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\nbroken,C1CC\ncaffeine,Cn1cnc2c1c(=O)n(C)c(=O)n2C\n")
    out = tmp_path / "scores.csv"
    code = main(["predict", "--artifact", str(smiles_run / "model"), str(mols), "--id-column", "compound", "--out", str(out)])
    assert code == 1  # one row could not be parsed: reported, and the exit code says so
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["aspirin", "caffeine"] and 0 <= float(rows[0]["p_p_np"]) <= 1  # p_<task>, the task being p_np
    assert list(rows[0]) == ["item_id", "row", "id", "smiles", "canonical_smiles", "p_p_np", "pred_p_np", "nn_similarity", "in_domain",
                             "oov_tokens"] and [r["row"] for r in rows] == ["0", "2"]  # fmt: skip
    assert rows[0]["pred_p_np"] in ("0", "1") and rows[0]["in_domain"] in ("True", "False")
    errors = json.loads(out.with_suffix(".errors.json").read_text())
    (bad,) = errors[str(mols)]["rejected"]
    assert bad["row"] == 1 and "unclosed ring" in bad["reason"]


def test_train_smiles_needs_targets_for_a_plain_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv"
    path.write_text("smiles,y\nCCO,1\n")
    assert main(["train", "smiles", "--data", str(path), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "--target" in capsys.readouterr().err


def test_pretrain_and_descriptor_flags_set_their_fields(moleculenet_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    lines = (moleculenet_dir / "delaney-processed.csv").read_text().splitlines()
    (tmp_path / "corpus.csv").write_text("\n".join(lines[:201]) + "\n")  # a small LM corpus (ESOL molecules)
    (tmp_path / "train.csv").write_text("\n".join((moleculenet_dir / "BBBP.csv").read_text().splitlines()[:81]) + "\n")
    cfg = {"model": {"hidden_size": 16, "embedding_dim": 16, "attention_size": 8, "head_hidden": 16},
           "pretrain": {"corpus": [str(tmp_path / "corpus.csv")], "epochs": 1, "batch_size": 32},
           "train": {"max_epochs": 1, "batch_size": 32}, "data": {"tta": 0}, "bootstrap": 10}  # fmt: skip
    (tmp_path / "in.yaml").write_text(yaml.safe_dump(cfg))
    args = ["train", "smiles", "-c", str(tmp_path / "in.yaml"), "--data", str(tmp_path / "train.csv"), "--target", "p_np", "--no-progress",
            "--no-report"]  # fmt: skip
    assert main([*args, "--pretrain", "--out", str(tmp_path / "lm")]) == 0
    metrics = json.loads((tmp_path / "lm" / "metrics.json").read_text())
    assert metrics["model_init"]["pretrain"]["corpus_molecules"] > 150  # ESOL rows minus any molecule of the training file
    assert yaml.safe_load((tmp_path / "lm" / "config.yaml").read_text())["pretrain"]["enabled"] is True
    assert main([*args, "--descriptors", "ecfp4", "--out", str(tmp_path / "plain")]) == 0
    assert json.loads((tmp_path / "plain" / "metrics.json").read_text())["model_init"]["pretrain"] is None
    assert yaml.safe_load((tmp_path / "plain" / "config.yaml").read_text())["data"]["descriptors"] == "ecfp4"
    prep = json.loads((tmp_path / "plain" / "model" / "artifact.json").read_text())["preprocessing"]
    assert prep["ecfp4"] is True and prep["descriptors"] is None  # the fingerprint bits alone, no RDKit descriptors


def test_batch_survives_poisoned_files_and_a_molecule_that_crashed_rdkit(smiles_run: Path, moleculenet_dir: Path, poisoned: list[str],
                                                                         batch_survives, tmp_path: Path) -> None:  # fmt: skip
    import gzip

    good = tmp_path / "good.csv"
    good.write_text("smiles\nCC(=O)Oc1ccccc1C(=O)O\n")
    chain = tmp_path / "chain.csv"
    chain.write_text("smiles\nCCO\n" + "C" * 20_000 + "\n")  # a 20,000-atom chain made RDKit segfault; now the row is refused
    truncated = tmp_path / "truncated.csv.gz"
    whole = gzip.compress((moleculenet_dir / "BBBP.csv").read_bytes())
    truncated.write_bytes(whole[: len(whole) // 2])  # a download cut midway
    rows = batch_survives(smiles_run / "model", [str(good), str(chain)], [*poisoned, str(truncated)])
    assert [r["smiles"] for r in rows] == ["CC(=O)Oc1ccccc1C(=O)O", "CCO"]


def test_explain_draws_molecules_and_reports_bad_rows(smiles_run: Path, tmp_path: Path) -> None:
    mols = tmp_path / "new.csv"
    mols.write_text("compound,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\nbroken,C1CC\ncaffeine,Cn1cnc2c1c(=O)n(C)c(=O)n2C\n")
    out = tmp_path / "why"
    code = main(["explain", "--artifact", str(smiles_run / "model"), str(mols), "--id-column", "compound", "--out", str(out), "--check"])
    assert code == 1  # the unparsable row is reported, the two good ones explained
    index = json.loads((out / "index.json").read_text())
    assert index["method"] == "ig" and index["failures"][str(mols)]["rejected"]
    doc = json.loads((out / index["items"][0]["json"]).read_text())
    assert [e["sample_id"] for e in doc["explanations"]] == ["aspirin", "caffeine"]
    first = doc["explanations"][0]
    assert first["axes"] == ["token"] and len(first["attributions"]["p_np"]) == len(first["axis_labels"]["token"])
    assert all((out / name).read_bytes()[:4] == b"\x89PNG" for name in index["items"][0]["figures"])
    assert {"deletion_auc", "deletion_auc_random", "sanity_rank_corr"} <= set(index["faithfulness"])
    assert main(["explain", "--artifact", str(smiles_run / "model"), str(mols), "--method", "lime", "--out", str(out)]) == 2
