"""GRU classifier (Cho et al. 2014): gated like the LSTM with fewer parameters (no oneDNN path on CPU)."""

from torch import nn

from medrnn.models.base import RecurrentClassifier
from medrnn.registry import MODELS


@MODELS.register("gru")
class GruClassifier(RecurrentClassifier):
    """Gated recurrent unit network with reset and update gates."""

    cell = nn.GRU
    name = "gru"
