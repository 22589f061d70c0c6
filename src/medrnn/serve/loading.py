"""Artifacts -> served models: each loaded and checked once (checksums, format and medrnn version) before serving."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medrnn.errors import ArtifactError, ConfigError, MedrnnError
from medrnn.predict import Predictor, Served, resolve_artifact

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class ServedModel:
    """One model the service holds: its URL name, the Predictor (or ensemble) and what `GET /models` says of it."""

    name: str
    predictor: Served
    path: Path

    def info(self) -> dict[str, Any]:
        """Task, labels, versions, training data hash, calibration and accepted inputs, for `GET /models` and the page."""
        task, meta = self.predictor.task, getattr(self.predictor, "metadata", {}) or {}
        members = getattr(self.predictor, "members", None)
        first = members[0].metadata if members else meta
        uncertainty = first.get("uncertainty") or {}
        has_conformal = self._has_conformal()
        return {"name": self.name, "task": task.name, "title": task.title, "output_kind": self.predictor.pipeline.output_kind,
                "labels": self.predictor.label_names, "medrnn_version": first.get("medrnn_version"),
                "format_version": first.get("format_version"), "created": str(first.get("created", "")) or None,
                "training_data_sha256": (first.get("training_data") or {}).get("sha256"),
                "training_units": (first.get("training_data") or {}).get("count"), "ensemble_members": len(members) if members else None,
                "calibration": {"method": (uncertainty.get("calibrator") or {}).get("method"), "conformal": has_conformal},
                "options": [{"name": o.field, "kind": o.kind, "help": o.help} for o in task.predict_options],
                "inputs": task.served_input.describe(), "predict_help": task.predict_help}  # fmt: skip

    def _has_conformal(self) -> bool:
        try:
            self.predictor.conformal()
        except (MedrnnError, NotImplementedError):
            return False
        return True


def parse_spec(spec: str) -> tuple[str, Path]:
    """'NAME=PATH' or 'PATH' -> (name, path); the default name is the run folder's name."""
    name, sep, rest = spec.partition("=")
    if sep and NAME.match(name) and not Path(spec).exists():
        return name, Path(rest)
    path = Path(spec)
    base = path.parent.name if path.name == "model" else path.name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", base).lstrip("._-")[:64] or "model", path


def load_models(specs: list[str]) -> dict[str, ServedModel]:
    """Load every artifact once; the first bad one raises ArtifactError naming it (the service does not start)."""
    if not specs:
        raise ConfigError("--artifact: give at least one model folder (RUN/model, RUN or an ensemble folder)")
    models: dict[str, ServedModel] = {}
    for spec in specs:
        name, path = parse_spec(spec)
        if not NAME.match(name):
            raise ConfigError(f"--artifact {spec}: model name {name!r} must be letters, digits, '_', '.' or '-' (up to 64)")
        if name in models:
            raise ConfigError(f"--artifact {spec}: model name {name!r} is taken by {models[name].path}; name them: --artifact NAME=PATH")
        if not path.exists():
            raise ArtifactError(f"--artifact {spec}: {path} does not exist")
        try:
            predictor = Predictor.from_artifact(resolve_artifact(path), device="cpu")
        except MedrnnError as err:
            raise ArtifactError(f"--artifact {spec}: refused: {err}") from err
        models[name] = ServedModel(name, predictor, path)
    return models
