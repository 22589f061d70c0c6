"""Artifacts: safetensors + JSON round trip, manifest over every file, schema, no identifiers, every tampering refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from medrnn.artifact import MANIFEST, META, WEIGHTS, _sha256, load_artifact, read_metadata, save_artifact, trained_on, write_manifest
from medrnn.data.batch import make_batch
from medrnn.errors import ArtifactError
from medrnn.models import create_model

TRAINING = ["mitdb/101", "mitdb/106"]


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    model = create_model("gru", input_size=1, num_classes=3, hidden_size=8, attention=True, num_static=2).eval()
    path = save_artifact(tmp_path / "model", model, {"beats": {"lead": "MLII"}}, ["N", "S", "V"], TRAINING, extra={"task": "ecg_beats"})
    return path, model


def resign(path: Path) -> None:
    """Recompute the weights checksum and the manifest, as a tamperer who knows the format would."""
    meta_text = (path / META).read_bytes()
    try:
        meta = json.loads(meta_text)
        if isinstance(meta, dict) and "weights_sha256" in meta and (path / WEIGHTS).is_file():
            meta["weights_sha256"] = _sha256(path / WEIGHTS)
            (path / META).write_text(json.dumps(meta))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        pass
    (path / MANIFEST).unlink()
    write_manifest(path)


def test_round_trip_gives_identical_predictions(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    loaded, meta = load_artifact(path)
    batch = make_batch(torch.randn(4, 20, 1), static=torch.randn(4, 2))
    assert torch.equal(loaded(batch).logits, model(batch).logits)
    assert meta["class_names"] == ["N", "S", "V"] and meta["format_version"] == 2
    assert meta["preprocessing"]["beats"]["lead"] == "MLII"
    assert sorted(p.name for p in path.iterdir()) == [META, MANIFEST, WEIGHTS]


def test_training_ids_are_a_salted_hash_and_a_count(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    text = "".join(p.read_text(errors="replace") for p in path.iterdir())
    assert not any(unit in text for unit in TRAINING)
    meta = read_metadata(path)
    assert meta["training_data"]["count"] == 2 and set(meta["training_data"]) == {"count", "salt", "sha256"}
    assert trained_on(meta, list(reversed(TRAINING))) and not trained_on(meta, TRAINING[:1]) and not trained_on(meta, [*TRAINING, "x"])


def test_tampered_weights_are_refused(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    raw = bytearray((path / WEIGHTS).read_bytes())
    raw[-1] ^= 0xFF
    (path / WEIGHTS).write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(path)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    def edit(meta: dict[str, Any]) -> dict[str, Any]:
        meta[key] = value
        return meta

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], Any]:
    def edit(meta: dict[str, Any]) -> dict[str, Any]:
        del meta[key]
        return meta

    return edit


def _model_arg(meta: dict[str, Any]) -> dict[str, Any]:
    meta["model"]["no_such_argument"] = 3
    return meta


def _huge_model(meta: dict[str, Any]) -> dict[str, Any]:
    meta["model"]["hidden_size"] = 10**9
    return meta


EDITS = {
    "dev-build version": (_set("medrnn_version", "dev-build"), "medrnn_version"),
    "format_version 99": (_set("format_version", 99), "format_version 99 is newer"),
    "format_version 0": (_set("format_version", 0), "format_version"),
    "missing class_names": (_drop("class_names"), "class_names"),
    "missing training_data": (_drop("training_data"), "training_data"),
    "unknown key": (_set("surprise", 1), "surprise"),
    "training ids restored": (_set("training_data", {"items": TRAINING}), "training_data"),
    "list instead of object": (lambda meta: [meta], "expected an object"),
    "unknown model argument": (_model_arg, "no_such_argument"),
    "absurd model size": (_huge_model, "does not build a model|do not fit model config"),
    "unknown task": (_set("task", "astrology"), "field 'task'"),
    "class names renamed": (_set("class_names", ["N", "S", "Q"]), None),  # valid once re-signed; unsigned it must be refused
}


@pytest.mark.parametrize("name", EDITS)
def test_edited_metadata_is_refused_unsigned_and_resigned(saved: tuple[Path, torch.nn.Module], name: str) -> None:
    from medrnn.predict import Predictor

    path, _ = saved
    edit, message = EDITS[name]
    (path / META).write_text(json.dumps(edit(json.loads((path / META).read_text()))))
    with pytest.raises(ArtifactError, match="does not match manifest"):
        Predictor.from_artifact(path)
    if message is not None:
        resign(path)
        with pytest.raises(ArtifactError, match=message):
            Predictor.from_artifact(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|corrupt JSON"),
        (b"{not json", "corrupt JSON"),
    ],  # fmt: skip
)
def test_unreadable_metadata_is_refused(saved: tuple[Path, torch.nn.Module], content: bytes, message: str) -> None:
    path, _ = saved
    (path / META).write_bytes(content)
    resign(path)
    with pytest.raises(ArtifactError, match=message):
        load_artifact(path)


def test_weights_that_are_a_folder_or_extra_files_or_no_manifest_are_refused(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    (path / "notes.txt").write_text("added later")
    with pytest.raises(ArtifactError, match="not in manifest.json"):
        load_artifact(path)
    (path / "notes.txt").unlink()
    (path / WEIGHTS).unlink()
    (path / WEIGHTS).mkdir()
    with pytest.raises(ArtifactError, match="folder|unreadable"):
        load_artifact(path)
    (path / WEIGHTS).rmdir()
    with pytest.raises(ArtifactError, match="not a medrnn artifact"):
        load_artifact(path)


def test_missing_manifest_means_incomplete(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    (path / MANIFEST).unlink()
    with pytest.raises(ArtifactError, match="not completely written"):
        load_artifact(path)


def test_non_finite_weights_are_refused_at_save_and_at_load(saved: tuple[Path, torch.nn.Module], tmp_path: Path) -> None:
    path, model = saved
    tensors = load_file(path / WEIGHTS)
    first = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[first][0] = float("nan")
    save_file(tensors, path / WEIGHTS)
    resign(path)  # a valid checksum over NaN weights
    with pytest.raises(ArtifactError, match=f"non-finite weights in {first}"):
        load_artifact(path)
    with torch.no_grad():
        next(model.parameters()).fill_(float("inf"))
    with pytest.raises(ArtifactError, match="non-finite weights"):
        save_artifact(tmp_path / "bad", model, {}, ["a"], ["x"], extra={"task": "ecg_beats"})
    assert not (tmp_path / "bad").exists()


def test_not_an_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a medrnn artifact"):
        load_artifact(tmp_path)
    (tmp_path / META).write_text(json.dumps({"format": "medrnn-artifact", "format_version": 1}))
    (tmp_path / WEIGHTS).write_bytes(b"")
    with pytest.raises(ArtifactError, match="format_version 1 .*retrain"):
        load_artifact(tmp_path)
