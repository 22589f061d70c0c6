"""SMILES tokens and their vocabulary: an atom-level regex tokenizer, a train-only Vocabulary, random SMILES.

The regex is the atom-level pattern of Schwaller et al. (2019, Molecular Transformer), which the SMILES
language-model literature shares: bracket atoms stay whole, two-letter elements (Cl, Br) are one token,
ring closures `%nn` are one token; RDKit's dative bonds `->` and `<-` (metal complexes, e.g. cobalamin in
ClinTox) are added as single tokens. Tokenizing is lossless: "".join(tokens) == smiles, checked on every call.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from medrnn.errors import InvalidRecordError, NotFittedError

SMILES_PATTERN = r"(\[[^\]]+]|<-|->|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
_SMILES_RE = re.compile(SMILES_PATTERN)
_ATOM_RE = re.compile(r"^(\[[^\]]+]|Br|Cl|B|C|N|O|S|P|F|I|b|c|n|o|s|p|\*)$")

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES into atom-level tokens; raises if any character is not covered (nothing is lost)."""
    tokens = _SMILES_RE.findall(smiles)
    if "".join(tokens) != smiles:
        covered = _SMILES_RE.sub("", smiles)
        raise InvalidRecordError(f"SMILES {smiles!r}: characters {covered!r} are not valid SMILES tokens")
    return tokens


def is_atom_token(token: str) -> bool:
    """True for tokens that are atoms (bracket atoms, organic-subset elements, '*'); RDKit numbers atoms in this order."""
    return bool(_ATOM_RE.match(token))


class Vocabulary:
    """Token <-> id map fitted on training SMILES only; unseen tokens map to <unk> and are counted.

    Ids 0-3 are <pad>, <unk>, <bos>, <eos>; the rest are tokens by descending training frequency.
    """

    def __init__(self, min_freq: int = 1) -> None:
        self.min_freq = min_freq

    def fit(self, token_lists: Iterable[Sequence[str]]) -> Vocabulary:
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = sorted((t for t, n in counts.items() if n >= self.min_freq), key=lambda t: (-counts[t], t))
        self.tokens_ = list(SPECIALS) + kept
        self.index_ = {t: i for i, t in enumerate(self.tokens_)}
        self.counts_ = {t: int(counts[t]) for t in kept}
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "tokens_"):
            raise NotFittedError("Vocabulary used before fit(); fit it on the training SMILES")

    def __len__(self) -> int:
        self._fitted()
        return len(self.tokens_)

    def encode(self, tokens: Sequence[str], add_bos_eos: bool = False) -> tuple[np.ndarray, int]:
        """Token ids (int64) and how many tokens were unknown (mapped to <unk>)."""
        self._fitted()
        unk = self.index_[UNK]
        ids = [self.index_.get(t, unk) for t in tokens]
        n_unknown = sum(1 for t in tokens if t not in self.index_)
        if add_bos_eos:
            ids = [self.index_[BOS], *ids, self.index_[EOS]]
        return np.asarray(ids, dtype=np.int64), n_unknown

    def unknown_tokens(self, token_lists: Iterable[Sequence[str]]) -> Counter:
        """Counts of tokens not in the vocabulary, for the run report."""
        self._fitted()
        return Counter(t for tokens in token_lists for t in tokens if t not in self.index_)

    def decode(self, ids: Iterable[int]) -> list[str]:
        self._fitted()
        return [self.tokens_[int(i)] for i in ids]

    def state_dict(self) -> dict[str, Any]:
        self._fitted()
        return {"min_freq": self.min_freq, "tokens": self.tokens_, "counts": self.counts_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Vocabulary:
        vocab = cls(int(state.get("min_freq", 1)))
        tokens = list(state["tokens"])
        if tokens[: len(SPECIALS)] != list(SPECIALS):
            raise InvalidRecordError(f"vocabulary state: first tokens must be {list(SPECIALS)}, got {tokens[:4]}")
        vocab.tokens_, vocab.index_ = tokens, {t: i for i, t in enumerate(tokens)}
        vocab.counts_ = dict(state.get("counts", {}))
        return vocab


def randomize_smiles(smiles: str, n: int, seed: int) -> list[str]:
    """`n` random, valid, non-canonical SMILES of one molecule (SMILES enumeration, Bjerrum 2017); seeded."""
    from rdkit import Chem, rdBase

    _quiet = rdBase.BlockLogs()  # noqa: F841  (RDKit warns on every lone [H]; blocked while this object lives)
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InvalidRecordError(f"SMILES {smiles!r}: RDKit cannot parse it, so it cannot be enumerated")
    return list(Chem.MolToRandomSmilesVect(mol, n, randomSeed=int(seed) % (2**31 - 2) + 1))  # RDKit: seed 0 means "unseeded"
