"""RETAIN (Choi et al. 2016, NeurIPS): two reverse-time attentions over visits, exactly decomposable per code.

Input x (batch, visits, num_codes) multi-hot (or counts) per visit, in time order, padding at the end:

    v_i   = W_emb x_i                                   linear, no bias, so the model stays linear in x
    g, h  = GRU_alpha(v reversed), GRU_beta(v reversed)  most recent visit first, re-aligned to visit order
    alpha = softmax_i(w_alpha g_i + b_alpha)            one weight per real visit (padding gets 0)
    beta  = tanh(W_beta h_i + b_beta)                   one weight per embedding dimension
    c     = sum_i alpha_i beta_i * v_i
    logits = W c + b  (+ W_s static)

The contribution of code j at visit i to class k is omega = alpha_i W_k (beta_i * W_emb[:, j]) x_ij, and
sum_ij omega = logits - b - W_s static. Static features enter only through their own columns W_s of the output
layer, a linear term added to the logits, so the per-code decomposition stays exact.
"""

from __future__ import annotations

import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.base import ContractModel, Encoded, ModelOutput, reverse_padded
from medrnn.registry import MODELS


@MODELS.register("retain")
class RetainClassifier(ContractModel):
    """RETAIN over coded visits; forward returns alpha as `attention` and, in eval mode, per-code `contributions`.

    Parameters
    ----------
    input_size : number of codes (columns of the multi-hot visit vectors).
    embedding_dim : visit embedding size m.
    hidden_size : units of each of the two reverse-time GRUs.
    dropout : on the visit embeddings v (paper: input dropout).
    dropout_context : on the context vector c (paper: context dropout); None = `dropout`.
    num_static : static features, added to the logits through their own linear term.

    `contributions` (batch, visits, num_codes, num_classes) are returned only in eval mode: they take
    batch x visits x codes x classes memory and training needs only the logits; with dropout off they are exact.
    """

    name = "retain"

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        embedding_dim: int = 64,
        hidden_size: int = 64,
        dropout: float = 0.2,
        dropout_context: float | None = None,
        num_static: int = 0,
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        for key, value in (("input_size", input_size), ("embedding_dim", embedding_dim), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"retain: {key} must be a positive int, got {value!r}")
        self.input_size, self.embedding_dim, self.num_static = input_size, embedding_dim, num_static
        self.embedding = nn.Linear(input_size, embedding_dim, bias=False)  # W_emb
        self.alpha_rnn = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.beta_rnn = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.alpha = nn.Linear(hidden_size, 1)  # w_alpha, b_alpha
        self.beta = nn.Linear(hidden_size, embedding_dim)  # W_beta, b_beta
        self.dropout_embedding = nn.Dropout(dropout)
        self.dropout_context = nn.Dropout(dropout if dropout_context is None else dropout_context)
        self.classifier = nn.Linear(embedding_dim + num_static, num_classes)  # [W | W_s], b

    def _check(self, batch: Batch) -> None:
        x = batch.x
        if x.ndim != 3 or x.shape[2] != self.input_size or not x.is_floating_point():
            raise ShapeError(f"retain: x must be float multi-hot visits (batch, visits, {self.input_size}), got {x.dtype} {tuple(x.shape)}")
        if self.num_static and (batch.static is None or batch.static.shape[1] != self.num_static):
            got = None if batch.static is None else tuple(batch.static.shape)
            raise ShapeError(f"retain: static must be (batch, {self.num_static}), got {got}")
        if (batch.lengths < 1).any():
            raise ShapeError(f"retain: every sample needs at least one visit; lengths {batch.lengths.tolist()}")

    def _attend(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """alpha (batch, visits), beta (batch, visits, m) and the context c (batch, m)."""
        self._check(batch)
        x, lengths = batch.x, batch.lengths
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]  # (batch, visits)
        v = self.dropout_embedding(self.embedding(x))  # (batch, visits, m)
        v_reversed = reverse_padded(v, lengths)  # most recent visit first; padding stays at the end
        g = reverse_padded(self.alpha_rnn(v_reversed)[0], lengths)  # (batch, visits, hidden), back in visit order
        h = reverse_padded(self.beta_rnn(v_reversed)[0], lengths)
        scores = self.alpha(g).squeeze(-1).masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(scores, dim=1)  # (batch, visits)
        beta = torch.tanh(self.beta(h))  # (batch, visits, m)
        context = torch.einsum("bt,btm->bm", alpha, beta * v)  # (batch, m)
        return alpha, beta, context

    def _features(self, context: torch.Tensor, batch: Batch) -> torch.Tensor:
        features = self.dropout_context(context)
        return torch.cat([features, batch.static], dim=-1) if self.num_static else features  # (batch, m + num_static)

    def encode(self, batch: Batch) -> Encoded:
        alpha, _, context = self._attend(batch)
        return Encoded(self._features(context, batch), alpha)

    def contributions(self, x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """omega[b, i, j, k] = alpha_i W_k (beta_i * W_emb[:, j]) x_ij: (batch, visits, num_codes, num_classes)."""
        w = self.classifier.weight[:, : self.embedding_dim]  # (classes, m)
        per_code = torch.einsum("btm,km,mj->btjk", beta, w, self.embedding.weight)  # (batch, visits, codes, classes)
        return per_code * (alpha[..., None] * x).unsqueeze(-1)

    def forward(self, batch: Batch) -> ModelOutput:
        """Logits, visit attention alpha and features; per-code contributions only from `explain` (they are large)."""
        alpha, _, context = self._attend(batch)
        features = self._features(context, batch)
        return ModelOutput(self.head(features), alpha, features)

    def explain(self, batch: Batch) -> ModelOutput:
        """forward plus the exact per-code contributions (batch, visits, num_codes, num_classes); eval mode only.

        Kept out of forward: for a full MIMIC vocabulary and many labels one batch of them takes gigabytes.
        """
        if self.training:
            raise ConfigError("retain.explain needs eval mode (dropout would break the exact decomposition); call model.eval()")
        alpha, beta, context = self._attend(batch)
        features = self._features(context, batch)
        return ModelOutput(self.head(features), alpha, features, self.contributions(batch.x, alpha, beta))
