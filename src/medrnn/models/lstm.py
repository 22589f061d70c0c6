"""LSTM classifier (Hochreiter & Schmidhuber 1997); on CPU it runs on oneDNN, the fastest recurrent kernel here."""

from torch import nn

from medrnn.models.base import RecurrentClassifier
from medrnn.registry import MODELS


@MODELS.register("lstm")
class LstmClassifier(RecurrentClassifier):
    """Long short-term memory network with input, forget and output gates."""

    cell = nn.LSTM
    name = "lstm"
