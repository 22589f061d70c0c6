"""Additive (Bahdanau) attention pooling over time, masked so padding gets zero weight."""

from __future__ import annotations

import torch
from torch import nn


class AdditiveAttention(nn.Module):
    """score_t = v^T tanh(W h_t + b); weights = softmax over real steps; pooled = sum_t w_t h_t."""

    def __init__(self, input_size: int, attention_size: int = 32) -> None:
        super().__init__()
        self.proj = nn.Linear(input_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(torch.tanh(self.proj(h))).squeeze(-1)  # (batch, time)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)  # (batch, time)
        pooled = torch.bmm(weights.unsqueeze(1), h).squeeze(1)  # (batch, features)
        return pooled, weights
