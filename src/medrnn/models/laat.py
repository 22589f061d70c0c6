"""LAAT (Vu et al. 2020, IJCAI): BiLSTM -> label attention through a shared projection -> one output vector per label.

Input x (batch, time) int64 token ids, 0 = padding (positions at or beyond `lengths` are padding whatever id they hold):

    E     = embedding(x)                       (batch, time, embedding_dim), padding rows zeroed
    H     = BiLSTM(E)                          (batch, time, 2u), u = hidden_size per direction
    Z     = tanh(W H^T)                        (batch, d_a, time), W is d_a x 2u (d_a = attention_size)
    A     = softmax_t(U Z)                     (batch, num_classes, time), U is labels x d_a; 0 on padding
    V     = A H                                (batch, num_classes, 2u)
    logit_l = w_l . v_l + b_l                  (batch, num_classes), a separate output vector per label

Paper settings (MIMIC-III full): embedding_dim 100 (word2vec), hidden_size 512 per direction, attention_size
(d_a) 512, one layer, dropout 0.3 on the embeddings (top-50 codes: 256 and 256). Those sizes make CPU tests slow,
so the defaults are 128 / 128; pass the paper's values for paper runs.
"""

from __future__ import annotations

from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError
from medrnn.models.base import Encoded
from medrnn.models.text import CELLS, BidirectionalRnn, LabelAttention, PerLabelLinear, TokenClassifier, check_positive
from medrnn.registry import MODELS


@MODELS.register("laat")
class LaatClassifier(TokenClassifier):
    """Label attention model for ICD coding; forward returns per-label attention (batch, classes, time).

    Parameters
    ----------
    vocab_size : size of the token vocabulary, id 0 = padding.
    num_classes : number of labels (codes); logits are independent per label (use a sigmoid / BCE loss).
    embedding_dim : word vector size (paper: 100).
    hidden_size : recurrent units per direction, u (paper: 512 full codes, 256 top-50).
    attention_size : d_a, rows of the shared projection W (paper: 512 full codes, 256 top-50).
    num_layers : stacked bidirectional layers (paper: 1).
    cell : "lstm" (the paper) or "gru".
    dropout : on the embeddings, and between stacked layers (paper: 0.3).
    freeze_embeddings : keep the embedding fixed (set by `load_embeddings(matrix, freeze=True)`).

    `features` are the per-label document vectors V (batch, num_classes, 2 * hidden_size); `head` scores them.
    """

    name = "laat"

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 100,
        hidden_size: int = 128,
        attention_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        dropout: float = 0.3,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        check_positive(self.name, vocab_size=vocab_size, num_classes=num_classes, embedding_dim=embedding_dim,
                       hidden_size=hidden_size, attention_size=attention_size, num_layers=num_layers)  # fmt: skip
        if cell not in CELLS:
            raise ConfigError(f"{self.name}: cell={cell!r}; valid: {', '.join(repr(c) for c in CELLS)}")
        self.num_static = 0
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.rnn = BidirectionalRnn(embedding_dim, hidden_size, num_layers, cell, dropout)
        self.attention = LabelAttention(self.rnn.output_size, num_classes, attention_size)
        self.classifier = PerLabelLinear(self.rnn.output_size, num_classes)
        self.freeze_embeddings(freeze_embeddings)

    def encode(self, batch: Batch) -> Encoded:
        mask = self._check(batch)  # (batch, time)
        e = self.dropout(self.embed(batch.x, mask))  # (batch, time, embedding_dim), padding = 0
        h = self.rnn(e, batch.lengths)  # (batch, time, 2*hidden)
        v, alpha = self.attention(h, mask)  # (batch, labels, 2*hidden), (batch, labels, time)
        return Encoded(v, alpha)
