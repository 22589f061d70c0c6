"""Elman RNN classifier: h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)."""

from torch import nn

from medrnn.models.base import RecurrentClassifier
from medrnn.registry import MODELS


@MODELS.register("rnn")
class RnnClassifier(RecurrentClassifier):
    """Plain (Elman) recurrent network; the baseline every gated cell is measured against."""

    cell = nn.RNN
    cell_kwargs = {"nonlinearity": "tanh"}
    name = "rnn"
