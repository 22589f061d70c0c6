"""Model registry: `create_model(name, **config)`, `build_model(name, config_section, **sizes)` and `list_models()`."""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel
from torch import nn

from medrnn.errors import ConfigError
from medrnn.models import beat_rhythm, bigru_maxpool, caml, cnn3d, fusion, gru, gru_d, laat, lstm, retain, rnn, slice_rnn  # noqa: F401  (registers the models)
from medrnn.models import resnet2p5d, resnet3d  # noqa: F401  (MONAI ResNet-18 baselines; monai is imported when one is built)
from medrnn.models.base import Encoded, ModelOutput, RecurrentClassifier
from medrnn.registry import MODELS


def model_arguments(name: str) -> list[str]:
    """The constructor arguments of registered model `name`."""
    return [p for p in inspect.signature(MODELS.get(name)).parameters if p != "self"]


def create_model(name: str, **config: Any) -> nn.Module:
    """Build a registered model from its name and constructor arguments; an unknown argument names the valid ones.

    Arguments a model retired (`retired_args`, with the only value they could hold) are accepted and dropped, so
    artifacts written before they were retired still load.
    """
    cls = MODELS.get(name)
    valid = model_arguments(name)
    retired = getattr(cls, "retired_args", {})
    unknown = [k for k in config if k not in valid and not (k in retired and config[k] == retired[k])]
    if unknown:
        raise ConfigError(f"model {name!r} takes no argument {', '.join(map(repr, unknown))}; its arguments: {', '.join(valid)}")
    return cls(**{k: v for k, v in config.items() if k in valid})


def build_model(name: str, config: BaseModel | None = None, exclude: tuple[str, ...] = (), **sizes: Any) -> nn.Module:
    """Build `name` from a task's model config section plus the sizes its fitted pipeline gives (input_size, ...).

    One config section serves several models (gru_d, gru, lstm share the ICU one): a field the chosen model does not
    take is dropped while it holds its default, and refused, naming the model's arguments, when it was set.
    """
    valid = model_arguments(name)
    args: dict[str, Any] = {}
    if config is not None:
        defaults = type(config)().model_dump()
        for key, value in config.model_dump(exclude={"name", *exclude}).items():
            if key in valid:
                args[key] = value
            elif value != defaults.get(key):
                raise ConfigError(f"model.{key}={value!r}: model {name!r} takes no {key!r} (it is for other models; leave it at "
                                  f"{defaults.get(key)!r}); {name}'s arguments: {', '.join(valid)}")  # fmt: skip
    return create_model(name, **args, **sizes)


def list_models() -> list[str]:
    """Names of all registered models."""
    return MODELS.names()


__all__ = ["Encoded", "ModelOutput", "RecurrentClassifier", "build_model", "create_model", "list_models", "model_arguments"]
