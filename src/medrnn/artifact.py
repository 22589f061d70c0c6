"""One self-describing model artifact: a folder with weights.safetensors, artifact.json and manifest.json. No pickle.

artifact.json is typed by a pydantic schema (format version checked, unknown keys refused); manifest.json, written
last, holds the SHA-256 of every other file, so a half-written, edited or corrupted folder is refused as a whole.
Training data are recorded as a count and a salted hash of the sorted unit ids, never the ids themselves.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from medrnn import __version__
from medrnn.atomic import atomic_dir
from medrnn.errors import ArtifactError, MedrnnError

FORMAT = "medrnn-artifact"
FORMAT_VERSION = 2
WEIGHTS = "weights.safetensors"
META = "artifact.json"
MANIFEST = "manifest.json"
MAX_JSON_BYTES = 64 << 20  # an artifact.json holds vocabularies and thresholds, never more than a few MB


class TrainingData(BaseModel):
    """What the model was trained on, without identifiers: the number of units and a salted hash of their ids."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    salt: str = Field(pattern=r"^[0-9a-f]{32}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ArtifactMeta(BaseModel):
    """The schema of artifact.json (format version 2)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["medrnn-artifact"]
    format_version: Literal[2]
    medrnn_version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?([.+-][0-9A-Za-z.+-]*)?$")
    created: datetime
    task: str = Field(min_length=1)
    model: dict[str, Any]
    preprocessing: dict[str, Any]
    class_names: list[str]
    training_data: TrainingData
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    config: dict[str, Any] | None = None
    best_val: dict[str, float | None] = Field(default_factory=dict)
    uncertainty: dict[str, Any] | None = None  # calibrator + conformal validation scores (medrnn.uncertainty); absent in older artifacts
    transfer: dict[str, Any] | None = None  # `medrnn pretrain` artifacts: {"parameters": [the pretrained ones], "pretrain": stats}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as err:
        raise ArtifactError(f"{path}: unreadable ({type(err).__name__}: {err})") from err
    return digest.hexdigest()


def data_hash(items: list[str], salt: str = "") -> str:
    """Order-independent (salted) hash of a list of unit ids (record ids, file names)."""
    payload = "\n".join(sorted(map(str, items)))
    return hashlib.sha256((f"{salt}\n{payload}" if salt else payload).encode()).hexdigest()


def training_data_record(items: list[str]) -> dict[str, Any]:
    """{count, salt, sha256} for the training units: enough to check a claimed id list, not to recover one."""
    salt = secrets.token_hex(16)
    return {"count": len(set(items)), "salt": salt, "sha256": data_hash(sorted(set(map(str, items))), salt)}


def trained_on(meta: dict[str, Any], items: list[str]) -> bool:
    """True when `items` are exactly the units the artifact was trained on."""
    record = meta.get("training_data") or {}
    unique = sorted(set(map(str, items)))
    return record.get("count") == len(unique) and data_hash(unique, str(record.get("salt", ""))) == record.get("sha256")


def redact_ids(config: dict[str, Any], units: list[str]) -> dict[str, Any]:
    """The config with every list naming data units (record ids, file names) replaced by {"redacted": count, "sha256"}."""
    known = set(map(str, units))
    salt = secrets.token_hex(16)

    def scrub(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: scrub(v) for k, v in node.items()}
        if isinstance(node, list) and node and all(isinstance(v, str) for v in node) and known & set(node):
            return {"redacted": len(node), "salt": salt, "sha256": data_hash(node, salt)}
        return node

    return scrub(config)


def is_redacted(config: Any) -> bool:
    """True when a config holds id lists replaced by `redact_ids`."""
    if isinstance(config, dict):
        return "redacted" in config and "sha256" in config or any(is_redacted(v) for v in config.values())
    return False


def non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating tensors holding NaN or infinity."""
    return [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def save_artifact(
    path: str | Path,
    model: nn.Module,
    preprocessing: dict[str, Any],
    class_names: list[str],
    training_data: list[str],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write weights (safetensors), artifact.json and manifest.json into folder `path`, all at once (temp folder + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad = non_finite(tensors)
    if bad:
        raise ArtifactError(f"{path}: refusing to save a model with non-finite weights in {', '.join(bad[:5])} (training diverged)")
    with atomic_dir(path) as tmp:
        save_file(tensors, tmp / WEIGHTS)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "medrnn_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": getattr(model, "config", {}),
            "preprocessing": preprocessing,
            "class_names": list(class_names),
            "training_data": training_data_record(training_data),
            "weights_sha256": _sha256(tmp / WEIGHTS),
            **(extra or {}),
        }
        try:
            ArtifactMeta.model_validate(meta)
        except ValidationError as err:
            raise ArtifactError(f"{path}: artifact metadata does not fit the schema: {_errors(err)}") from None
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        write_manifest(tmp)
    return path


def write_manifest(folder: Path) -> None:
    """manifest.json: the SHA-256 of every other file in the folder (written last)."""
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({"format": "medrnn-manifest", "files": files}, indent=2), encoding="utf-8")


def _errors(err: ValidationError) -> str:
    return "; ".join(f"field {'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in err.errors()[:8])


def _read_json(path: Path, what: str) -> Any:
    try:
        if path.is_dir():
            raise ArtifactError(f"{path}: is a folder, expected the {what} file")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ArtifactError(f"{path}: {path.stat().st_size:,} bytes, more than any {what} ({MAX_JSON_BYTES:,}); not a medrnn file")
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ArtifactError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); expected the {what} JSON") from err
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path}: corrupt JSON ({err})") from err
    except RecursionError as err:
        raise ArtifactError(f"{path}: JSON nested too deeply to be a {what}") from err
    except ValueError as err:  # e.g. an integer of thousands of digits (Python's int conversion limit)
        raise ArtifactError(f"{path}: not a valid {what} ({err})") from err
    except OSError as err:
        raise ArtifactError(f"{path}: unreadable {what} ({type(err).__name__}: {err})") from err


