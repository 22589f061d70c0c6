"""Model registry: `create_model(name, **config)` and `list_models()`; one model per file."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from medrnn.models import bigru_maxpool, caml, gru, gru_d, laat, lstm, retain, rnn  # noqa: F401  (registers the models)
from medrnn.models.base import Encoded, ModelOutput, RecurrentClassifier
from medrnn.registry import MODELS


def create_model(name: str, **config: Any) -> nn.Module:
    """Build a registered model from its name and constructor arguments."""
    return MODELS.get(name)(**config)


def build_model(name: str, **config: Any) -> nn.Module:
    """Like `create_model`, but keeps only the arguments `name`'s constructor takes (one run config, many models)."""
    params = inspect.signature(MODELS.get(name)).parameters
    return create_model(name, **{k: v for k, v in config.items() if k in params})


def list_models() -> list[str]:
    """Names of all registered models."""
    return MODELS.names()


__all__ = ["Encoded", "ModelOutput", "RecurrentClassifier", "build_model", "create_model", "list_models"]
