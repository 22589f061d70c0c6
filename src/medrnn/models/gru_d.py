"""GRU-D (Che et al. 2018, Sci Rep 8:6085): a GRU that reads missingness and decays towards the mean.

Input x (batch, time, 3V) = [values standardised, 0 where missing | observation mask 0/1 | delta hours since
the variable's last observation]. Between observations the input decays from the last observed value to the
empirical mean, and the hidden state decays towards zero, at rates learned from delta:

    gamma_x = exp(-max(0, W_gx delta + b_gx))   W_gx diagonal
    gamma_h = exp(-max(0, W_gh delta + b_gh))   W_gh full
    x_hat   = m * x + (1 - m) * (gamma_x * x_last + (1 - gamma_x) * x_mean)
    h_hat   = gamma_h * h_{t-1}
    z, r    = sigmoid(W x_hat + U h_hat + V m + b)   (one set of weights per gate)
    h_tilde = tanh(W x_hat + U (r * h_hat) + V m + b)
    h_t     = (1 - z) * h_hat + z * h_tilde

One deliberate constraint: the decay weights are kept >= 0 and the decay biases <= 0 (W = |W_raw|,
b = -|b_raw|). The paper chose exp(-max(0, .)) "to keep each decay rate monotonically decreasing", which holds
only for W >= 0 (a negative weight makes the decay grow with the gap), and a decay should be 1 when no time has
passed, which needs b <= 0. Within these signs the family is the paper's: no decay for a grace period -b/W, then
exponential decay at rate W.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.attention import AdditiveAttention
from medrnn.models.base import ContractModel, Encoded, head_layers, last_step
from medrnn.registry import MODELS


@MODELS.register("gru_d")
class GruDClassifier(ContractModel):
    """GRU-D -> last real step or attention -> [static] -> head, for irregularly sampled multivariate series.

    Parameters
    ----------
    input_size : 3 * V channels in the [values | mask | delta] layout.
    hidden_size : GRU units (one layer; GRU-D is defined for one).
    num_layers, bidirectional : accepted so a shared model config builds this model; only 1 and False are valid,
        anything else is a ConfigError saying why.
    """

    name = "gru_d"
    input_layout = "values_mask_delta"  # x is [values | mask | delta] of every variable (fusion adds descriptors as variables)
    # constructor arguments of earlier medrnn versions, with the only value they could hold: artifacts that carry them load
    retired_args: dict[str, object] = {"frontend": "none", "frontend_channels": 32, "frontend_layers": 2, "frontend_stride": 2}

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.2,
        attention: bool = False,
        attention_size: int = 32,
        num_static: int = 0,
        head_hidden: int = 64,
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        if input_size < 3 or input_size % 3:
            raise ConfigError(
                f"gru_d: input_size={input_size} must be 3 * V for the [values | mask | delta] layout (V variables); "
                "build x with one value, one 0/1 mask and one delta channel per variable"
            )
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size < 1:
            raise ConfigError(f"gru_d: hidden_size must be a positive int (GRU-D has one layer), got {hidden_size!r}")
        if num_layers != 1:
            raise ConfigError(f"gru_d: num_layers={num_layers}; GRU-D is a single recurrent layer, use num_layers=1")
        if bidirectional:
            raise ConfigError(
                "gru_d: bidirectional=True is not supported: the decay runs forward from each last observation; "
                "use bidirectional=False (or a 'gru' model on the same channels)"
            )
        self.input_size, self.hidden_size, self.num_static = input_size, hidden_size, num_static
        self.num_variables = v = input_size // 3
        # input decay: diagonal W_gx (one rate per variable), stored as a vector
        bound = 1.0  # nn.Linear's init for fan_in = 1
        self.input_decay_weight = nn.Parameter(torch.empty(v).uniform_(-bound, bound))
        self.input_decay_bias = nn.Parameter(torch.empty(v).uniform_(-bound, bound))
        self.hidden_decay = nn.Linear(v, hidden_size)  # full W_gh: every unit sees every variable's gap
        # explicit gates, not nn.GRUCell: the paper resets before the recurrent product, U (r * h), where the cell
        # computes r * (U h + b), and its gates also take the mask m
        self.input_gates = nn.Linear(2 * v, 3 * hidden_size)  # [W | V] [x_hat; m] + b for z, r and h_tilde
        self.hidden_gates = nn.Linear(hidden_size, 2 * hidden_size, bias=False)  # U_z, U_r
        self.hidden_candidate = nn.Linear(hidden_size, hidden_size, bias=False)  # U
        self.register_buffer("x_mean", torch.zeros(v))  # empirical mean of the standardised training values
        self.dropout = nn.Dropout(dropout)
        self.attention = AdditiveAttention(hidden_size, attention_size) if attention else None
        features = hidden_size + num_static
        self.classifier = head_layers(features, head_hidden, num_classes, dropout)

    def set_empirical_mean(self, mean: torch.Tensor) -> None:
        """Set x_mean (V,), the per-variable mean of the observed standardised training values (saved in state_dict)."""
        mean = torch.as_tensor(mean, dtype=self.x_mean.dtype)
        if mean.shape != (self.num_variables,) or not torch.isfinite(mean).all():
            raise ShapeError(f"gru_d: empirical mean must be finite with shape ({self.num_variables},), got {tuple(mean.shape)}")
        self.x_mean.copy_(mean)

    def input_decay(self, delta: torch.Tensor) -> torch.Tensor:
        """gamma_x = exp(-max(0, W_gx delta + b_gx)) (..., V), W_gx diagonal >= 0, b_gx <= 0: 1 at no gap, falling with it."""
        return torch.exp(-F.relu(delta * self.input_decay_weight.abs() - self.input_decay_bias.abs()))

    def hidden_decay_rate(self, delta: torch.Tensor) -> torch.Tensor:
        """gamma_h = exp(-max(0, W_gh delta + b_gh)) (..., hidden_size), W_gh full >= 0, b_gh <= 0."""
        return torch.exp(-F.relu(F.linear(delta, self.hidden_decay.weight.abs(), -self.hidden_decay.bias.abs())))

    def impute(self, x: torch.Tensor) -> torch.Tensor:
        """x_hat (batch, time, V): observed values kept, missing ones decayed from the last observation to x_mean."""
        values, m, delta = x.split(self.num_variables, dim=-1)  # each (batch, time, V)
        steps = torch.arange(x.shape[1], device=x.device).view(1, -1, 1)
        # x_last by forward fill: index of the latest step <= t with m = 1 (-1 before the first observation)
        last = torch.where(m > 0, steps, -1).cummax(dim=1).values  # (batch, time, V)
        x_last = torch.where(last >= 0, values.gather(1, last.clamp(min=0)), self.x_mean)
        gamma = self.input_decay(delta)
        return m * values + (1 - m) * (gamma * x_last + (1 - gamma) * self.x_mean)

    def _check(self, batch: Batch) -> None:
        x = batch.x
        if x.ndim != 3 or x.shape[2] != self.input_size or not x.is_floating_point():
            raise ShapeError(f"gru_d: x must be float (batch, time, {self.input_size}), got {x.dtype} {tuple(x.shape)}")
        if self.num_static and (batch.static is None or batch.static.shape[1] != self.num_static):
            got = None if batch.static is None else tuple(batch.static.shape)
            raise ShapeError(f"gru_d: static must be (batch, {self.num_static}), got {got}")
        real = torch.arange(x.shape[1], device=x.device)[None, :] < batch.lengths[:, None]
        _, m, delta = x[real].split(self.num_variables, dim=-1)  # padding may hold anything: check real steps only
        if ((m != 0) & (m != 1)).any() or (delta < 0).any() or not torch.isfinite(x[real]).all():
            raise ShapeError(
                "gru_d: x must be [values (0 where missing) | mask 0/1 | delta hours >= 0] with no NaN on real steps; "
                "got a mask outside {0, 1}, a negative delta or a non-finite value"
            )

    def encode(self, batch: Batch) -> Encoded:
        self._check(batch)
        x, lengths = batch.x, batch.lengths
        v = self.num_variables
        m, delta = x[..., v : 2 * v], x[..., 2 * v :]  # (batch, time, V)
        gates_x = self.input_gates(torch.cat([self.impute(x), m], dim=-1))  # (batch, time, 3*hidden)
        gamma_h = self.hidden_decay_rate(delta)  # (batch, time, hidden)
        h = x.new_zeros(x.shape[0], self.hidden_size)
        outputs = []
        for t in range(x.shape[1]):
            h = gamma_h[:, t] * h  # h_hat: decay the memory over the gap
            z, r = torch.sigmoid(gates_x[:, t, : 2 * self.hidden_size] + self.hidden_gates(h)).chunk(2, dim=-1)
            candidate = torch.tanh(gates_x[:, t, 2 * self.hidden_size :] + self.hidden_candidate(r * h))
            h = (1 - z) * h + z * candidate  # (batch, hidden)
            outputs.append(h)
        hs = self.dropout(torch.stack(outputs, dim=1))  # (batch, time, hidden)
        if self.attention is not None:
            mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
            pooled, weights = self.attention(hs, mask)
        else:
            pooled, weights = last_step(hs, lengths), None
        if self.num_static:
            pooled = torch.cat([pooled, batch.static], dim=-1)
        return Encoded(pooled, weights)  # (batch, hidden + num_static)
