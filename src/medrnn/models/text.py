"""Building blocks shared by the text models (caml, laat, bigru_maxpool): token input with masked padding, label-wise
attention, per-label output layer, length-reversed bidirectional RNN (no packing: packed backward is O(T^2) on CPU)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.base import ContractModel, Encoded, reverse_padded

CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU}


def check_positive(name: str, **values: Any) -> None:
    """ConfigError naming the first argument that is not a positive int."""
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name}: {key} must be a positive int, got {value!r}")


class TokenClassifier(ContractModel):
    """Shared plumbing of the text models: input checks, masked embedding, `load_embeddings`, forward.

    Subclasses set `name`, build `self.embedding` (padding_idx=0) and `self.classifier`, and implement `encode`.
    """

    name = "token"
    embedding: nn.Embedding

    def _check(self, batch: Batch) -> torch.Tensor:
        """Validate token input; return the mask (batch, time), True on real tokens (from `lengths`, never from ids)."""
        x, lengths = batch.x, batch.lengths
        if x.ndim != 2 or x.dtype != torch.long:
            raise ShapeError(f"{self.name}: token input must be int64 ids (batch, time), got {x.dtype} {tuple(x.shape)}")
        if lengths.shape != (x.shape[0],) or (lengths < 1).any() or (lengths > x.shape[1]).any():
            raise ShapeError(
                f"{self.name}: lengths must be (batch,) in [1, {x.shape[1]}] (every document needs one token), got {lengths.tolist()}"
            )
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]  # (batch, time)
        real = x[mask]
        if real.numel() and (real.min() < 0 or real.max() >= self.embedding.num_embeddings):
            raise ShapeError(
                f"{self.name}: token ids must lie in [0, {self.embedding.num_embeddings}), got [{int(real.min())}, {int(real.max())}]; "
                "build the model with vocab_size = len(vocabulary) of the vocabulary that encoded the text"
            )
        return mask

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embeddings (batch, time, embedding_dim) with every padding position (by `mask`) exactly zero."""
        x = x.masked_fill(~mask, 0)  # junk ids after `lengths` never reach the embedding
        return self.embedding(x) * mask[..., None]  # zero rows even if row 0 was loaded non-zero

    def load_embeddings(self, matrix: torch.Tensor, freeze: bool = False) -> None:
        """Copy word vectors (vocab_size, embedding_dim) into the embedding, e.g. word2vec trained on the training notes.

        Row 0 (padding) is set to zero whatever `matrix` holds there. `freeze=True` stops gradient updates and is
        recorded in `config["freeze_embeddings"]`, so a model rebuilt from its config stays frozen.
        """
        weight = self.embedding.weight
        matrix = torch.as_tensor(matrix)
        if matrix.shape != weight.shape or not matrix.is_floating_point() or not torch.isfinite(matrix).all():
            raise ShapeError(
                f"{self.name}: embedding matrix must be finite floats of shape {tuple(weight.shape)} (vocab_size, embedding_dim), "
                f"got {matrix.dtype} {tuple(matrix.shape)}; build the model with the vocabulary and vector size of the word vectors"
            )
        with torch.no_grad():
            weight.copy_(matrix.to(weight))
            weight[0].zero_()
        self.freeze_embeddings(freeze)

    def freeze_embeddings(self, freeze: bool = True) -> None:
        """Stop (or restart) gradient updates of the embedding; recorded in `config` for round trips."""
        self.embedding.weight.requires_grad_(not freeze)
        self.config["freeze_embeddings"] = bool(freeze)

    def init_output_bias(self, prior: torch.Tensor) -> None:
        """Start every label's output bias at the log-odds of its prior (n_labels,), so training begins at the label
        frequencies instead of p = 0.5 everywhere (the RetinaNet / Karpathy "init well" recipe for rare positives)."""
        bias = self.classifier.bias  # type: ignore[attr-defined]
        prior = torch.as_tensor(prior, dtype=torch.float64)
        if prior.shape != bias.shape or not ((prior > 0) & (prior < 1)).all():
            raise ShapeError(f"{self.name}: prior must be {tuple(bias.shape)} (one per label) in (0, 1), got {tuple(prior.shape)}")
        with torch.no_grad():
            bias.copy_(torch.log(prior / (1 - prior)).to(bias))

    def encode(self, batch: Batch) -> Encoded:
        raise NotImplementedError


class LabelAttention(nn.Module):
    """One attention distribution over time per label: alpha = softmax_t(U z_t), masked; V = alpha H.

    With `attention_size` > 0 the scores use z_t = tanh(W h_t) (LAAT's W, d_a x hidden); with 0 they use h_t
    directly (CAML). Shapes: h (batch, time, hidden) -> V (batch, labels, hidden), alpha (batch, labels, time).
    Never materialises (batch, labels, time, hidden): both products are batched matmuls. The largest tensor is
    alpha itself, batch x labels x time (8 x 8,922 x 2,500 floats = 0.7 GB for MIMIC-III full).
    """

    def __init__(self, input_size: int, num_classes: int, attention_size: int = 0) -> None:
        super().__init__()
        self.proj = nn.Linear(input_size, attention_size, bias=False) if attention_size else None  # W
        self.query = nn.Linear(attention_size or input_size, num_classes, bias=False)  # U, one row u_l per label
        for layer in (self.proj, self.query):
            if layer is not None:
                nn.init.xavier_uniform_(layer.weight)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.tanh(self.proj(h)) if self.proj is not None else h  # (batch, time, d)
        scores = torch.einsum("btd,ld->blt", z, self.query.weight)  # (batch, labels, time)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        alpha = torch.softmax(scores, dim=-1)  # (batch, labels, time); exactly 0 on padding
        return torch.bmm(alpha, h), alpha  # (batch, labels, hidden), (batch, labels, time)


class PerLabelLinear(nn.Module):
    """logit_l = w_l . v_l + b_l: each label scores its own vector with its own weights (batch, labels, d) -> (batch, labels)."""

    def __init__(self, input_size: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_classes, input_size)))
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bld,ld->bl", v, self.weight) + self.bias  # (batch, labels)


class BidirectionalRnn(nn.Module):
    """Stacked bidirectional LSTM/GRU without packing: the backward direction reads the length-reversed input.

    Padding sits after each sequence in both directions, so real steps never see it (exact padding invariance),
    and there is no pack_padded_sequence, whose backward pass is O(T^2) on CPU in torch 2.13.
    (batch, time, input_size) -> (batch, time, 2 * hidden_size); `dropout` between layers.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm", dropout: float = 0.0) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ConfigError(f"cell={cell!r}; valid: {', '.join(repr(c) for c in CELLS)}")
        rnn = CELLS[cell]
        self.forward_layers, self.backward_layers = nn.ModuleList(), nn.ModuleList()
        for i in range(num_layers):
            size_in = input_size if i == 0 else 2 * hidden_size
            self.forward_layers.append(rnn(size_in, hidden_size, batch_first=True))
            self.backward_layers.append(rnn(size_in, hidden_size, batch_first=True))
        self.dropout = nn.Dropout(dropout)
        self.output_size = 2 * hidden_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = x
        for i, (fwd, bwd) in enumerate(zip(self.forward_layers, self.backward_layers)):
            if i:
                h = self.dropout(h)
            out, _ = fwd(h)  # (batch, time, hidden)
            back, _ = bwd(reverse_padded(h, lengths))  # (batch, time, hidden), in reversed order
            h = torch.cat([out, reverse_padded(back, lengths)], dim=-1)  # (batch, time, 2*hidden)
        return h
