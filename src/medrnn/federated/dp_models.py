"""Models made DP-SGD-compatible: a copy of a task's model that Opacus computes per-sample gradients for, with the same weights.

Opacus computes per-sample gradients with hooks on the layers it knows (Linear, Embedding, Conv, norms, its own
DPLSTM / DPGRU / DPRNN), and with functorch (`torch.func.vmap`) on any other *leaf* layer holding parameters. What it
cannot do is a layer that holds parameters *and* submodules (functorch would have to vmap the whole composite forward,
which here takes a Batch and checks its values in Python), nor BatchNorm (its statistics mix the samples of a batch).

- nn.LSTM / nn.GRU / nn.RNN -> Opacus' DPLSTM / DPGRU / DPRNN (`ModuleValidator.fix`; same weight names, same outputs).
- GRU-D uses its decay weights directly (`w.abs()` in the model's own code), where Opacus' layer hooks never see them: the
  copy moves them into two leaf layers Opacus differentiates per sample with functorch; `plain_state` gives the weights
  back under the model's own names.
- Anything else Opacus cannot handle (BatchNorm in a conv front-end, a composite layer with its own parameters) is
  refused with the model's name, the layer and what to use instead.
"""

from __future__ import annotations

import copy

import torch
from opacus.grad_sample import GradSampleModule
from opacus.layers import DPGRU, DPLSTM, DPRNN
from opacus.validators import ModuleValidator
from torch import nn
from torch.nn import functional as F

from medrnn.errors import ConfigError
from medrnn.models.gru_d import GruDClassifier

# layers Opacus hooks itself: its grad samplers, and its RNNs (through their RNNLinear layers)
_HOOKED = (*GradSampleModule.GRAD_SAMPLERS, DPRNN, DPLSTM, DPGRU)
# Models every registered task can federate with under DP (the refusal message lists them).
DP_MODELS = ("gru_d", "gru", "lstm", "rnn (without the conv front-end)")


class InputDecay(nn.Module):
    """GRU-D's input decay gamma_x = exp(-max(0, |w| delta - |b|)) (..., V), w diagonal, as a leaf layer."""

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter) -> None:
        super().__init__()
        self.weight, self.bias = weight, bias  # (V,) each: GRU-D's input_decay_weight / input_decay_bias

    def forward(self, delta: torch.Tensor) -> torch.Tensor:
        return torch.exp(-F.relu(delta * self.weight.abs() - self.bias.abs()))  # (..., V)


class HiddenDecay(nn.Module):
    """GRU-D's hidden decay gamma_h = exp(-max(0, |W| delta - |b|)) (..., hidden), W full, as a leaf layer."""

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter) -> None:
        super().__init__()
        self.weight, self.bias = weight, bias  # (hidden, V), (hidden,): GRU-D's hidden_decay Linear

    def forward(self, delta: torch.Tensor) -> torch.Tensor:
        return torch.exp(-F.relu(F.linear(delta, self.weight.abs(), -self.bias.abs())))  # (..., hidden)


class DPGruD(GruDClassifier):
    """GRU-D whose two decays are leaf layers (`InputDecay`, `HiddenDecay`): the same function, the same weights.

    GRU-D uses its decay parameters directly (|W| in a functional call), where Opacus' layer hooks never see them.
    """

    def input_decay(self, delta: torch.Tensor) -> torch.Tensor:
        """gamma_x through the leaf layer (see GruDClassifier.input_decay)."""
        return self.input_decay_rate(delta)

    def hidden_decay_rate(self, delta: torch.Tensor) -> torch.Tensor:
        """gamma_h through the leaf layer (see GruDClassifier.hidden_decay_rate)."""
        return self.hidden_decay(delta)

    @classmethod
    def from_plain(cls, model: GruDClassifier) -> DPGruD:
        """A copy of `model` with its decay parameters in leaf layers (`hidden_decay` keeps its weight names)."""
        dp = copy.deepcopy(model)
        dp.__class__ = cls
        weight, bias = dp._parameters.pop("input_decay_weight"), dp._parameters.pop("input_decay_bias")
        dp.input_decay_rate = InputDecay(weight, bias)
        dp.hidden_decay = HiddenDecay(dp.hidden_decay.weight, dp.hidden_decay.bias)
        return dp


# names a DP copy gives some weights -> their names in the plain model (the arrays the server averages)
_RENAMES = {"input_decay_rate.weight": "input_decay_weight", "input_decay_rate.bias": "input_decay_bias"}


def dp_compatible(model: nn.Module) -> nn.Module:
    """A copy of `model` Opacus can compute per-sample gradients for (same function, same weights); refuses what it cannot."""
    name = getattr(model, "name", type(model).__name__)
    for layer_name, layer in model.named_modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            raise ConfigError(f"model {name!r} cannot be trained with DP-SGD: layer {layer_name!r} is BatchNorm, whose batch "
                              "statistics mix the samples of a batch; use --set model.frontend=none, or another model "
                              f"({', '.join(DP_MODELS)})")  # fmt: skip
    dp = DPGruD.from_plain(model) if type(model) is GruDClassifier else copy.deepcopy(model)
    dp = ModuleValidator.fix(dp)  # nn.LSTM / nn.GRU -> DPLSTM / DPGRU (same names and outputs)
    for layer_name, layer in list(dp.named_modules()):
        if type(layer) is nn.RNN:  # Opacus has DPRNN but registers no fixer for nn.RNN
            dp.set_submodule(layer_name, _dprnn(layer))
    _check_supported(dp, name)
    return dp


def _dprnn(rnn: nn.RNN) -> DPRNN:
    """nn.RNN -> Opacus' DPRNN with the same weights."""
    out = DPRNN(rnn.input_size, rnn.hidden_size, num_layers=rnn.num_layers, bias=rnn.bias, batch_first=rnn.batch_first,
                dropout=rnn.dropout, bidirectional=rnn.bidirectional, nonlinearity=rnn.nonlinearity)  # fmt: skip
    out.load_state_dict(rnn.state_dict())
    return out


def _check_supported(dp: nn.Module, name: str) -> None:
    """Refuse layers Opacus cannot compute per-sample gradients for, naming the model, the layer and the alternatives."""
    training = dp.training
    errors = [str(e) for e in ModuleValidator.validate(dp.train(), strict=False)]  # Opacus validates in training mode
    dp.train(training)
    for layer_name, layer in dp.named_modules():
        own = any(p.requires_grad for p in layer.parameters(recurse=False))
        if own and type(layer) not in _HOOKED and any(True for _ in layer.children()):
            errors.append(f"layer {layer_name or '(the model itself)'!r} ({type(layer).__name__}) holds parameters and "
                          "submodules; Opacus can give per-sample gradients only to leaf layers")  # fmt: skip
    if errors:
        raise ConfigError(f"model {name!r} cannot be trained with DP-SGD: {'; '.join(errors)}. Use one of "
                          f"{', '.join(DP_MODELS)} (--set model.name=...), or train without --dp-epsilon")  # fmt: skip


def plain_state(dp: nn.Module, plain: nn.Module) -> dict[str, torch.Tensor]:
    """The DP copy's weights under the names of `plain`'s state dict (what the server averages).

    Opacus' DPLSTM / DPGRU list each weight twice (nn.LSTM's name and their cell's); only `plain`'s names are kept.
    """
    state = {_RENAMES.get(k, k): v for k, v in dp.state_dict().items()}
    wanted = plain.state_dict()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ValueError(f"the DP copy of model {getattr(plain, 'name', type(plain).__name__)!r} lacks {missing[:3]}")
    return {k: state[k] for k in wanted}
