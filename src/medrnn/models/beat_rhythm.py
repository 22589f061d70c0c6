"""A rhythm model over the beats of a record: each beat's morphology embedding plus its RR intervals, read by a
bidirectional LSTM across neighbouring beats; the output at the centre beat classifies it.

Input x (batch, beats, beat_window * beat_channels + extra): one step per beat of a window of 2K + 1 consecutive beats of
one record centred on the beat being classified (`tasks/ecg_beats/context.py` builds it), each step the beat's signal
window (flattened time-major) followed by its per-beat extras (standardised RR context, a 1/0 "beat exists" flag, 0
where the window runs past the record's edge). `lengths` marks real steps; the centre is step (length - 1) // 2, so a
batch padded further reads exactly as the unpadded one (the backward direction runs on length-reversed input).
Every beat's window goes through one shared 1-D CNN (conv -> ReLU, strided, then mean and max over time), so a
neighbour's shape counts as much as its timing.
"""

from __future__ import annotations

import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.base import ContractModel, Encoded, head_layers, reverse_padded
from medrnn.registry import MODELS


@MODELS.register("beat_rhythm")
class BeatRhythm(ContractModel):
    """Per-beat CNN embedding + extras -> BiLSTM over neighbouring beats -> centre step [+ static] -> head."""

    name = "beat_rhythm"

    def __init__(self, input_size: int, num_classes: int, beat_window: int, beat_channels: int = 1, hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.2, frontend_channels: int = 32, frontend_layers: int = 2,
                 frontend_stride: int = 2, num_static: int = 0, head_hidden: int = 64) -> None:  # fmt: skip
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        self.signal = beat_window * beat_channels
        if beat_window < 1 or beat_channels < 1 or self.signal > input_size:
            raise ConfigError(f"beat_rhythm: beat_window {beat_window} x beat_channels {beat_channels} must be positive and fit "
                              f"in input_size {input_size} (the signal part of each step)")  # fmt: skip
        if hidden_size < 1 or num_layers < 1 or frontend_layers < 1:
            raise ConfigError("beat_rhythm: hidden_size, num_layers and frontend_layers must be >= 1")
        layers: list[nn.Module] = []
        size_in = beat_channels
        for i in range(frontend_layers):
            size = frontend_channels * 2**i
            layers += [nn.Conv1d(size_in, size, 7, stride=frontend_stride, padding=3), nn.ReLU()]
            size_in = size
        self.morphology = nn.Sequential(*layers)
        step = 2 * size_in + input_size - self.signal  # mean- and max-pooled CNN channels + the beat's extras
        self.forward_layers, self.backward_layers = nn.ModuleList(), nn.ModuleList()
        for _ in range(num_layers):
            self.forward_layers.append(nn.LSTM(step, hidden_size, batch_first=True))
            self.backward_layers.append(nn.LSTM(step, hidden_size, batch_first=True))
            step = 2 * hidden_size
        self.dropout = nn.Dropout(dropout)
        self.input_size, self.beat_window, self.beat_channels, self.num_static = input_size, beat_window, beat_channels, num_static
        self.classifier = head_layers(step + num_static, head_hidden, num_classes, dropout)

    def embed_beats(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, beats, input_size) -> (batch, beats, step features): CNN embedding of each window + its extras."""
        b, s, _ = x.shape
        signal = x[..., : self.signal].reshape(b * s, self.beat_window, self.beat_channels).transpose(1, 2)
        h = self.morphology(signal)  # (batch * beats, channels, time')
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1).view(b, s, -1)
        return torch.cat([pooled, x[..., self.signal :]], dim=-1)

    def encode(self, batch: Batch) -> Encoded:
        """Features of the centre beat of each neighbourhood (+ static): (batch, 2 * hidden_size + num_static)."""
        x, lengths = batch.x, batch.lengths
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ShapeError(f"beat_rhythm: x must be (batch, beats, {self.input_size}), got {tuple(x.shape)}")
        if self.num_static and (batch.static is None or batch.static.shape[1] != self.num_static):
            raise ShapeError(f"beat_rhythm: static must be (batch, {self.num_static})")
        mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        h = self.embed_beats(x) * mask  # padded steps read as zeros, never as their content
        for fwd, bwd in zip(self.forward_layers, self.backward_layers):
            out, _ = fwd(h)
            back, _ = bwd(reverse_padded(h, lengths))
            h = self.dropout(torch.cat([out, reverse_padded(back, lengths)], dim=-1)) * mask  # (batch, beats, 2 * hidden)
        centre = ((lengths - 1) // 2).clamp(min=0).view(-1, 1, 1).expand(-1, 1, h.shape[2])
        features = h.gather(1, centre).squeeze(1)
        if self.num_static:
            features = torch.cat([features, batch.static], dim=-1)
        return Encoded(features, None)


__all__ = ["BeatRhythm"]