def verify_manifest(path: Path) -> None:
    """Every file of the folder listed in manifest.json with a matching checksum, and no file unlisted."""
    manifest = _read_json(path / MANIFEST, "manifest")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ArtifactError(f"{path / MANIFEST}: field 'files' must map file names to SHA-256 checksums")
    present = {p.name for p in path.iterdir() if p.name != MANIFEST}
    unlisted, missing = sorted(present - set(files)), sorted(set(files) - present)
    if missing:
        raise ArtifactError(f"{path}: files {missing} listed in {MANIFEST} are missing; the artifact is incomplete")
    if unlisted:
        raise ArtifactError(f"{path}: files {unlisted} are not in {MANIFEST}; the folder was modified after it was written")
    for name, expected in files.items():
        actual = _sha256(path / name)
        if actual != expected:
            raise ArtifactError(f"{path / name}: checksum {actual[:12]}... does not match {MANIFEST} ({expected[:12]}...); "
                                "the file is corrupt or was modified")  # fmt: skip


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read and check an artifact folder: manifest checksums, then artifact.json against the schema and version."""
    path = Path(path)
    if not path.is_dir() or not (path / META).exists() or not (path / WEIGHTS).exists():
        raise ArtifactError(f"{path}: not a medrnn artifact (expected {META} and {WEIGHTS}; train one with `medrnn train`)")
    if not (path / MANIFEST).exists():
        meta = _read_json(path / META, "artifact metadata")
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise ArtifactError(f"{path}: no {MANIFEST}" + (f"; format_version {version} artifacts (medrnn <= 0.1) stored training ids and "
                                                       "cannot be verified; retrain with this medrnn" if version == 1 else
                                                       "; the artifact was not completely written or files were removed"))  # fmt: skip
    verify_manifest(path)
    meta = _read_json(path / META, "artifact metadata")
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path / META}: holds a JSON {type(meta).__name__}, expected an object")
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{path / META}: field 'format' is {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise ArtifactError(f"{path / META}: format_version {version} is newer than this medrnn reads ({FORMAT_VERSION}); "
                            "upgrade medrnn (pip install -U medrnn) to load it")  # fmt: skip
    theirs = str(meta.get("medrnn_version", ""))
    major = theirs.split(".")[0]
    if major.isascii() and major.isdigit() and (len(major) > 6 or int(major) > int(__version__.split(".")[0])):
        raise ArtifactError(f"{path / META}: written by medrnn {theirs[:40]}, newer major version than this medrnn {__version__}; "
                            "upgrade medrnn (pip install -U medrnn) to load it")  # fmt: skip
    try:
        ArtifactMeta.model_validate(meta)
    except ValidationError as err:
        raise ArtifactError(f"{path / META}: {_errors(err)}") from None
    if meta["weights_sha256"] != _sha256(path / WEIGHTS):
        raise ArtifactError(f"{path / WEIGHTS}: checksum does not match field 'weights_sha256' of {META}")
    return meta


def _weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except Exception as err:  # safetensors raises its own SafetensorError for a malformed header
        raise ArtifactError(f"{path}: not a readable safetensors file ({type(err).__name__}: {err})") from err


def load_artifact(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from its config, load verified finite weights, return (model in eval mode, metadata)."""
    from safetensors.torch import load_file

    from medrnn.models import create_model  # models import torch-heavy code; keep artifact import light

    path = Path(path)
    meta = read_metadata(path)
    config = dict(meta["model"])
    name = config.pop("name", None)
    if not isinstance(name, str):
        raise ArtifactError(f"{path / META}: field 'model.name' missing or not a string")
    shapes = _weight_shapes(path / WEIGHTS)
    try:
        with torch.device("meta"):  # build without memory first: an absurd size in the config cannot exhaust it
            skeleton = create_model(name, **config)
    except (MedrnnError, TypeError, ValueError, OverflowError, RuntimeError) as err:
        raise ArtifactError(f"{path / META}: field 'model' does not build a model ({type(err).__name__}: {err})") from err
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    if expected != shapes:
        diff = sorted(set(expected.items()) ^ set(shapes.items()))[:4]
        raise ArtifactError(f"{path / WEIGHTS}: weights do not fit model config {meta['model']} (first differences: {diff})")
    model = create_model(name, **config)
    tensors = load_file(path / WEIGHTS, device="cpu")
    bad = non_finite(tensors)
    if bad:
        raise ArtifactError(f"{path / WEIGHTS}: non-finite weights in {', '.join(bad[:5])}; the model cannot give valid predictions")
    model.load_state_dict(tensors)
    return model.to(device).eval(), meta
