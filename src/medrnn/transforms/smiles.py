"""SMILES tokens and their vocabulary: an atom-level regex tokenizer, a train-only Vocabulary, random SMILES.

The regex is the atom-level pattern of Schwaller et al. (2019, Molecular Transformer), which the SMILES
language-model literature shares: bracket atoms stay whole, two-letter elements (Cl, Br) are one token,
ring closures `%nn` are one token; RDKit's dative bonds `->` and `<-` (metal complexes, e.g. cobalamin in
ClinTox) are added as single tokens. Tokenizing is lossless: "".join(tokens) == smiles, checked on every call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from medrnn.errors import InvalidRecordError
from medrnn.io.smiles import screen_smiles
from medrnn.transforms.vocabulary import TokenVocabulary

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


class Vocabulary(TokenVocabulary):
    """Token <-> id map fitted on training SMILES only; unseen tokens map to <unk> and are counted.

    Ids 0-3 are <pad>, <unk>, <bos>, <eos>; the rest are tokens by descending training frequency.
    """

    SPECIALS = SPECIALS
    fitted_on = "the training SMILES"

    def __init__(self, min_freq: int = 1) -> None:
        self.min_freq = min_freq

    def fit(self, token_lists: Iterable[Sequence[str]]) -> Vocabulary:
        """Learn the vocabulary from the training SMILES' tokens (never from validation or test)."""
        counts, kept = self._fit_tokens(token_lists, self.min_freq)
        self.counts_ = {t: int(counts[t]) for t in kept}
        return self

    def encode(self, tokens: Sequence[str], add_bos_eos: bool = False) -> tuple[np.ndarray, int]:
        """Token ids (int64) and how many tokens were unknown (mapped to <unk>); <bos>/<eos> around them if asked."""
        ids, n_unknown = self._ids(tokens)
        if add_bos_eos:
            ids = np.concatenate([[self.index_[BOS]], ids, [self.index_[EOS]]]).astype(np.int64)
        return ids, n_unknown

    def state_dict(self) -> dict[str, Any]:
        """Plain lists and numbers only (saved in the artifact's JSON metadata)."""
        self._fitted()
        return {"min_freq": self.min_freq, "tokens": self.tokens_, "counts": self.counts_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Vocabulary:
        """Rebuild a fitted vocabulary from `state_dict()`; a state without the specials first raises."""
        vocab = cls(int(state.get("min_freq", 1)))
        vocab._set_tokens(list(state["tokens"]))
        vocab.counts_ = dict(state.get("counts", {}))
        return vocab


def randomize_smiles(smiles: str, n: int, seed: int) -> list[str]:
    """`n` random, valid, non-canonical SMILES of one molecule (SMILES enumeration, Bjerrum 2017); seeded."""
    from rdkit import Chem, rdBase

    reason = screen_smiles(smiles)  # callers pass reader output, but RDKit crashes on huge input: never risk it
    if reason is not None:
        raise InvalidRecordError(f"SMILES {smiles[:80]!r}: {reason}, so it cannot be enumerated")
    _quiet = rdBase.BlockLogs()  # noqa: F841  (RDKit warns on every lone [H]; blocked while this object lives)
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InvalidRecordError(f"SMILES {smiles!r}: RDKit cannot parse it, so it cannot be enumerated")
    return list(Chem.MolToRandomSmilesVect(mol, n, randomSeed=int(seed) % (2**31 - 2) + 1))  # RDKit: seed 0 means "unseeded"
