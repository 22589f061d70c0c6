"""Artifacts: safetensors + JSON round trip, checksum, version refusal, no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medrnn.artifact import META, WEIGHTS, load_artifact, read_metadata, save_artifact
from medrnn.data.batch import make_batch
from medrnn.errors import ArtifactError
from medrnn.models import create_model


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    model = create_model("gru", input_size=1, num_classes=3, hidden_size=8, attention=True, num_static=2).eval()
    path = save_artifact(tmp_path / "model", model, {"beats": {"lead": "MLII"}}, ["N", "S", "V"], ["mitdb/101", "mitdb/106"])
    return path, model


def test_round_trip_gives_identical_predictions(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    loaded, meta = load_artifact(path)
    batch = make_batch(torch.randn(4, 20, 1), static=torch.randn(4, 2))
    assert torch.equal(loaded(batch).logits, model(batch).logits)
    assert meta["class_names"] == ["N", "S", "V"]
    assert meta["preprocessing"]["beats"]["lead"] == "MLII"
    assert len(meta["training_data"]["sha256"]) == 64
    assert sorted(p.name for p in path.iterdir()) == [META, WEIGHTS]


def test_tampered_weights_are_refused(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    raw = bytearray((path / WEIGHTS).read_bytes())
    raw[-1] ^= 0xFF
    (path / WEIGHTS).write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(path)


def test_newer_major_version_is_refused_with_upgrade_hint(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    meta = json.loads((path / META).read_text())
    meta["medrnn_version"] = "99.0.0"
    (path / META).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="newer major version.*upgrade"):
        read_metadata(path)


def test_not_an_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a medrnn artifact"):
        load_artifact(tmp_path)
    (tmp_path / META).write_text("{not json")
    (tmp_path / WEIGHTS).write_bytes(b"")
    with pytest.raises(ArtifactError, match="corrupt JSON"):
        load_artifact(tmp_path)
