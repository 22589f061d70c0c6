"""One self-describing model artifact: a folder with weights.safetensors and artifact.json. No pickle anywhere."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from medrnn import __version__
from medrnn.errors import ArtifactError

FORMAT = "medrnn-artifact"
FORMAT_VERSION = 1
WEIGHTS = "weights.safetensors"
META = "artifact.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_hash(items: list[str]) -> str:
    """Order-independent hash of the training data list (record ids, file names)."""
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


def save_artifact(
    path: str | Path,
    model: nn.Module,
    preprocessing: dict[str, Any],
    class_names: list[str],
    training_data: list[str],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write weights (safetensors) and everything needed to use them (JSON) into folder `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path / WEIGHTS)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "medrnn_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": getattr(model, "config", {}),
        "preprocessing": preprocessing,
        "class_names": list(class_names),
        "training_data": {"items": sorted(training_data), "sha256": data_hash(training_data)},
        "weights_sha256": _sha256(path / WEIGHTS),
        **(extra or {}),
    }
    (path / META).write_text(json.dumps(meta, indent=2))
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read and check artifact.json: format, version compatibility and weights checksum."""
    path = Path(path)
    meta_file, weights = path / META, path / WEIGHTS
    if not meta_file.exists() or not weights.exists():
        raise ArtifactError(f"{path}: not a medrnn artifact (expected {META} and {WEIGHTS}; train one with `medrnn train`)")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{meta_file}: corrupt JSON ({err})") from err
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{meta_file}: field 'format' is {meta.get('format')!r}, expected {FORMAT!r}")
    theirs = str(meta.get("medrnn_version", "0"))
    if int(theirs.split(".")[0]) > int(__version__.split(".")[0]):
        raise ArtifactError(
            f"{meta_file}: written by medrnn {theirs}, newer major version than this medrnn {__version__}; "
            "upgrade medrnn (pip install -U medrnn) to load it"
        )
    actual = _sha256(weights)
    if actual != meta.get("weights_sha256"):
        raise ArtifactError(
            f"{weights}: checksum {actual[:12]}... does not match {META} ({str(meta.get('weights_sha256'))[:12]}...); "
            "the file is corrupt or was modified"
        )
    return meta


def load_artifact(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from its config, load verified weights, return (model in eval mode, metadata)."""
    from medrnn.models import create_model  # models import torch-heavy code; keep artifact import light

    meta = read_metadata(path)
    config = dict(meta["model"])
    name = config.pop("name", None)
    if name is None:
        raise ArtifactError(f"{Path(path) / META}: field 'model.name' missing")
    model = create_model(name, **config)
    try:
        model.load_state_dict(load_file(Path(path) / WEIGHTS, device=str(device)))
    except RuntimeError as err:
        raise ArtifactError(f"{Path(path) / WEIGHTS}: weights do not fit model config {meta['model']}: {err}") from err
    return model.to(device).eval(), meta
