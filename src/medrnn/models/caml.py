"""CAML (Mullenbach et al. 2018, NAACL): convolution -> one attention per label -> one output vector per label.

Input x (batch, time) int64 token ids, 0 = padding (positions at or beyond `lengths` are padding whatever id they hold):

    E     = embedding(x)                           (batch, time, embedding_dim), padding rows zeroed
    H     = tanh(conv1d(E))                        (batch, time, hidden_size), 'same' padding, kernel_size wide
    alpha = softmax_t(H u_l)                       (batch, num_classes, time), one distribution per label, 0 on padding
    v_l   = sum_t alpha_lt h_t                     (batch, num_classes, hidden_size)
    logit_l = beta_l . v_l + b_l                   (batch, num_classes), a separate output vector per label

Paper settings (MIMIC-III): embedding_dim 100 (word2vec on the training notes), kernel_size 10, hidden_size 50
filter maps, dropout 0.2 on the embeddings. The defaults here are the paper's.

The token-model helpers shared with `laat` and `bigru_maxpool` (TokenClassifier, LabelAttention, PerLabelLinear)
live here because CAML is the first of the three.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from medrnn.data.batch import Batch
from medrnn.models.base import Encoded
from medrnn.models.text import LabelAttention, PerLabelLinear, TokenClassifier, check_positive
from medrnn.registry import MODELS


@MODELS.register("caml")
class CamlClassifier(TokenClassifier):
    """Convolutional attention for multi-label classification; forward returns per-label attention (batch, classes, time).

    Parameters
    ----------
    vocab_size : size of the token vocabulary, id 0 = padding.
    num_classes : number of labels (codes); logits are independent per label (use a sigmoid / BCE loss).
    embedding_dim : word vector size (paper: 100).
    hidden_size : number of convolution filter maps (paper: 50).
    kernel_size : convolution width in tokens (paper: 10); 'same' padding keeps one feature per token.
    dropout : on the embeddings (paper: 0.2).
    freeze_embeddings : keep the embedding fixed (set by `load_embeddings(matrix, freeze=True)`).

    `features` are the per-label document vectors V (batch, num_classes, hidden_size); `head` scores them.
    """

    name = "caml"

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 100,
        hidden_size: int = 50,
        kernel_size: int = 10,
        dropout: float = 0.2,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        check_positive(self.name, vocab_size=vocab_size, num_classes=num_classes, embedding_dim=embedding_dim,
                       hidden_size=hidden_size, kernel_size=kernel_size)  # fmt: skip
        self.num_static = 0
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        # 'same' padding written out: (k - 1) // 2 zeros before, k // 2 after (torch's split for even k, without its warning)
        self.same_padding = ((kernel_size - 1) // 2, kernel_size // 2)
        self.conv = nn.Conv1d(embedding_dim, hidden_size, kernel_size)
        nn.init.xavier_uniform_(self.conv.weight)
        self.attention = LabelAttention(hidden_size, num_classes)
        self.classifier = PerLabelLinear(hidden_size, num_classes)
        self.freeze_embeddings(freeze_embeddings)

    def encode(self, batch: Batch) -> Encoded:
        mask = self._check(batch)  # (batch, time)
        e = self.dropout(self.embed(batch.x, mask))  # (batch, time, embedding_dim), padding = 0
        e = F.pad(e.transpose(1, 2), self.same_padding)  # (batch, embedding_dim, time + kernel_size - 1)
        h = torch.tanh(self.conv(e)).transpose(1, 2)  # (batch, time, hidden)
        h = h * mask[..., None]  # padding positions carry no features
        v, alpha = self.attention(h, mask)  # (batch, labels, hidden), (batch, labels, time)
        return Encoded(v, alpha)
