"""BiGRU with max-pooling over time: the plain multi-label text baseline (no label attention).

Input x (batch, time) int64 token ids, 0 = padding (positions at or beyond `lengths` are padding whatever id they hold):

    E      = embedding(x)                 (batch, time, embedding_dim), padding rows zeroed
    H      = BiGRU(E)                     (batch, time, 2 * hidden_size)
    f      = max_t H over real steps      (batch, 2 * hidden_size)
    logits = W f + b                      (batch, num_classes)

The Bi-GRU baseline of CAML's comparison (Mullenbach et al. 2018); one document vector shared by all labels,
so it shows what label-wise attention adds.
"""

from __future__ import annotations

from torch import nn

from medrnn.data.batch import Batch
from medrnn.models.base import Encoded
from medrnn.models.text import BidirectionalRnn, TokenClassifier, check_positive
from medrnn.registry import MODELS


@MODELS.register("bigru_maxpool")
class BiGruMaxPoolClassifier(TokenClassifier):
    """Embedding -> BiGRU -> max over real tokens -> linear; `attention` is None.

    Parameters
    ----------
    vocab_size : size of the token vocabulary, id 0 = padding.
    num_classes : number of labels (codes); logits are independent per label (use a sigmoid / BCE loss).
    embedding_dim : word vector size.
    hidden_size : GRU units per direction.
    num_layers : stacked bidirectional layers.
    dropout : on the embeddings, between layers and on the pooled features.
    freeze_embeddings : keep the embedding fixed (set by `load_embeddings(matrix, freeze=True)`).
    """

    name = "bigru_maxpool"

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 100,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.2,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        check_positive(self.name, vocab_size=vocab_size, num_classes=num_classes, embedding_dim=embedding_dim,
                       hidden_size=hidden_size, num_layers=num_layers)  # fmt: skip
        self.num_static = 0
        self.attention = None
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.rnn = BidirectionalRnn(embedding_dim, hidden_size, num_layers, "gru", dropout)
        self.classifier = nn.Linear(self.rnn.output_size, num_classes)
        self.freeze_embeddings(freeze_embeddings)

    def encode(self, batch: Batch) -> Encoded:
        mask = self._check(batch)  # (batch, time)
        e = self.dropout(self.embed(batch.x, mask))  # (batch, time, embedding_dim), padding = 0
        h = self.rnn(e, batch.lengths)  # (batch, time, 2*hidden)
        pooled = h.masked_fill(~mask[..., None], float("-inf")).amax(dim=1)  # (batch, 2*hidden), real steps only
        return Encoded(self.dropout(pooled), None)
