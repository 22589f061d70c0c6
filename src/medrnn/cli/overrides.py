"""A task's run config from a YAML file, --quick, the common flags, the task's own flags and --set key=value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from medrnn.config.schema import read_yaml
from medrnn.errors import ConfigError
from medrnn.tasks.base import Task, TaskOption

TRAIN_FLAGS = ("seed", "max_epochs", "accelerator", "devices", "strategy", "num_nodes", "progress", "init_from", "freeze",
               "unfreeze_after", "train_fraction", "threads")


def build_config(task: Task, common: dict[str, Any], task_values: dict[str, tuple[TaskOption, Any]]) -> BaseModel:
    """Validate the merged config; each bad value is one line naming the flag (or file field), the value and what is allowed."""
    config_path: Path | None = common.get("config")
    if config_path is not None:
        raw_file: Any = read_yaml(config_path) or {}
        if not isinstance(raw_file, dict):
            raise ConfigError(f"{config_path}: holds a YAML {type(raw_file).__name__}, expected a mapping of config sections")
        cfg = validate(task.config_class, raw_file, str(config_path))
    elif common.get("quick"):
        cfg = task.quick_config()
    else:
        cfg = task.config_class()
    raw = cfg.model_dump(mode="json")
    flags: dict[str, str] = {}  # config field -> the flag that set it, for the error lines
    for key in TRAIN_FLAGS:
        value = common.get(key)
        if value is not None:
            raw["train"][key] = int(value) if key == "devices" and str(value).isdigit() else value
            flags[f"train.{key}"] = "--" + key.replace("_", "-")
    if common.get("model"):
        check_model(task, common["model"])
        raw["model"]["name"] = common["model"]
        flags["model.name"] = "--model"
        if common.get("quick") and config_path is None:
            raw["model"] = quick_model_section(task, raw["model"])
    for field, (option, value) in task_values.items():
        if value is not None:
            set_field(raw, field, [v.strip() for v in value.split(",") if v.strip()] if option.kind == "list" else value)
            flags[field] = option.flag
    for item in common.get("set_") or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.lr=3e-4")
        set_field(raw, key.strip(), yaml.safe_load(text) if text.strip() else None)
        flags[key.strip()] = f"--set {key.strip()}"
    if config_path is not None and not common.get("model"):
        check_model(task, raw["model"].get("name"), f"{config_path}: model.name")
    return validate(task.config_class, raw, "command line", flags)


def quick_model_section(task: Task, section: dict[str, Any]) -> dict[str, Any]:
    """--quick with another --model: the quick sizes of fields that model does not take go back to their defaults (they
    size the default model; the chosen one would refuse them), the fields it takes keep their quick values."""
    from medrnn.models import model_arguments

    defaults = task.config_class().model_dump(mode="json").get("model", {})
    valid = set(model_arguments(section["name"]))
    return {k: v if k == "name" or k in valid else defaults.get(k, v) for k, v in section.items()}


def check_model(task: Task, name: Any, where: str = "--model") -> None:
    """Refuse a model the task does not train (before any data is read), listing the ones it does."""
    from medrnn.models import list_models

    fits = list(task.models) or list_models()
    if name not in fits:
        what = f"model {name!r} does not fit {task.name}" if name in list_models() else f"unknown model {name!r}"
        raise ConfigError(f"{where} {name!r}: {what}; available: {', '.join(fits)} (the models {task.name} trains; default "
                          f"{task.default_model})")  # fmt: skip


def set_field(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set raw['a']['b'] for 'a.b'; an unknown section is an error listing the sections."""
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"config field {dotted!r}: no section {part!r}; sections: {', '.join(k for k, v in node.items() if isinstance(v, dict))}")
        node = node[part]
    node[leaf] = value


def validate(kind: type[BaseModel], raw: dict[str, Any], where: str, flags: dict[str, str] | None = None) -> BaseModel:
    """kind.model_validate(raw) with pydantic's errors turned into one line per bad field (no header, no traceback).

    A field set by a flag is named by the flag (`--max-epochs 0: ...`), any other by `where` and its dotted name.
    """
    try:
        return kind.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = [str(p) for p in e["loc"] if not isinstance(p, int)]  # data.sets, not data.sets.0
            field = ".".join(loc)
            flag = next((f for k, f in (flags or {}).items() if field == k or field.startswith(k + ".")), None)
            message = e["msg"][:1].lower() + e["msg"][1:]
            if e["type"] == "extra_forbidden":
                message = f"no such config field; {field_names(kind, loc[:-1])}"
            got = e.get("input")
            value = got if isinstance(got, (str, int, float, bool)) or got is None else str(got)[:80]
            if flag:
                lines.append(f"{flag} {value!r}: {message} (config field {field})")
            else:
                lines.append(f"{where}: {field} {value!r}: {message}")
        raise ConfigError("\nerror: ".join(dict.fromkeys(lines))) from None  # main() writes "error: " before the first


def field_names(kind: type[BaseModel], section: list[str]) -> str:
    """The fields of config section `section` of `kind` in words, e.g. "fields of train: seed, lr, ..."."""
    model: Any = kind
    for part in section:
        field = getattr(model, "model_fields", {}).get(part)
        model = getattr(field, "annotation", None)
    fields = getattr(model, "model_fields", None)
    if not isinstance(fields, dict):
        return "see the config.yaml of a run"
    return f"fields of {'.'.join(section) or 'the config'}: {', '.join(fields)}"
