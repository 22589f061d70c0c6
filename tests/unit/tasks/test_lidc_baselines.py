"""The LIDC volume baselines through the CLI: `medrnn train lidc --quick --model resnet3d|resnet2p5d` (the quick sizes
of the slice model's own fields go back to their defaults, the shared ones stay), a narrow network, one epoch; then
the artifact predicts a real nodule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from medrnn import paths
from medrnn.cli.main import main
from medrnn.predict import Predictor

pytest.importorskip("monai")


@pytest.mark.parametrize("model", ["resnet3d", "resnet2p5d"])
def test_baseline_is_selectable_and_predicts(model: str, tmp_path: Path) -> None:
    folder = paths.dataset_dir("lidc-nodules")
    if not (folder / "nodules.csv").exists():
        pytest.skip(f"lidc-nodules not under the data root ({folder})")
    out = tmp_path / "run"
    code = main(["train", "lidc", "--quick", "--model", model, "--max-patients", "24", "--set", "model.widen_factor=0.125",
                 "--set", "train.explain=0", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["name"] == model and saved["model"]["attention_size"] == 32  # slice-model field: back to default
    meta = json.loads((out / "model" / "artifact.json").read_text())
    assert meta["model"]["name"] == model and meta["model"]["widen_factor"] == 0.125
    rows = Predictor.from_artifact(out).predict([folder / "LIDC-IDRI-0003" / "nodule-0"]).rows()
    assert 0.0 <= rows[0]["p_malignant"] <= 1.0 and rows[0]["slice_attention"] == ""  # no slice attention in a 3-D network
