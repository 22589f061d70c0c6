"""`medrnn train lidc --labels rating`: the mean of the radiologists' malignancy ratings as a regression output, every
nodule kept (indeterminate too); RMSE/MAE, and the AUROC of the predicted rating for benign vs malignant; predict
writes the rating."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medrnn import paths
from medrnn.cli.main import main
from medrnn.io.lidc import read_lidc_table
from medrnn.predict import Predictor
from medrnn.tasks.base import get_task
from medrnn.tasks.lidc_nodules.config import LidcRunConfig


@pytest.fixture(scope="module")
def lidc_dir() -> Path:
    folder = paths.dataset_dir("lidc-nodules")
    if not (folder / "nodules.csv").exists():
        pytest.skip(f"lidc-nodules not under the data root ({folder})")
    return folder


def test_rating_targets_keep_every_nodule(lidc_dir: Path) -> None:
    task = get_task("lidc")
    cfg = task.quick_config().model_dump()
    cfg["data"].update({"max_patients": 20, "labels": "rating"})
    data = task.load(LidcRunConfig.model_validate(cfg))
    rows = {r.nodule_id: r for r in read_lidc_table(lidc_dir)}
    assert data.info["left_out_by_label"] == {} and "indeterminate" in data.samples.labels
    for nodule, y in zip(data.samples.ids, data.samples.y):
        assert y == pytest.approx(np.mean(rows[nodule].malignancy_ratings))  # the mean, not the median
    config = LidcRunConfig.model_validate(cfg)
    pipeline = task.fit_pipeline(data, task.split(data, config), config)
    assert pipeline.output_kind == "regression" and pipeline.label_names == ["malignancy_rating"]
    assert 1 < pipeline.target_mean_ < 5 and np.allclose(pipeline.unscale(pipeline.scale_targets(data.samples.y)), data.samples.y)


def test_rating_run_scores_rmse_mae_and_the_benign_malignant_auroc(lidc_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["train", "lidc", "--quick", "--labels", "rating", "--max-patients", "40", "--set", "train.explain=0",
                 "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    assert test["output_kind"] == "regression" and {"rmse", "mae"} <= set(test["overall"])
    assert 0 < test["overall"]["rmse"] < 4
    auc = test["extras"]["benign_vs_malignant"]
    assert 0 < auc["n"] < test["n_samples"] or auc["n"] == test["n_samples"]
    assert auc["auroc"] is None or 0.0 <= auc["auroc"] <= 1.0
    row = Predictor.from_artifact(out).predict([lidc_dir / "LIDC-IDRI-0003" / "nodule-0"]).rows()[0]
    assert "malignancy_rating" in row and np.isfinite(row["malignancy_rating"]) and "p_malignant" not in row


def test_a_rating_outside_1_to_5_names_the_line_and_field(lidc_dir: Path, tmp_path: Path) -> None:
    from medrnn.errors import InvalidRecordError

    lines = (lidc_dir / "nodules.csv").read_text().splitlines()
    header, row = lines[0], lines[1].split(",")
    row[header.split(",").index("malignancy_ratings")] = "5 6"
    (tmp_path / "nodules.csv").write_text("\n".join([header, ",".join(row)]) + "\n")
    with pytest.raises(InvalidRecordError, match=r"line 2: malignancy_ratings '5 6'; expected .* from 1 to 5"):
        read_lidc_table(tmp_path)
