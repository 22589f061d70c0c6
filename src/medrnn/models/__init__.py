"""Model registry: `create_model(name, **config)` and `list_models()`; one model per file."""

from __future__ import annotations

from typing import Any

from torch import nn

from medrnn.models import gru, gru_d, lstm, retain, rnn  # noqa: F401  (registers the models)
from medrnn.models.base import Encoded, ModelOutput, RecurrentClassifier
from medrnn.registry import MODELS


def create_model(name: str, **config: Any) -> nn.Module:
    """Build a registered model from its name and constructor arguments."""
    return MODELS.get(name)(**config)


def list_models() -> list[str]:
    """Names of all registered models."""
    return MODELS.names()


__all__ = ["Encoded", "ModelOutput", "RecurrentClassifier", "create_model", "list_models"]
