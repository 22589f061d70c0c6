"""The one contract of every medrnn model: encode(batch) -> Encoded, head(features) -> logits, forward -> ModelOutput."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.attention import AdditiveAttention
from medrnn.models.frontend import ConvFrontEnd


class Encoded(NamedTuple):
    features: torch.Tensor  # (batch, features) pooled features, static appended; label-attention models: (batch, classes, hidden)
    attention: torch.Tensor | None  # (batch, time') over encoder steps; label-attention models: (batch, classes, time)


class ModelOutput(NamedTuple):
    logits: torch.Tensor  # (batch, num_classes)
    attention: torch.Tensor | None = None  # (batch, time') when attention pooling is on; (batch, classes, time) per label
    features: torch.Tensor | None = None  # (batch, features); label-attention models: (batch, classes, hidden)
    contributions: torch.Tensor | None = None  # (batch, time, input features, num_classes) exact additive attributions (retain)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length, padding left at the end (no packing needed)."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (batch, time)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def last_step(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """h[b, lengths[b] - 1] for every b: the last real step, padding ignored."""
    index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, h.shape[2])
    return h.gather(1, index).squeeze(1)


def head_layers(features: int, head_hidden: int, num_classes: int, dropout: float) -> nn.Module:
    """The head every medrnn model ends with (named `classifier`): Linear -> ReLU -> Dropout -> Linear, or one Linear
    when head_hidden is 0. One definition, so every model's head (and its saved weight names) is the same."""
    if head_hidden <= 0:
        return nn.Linear(features, num_classes)
    return nn.Sequential(nn.Linear(features, head_hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(head_hidden, num_classes))


class ContractModel(nn.Module):
    """What every registered model shares: `head` is its `classifier` on the encoded features, and `forward` is
    encode -> head (a model with another head or output, e.g. fusion's late logits or RETAIN's, overrides them)."""

    classifier: nn.Module

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (batch, num_classes) from encoded features."""
        return self.classifier(features)  # (batch, num_classes)

    def forward(self, batch: Batch) -> ModelOutput:
        """encode -> head: logits, the encoder's attention and its features."""
        encoded = self.encode(batch)  # type: ignore[attr-defined]
        return ModelOutput(self.head(encoded.features), encoded.attention, encoded.features)


class RecurrentClassifier(ContractModel):
    """Sequence classifier: [token embedding | conv front-end] -> stacked (bi)RNN -> last step or attention -> [static] -> head.

    With `vocab_size` > 0 the input is token ids (batch, time) (e.g. SMILES tokens) embedded to
    `embedding_dim`; id 0 is padding. Otherwise it is float features (batch, time, input_size).

    Subclasses set `cell` (nn.RNN, nn.LSTM, nn.GRU). Bidirectional layers run the backward direction on
    length-reversed input instead of packed sequences: packed backward is O(T^2) on CPU in torch 2.13,
    and this keeps outputs exactly invariant to padding.
    """

    cell: type[nn.RNNBase] = nn.LSTM
    cell_kwargs: dict[str, Any] = {}
    name = "recurrent"

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        hidden_size: int | list[int] = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.2,
        attention: bool = False,
        attention_size: int = 32,
        frontend: str = "none",
        frontend_channels: int = 32,
        frontend_layers: int = 2,
        frontend_stride: int = 2,
        num_static: int = 0,
        head_hidden: int = 64,
        vocab_size: int = 0,
        embedding_dim: int = 64,
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        sizes = list(hidden_size) if isinstance(hidden_size, (list, tuple)) else [hidden_size] * num_layers
        if not sizes or min(sizes) < 1:
            raise ConfigError(f"hidden_size must be a positive int or list of ints, got {hidden_size!r}")
        if frontend not in ("none", "conv"):
            raise ConfigError(f"frontend={frontend!r}; valid: 'none', 'conv'")
        if vocab_size < 0 or (vocab_size and frontend != "none"):
            raise ConfigError(f"vocab_size={vocab_size}: must be >= 0, and token input takes no conv front-end (got {frontend!r})")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0) if vocab_size else None
        if self.embedding is not None:
            input_size = self.config["input_size"] = embedding_dim
        self.frontend = ConvFrontEnd(input_size, frontend_channels, frontend_layers, frontend_stride) if frontend == "conv" else None
        size_in = self.frontend.output_size if self.frontend else input_size
        self.bidirectional = bidirectional
        self.forward_layers, self.backward_layers = nn.ModuleList(), nn.ModuleList()
        for size in sizes:
            self.forward_layers.append(self.cell(size_in, size, batch_first=True, **self.cell_kwargs))
            if bidirectional:
                self.backward_layers.append(self.cell(size_in, size, batch_first=True, **self.cell_kwargs))
            size_in = size * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.attention = AdditiveAttention(size_in, attention_size) if attention else None
        self.input_size, self.num_static = input_size, num_static
        features = size_in + num_static
        self.classifier = head_layers(features, head_hidden, num_classes, dropout)

    def _check(self, batch: Batch) -> None:
        if self.embedding is not None:
            if batch.x.ndim != 2 or batch.x.dtype != torch.long:
                raise ShapeError(f"{self.name}: token input must be int64 ids (batch, time), got {batch.x.dtype} {tuple(batch.x.shape)}")
        elif batch.x.ndim != 3 or batch.x.shape[2] != self.input_size:
            raise ShapeError(f"{self.name}: x must be (batch, time, {self.input_size}), got {tuple(batch.x.shape)}")
        if self.num_static and (batch.static is None or batch.static.shape[1] != self.num_static):
            got = None if batch.static is None else tuple(batch.static.shape)
            raise ShapeError(f"{self.name}: static must be (batch, {self.num_static}), got {got}")

    def encode(self, batch: Batch) -> Encoded:
        self._check(batch)
        x, lengths = batch.x, batch.lengths
        if self.embedding is not None:
            x = self.embedding(x)  # (batch, time, embedding_dim)
        if self.frontend is not None:
            x, lengths = self.frontend(x, lengths)  # (batch, time', channels)
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        h = x
        for i, fwd in enumerate(self.forward_layers):
            out, _ = fwd(h)  # (batch, time, hidden)
            if self.bidirectional:
                back, _ = self.backward_layers[i](reverse_padded(h, lengths))
                out = torch.cat([out, reverse_padded(back, lengths)], dim=-1)  # (batch, time, 2*hidden)
            h = self.dropout(out)
        if self.attention is not None:
            pooled, weights = self.attention(h, mask)
        else:
            weights = None
            if self.bidirectional:
                half = h.shape[2] // 2
                pooled = torch.cat([last_step(h[..., :half], lengths), h[:, 0, half:]], dim=-1)
            else:
                pooled = last_step(h, lengths)
        if self.num_static:
            pooled = torch.cat([pooled, batch.static], dim=-1)
        return Encoded(pooled, weights)
