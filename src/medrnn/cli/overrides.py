"""A task's run config from a YAML file, --quick, the common flags, the task's own flags and --set key=value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from medrnn.config import load_config
from medrnn.errors import ConfigError
from medrnn.tasks.base import Task, TaskOption

TRAIN_FLAGS = ("seed", "max_epochs", "accelerator", "devices", "strategy", "num_nodes", "progress")


def build_config(task: Task, common: dict[str, Any], task_values: dict[str, tuple[TaskOption, Any]]) -> BaseModel:
    """Validate the merged config; a bad value is a ConfigError naming the field and what is allowed."""
    config_path: Path | None = common.get("config")
    if config_path is not None:
        cfg = load_config(config_path, task.config_class)
    elif common.get("quick"):
        cfg = task.quick_config()
    else:
        cfg = task.config_class()
    raw = cfg.model_dump(mode="json")
    for key in TRAIN_FLAGS:
        value = common.get(key)
        if value is not None:
            raw["train"][key] = int(value) if key == "devices" and str(value).isdigit() else value
    if common.get("model"):
        raw["model"]["name"] = common["model"]
    for field, (option, value) in task_values.items():
        if value is not None:
            set_field(raw, field, [v.strip() for v in value.split(",") if v.strip()] if option.kind == "list" else value)
    for item in common.get("set_") or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.lr=3e-4")
        set_field(raw, key.strip(), yaml.safe_load(text) if text.strip() else None)
    return validate(task.config_class, raw, "command line")


def set_field(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set raw['a']['b'] for 'a.b'; an unknown section is an error listing the sections."""
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"config field {dotted!r}: no section {part!r}; sections: {', '.join(k for k, v in node.items() if isinstance(v, dict))}")
        node = node[part]
    node[leaf] = value


def validate(kind: type[BaseModel], raw: dict[str, Any], where: str) -> BaseModel:
    """kind.model_validate(raw) with pydantic's errors turned into one line per bad field."""
    try:
        return kind.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            field = ".".join(str(p) for p in e["loc"])
            lines.append(f"{field}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError(f"{where}: invalid config\n  " + "\n  ".join(lines)) from None
