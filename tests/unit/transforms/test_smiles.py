"""SMILES tokenizer, vocabulary and random SMILES: lossless, train-only, seeded."""

from __future__ import annotations

import pytest
from rdkit import Chem

from medrnn.errors import InvalidRecordError, NotFittedError
from medrnn.transforms.smiles import SPECIALS, Vocabulary, is_atom_token, randomize_smiles, tokenize

TRICKY = {
    "C[C@@H](N)C(=O)O": ["C", "[C@@H]", "(", "N", ")", "C", "(", "=", "O", ")", "O"],  # stereo
    "[NH4+].[Cl-]": ["[NH4+]", ".", "[Cl-]"],  # charges, salts, two-letter element in brackets
    "[13CH3]c1ccccc1": ["[13CH3]", "c", "1", "c", "c", "c", "c", "c", "1"],  # isotope, aromatic lowercase
    "C1CC%10CC1%10": ["C", "1", "C", "C", "%10", "C", "C", "1", "%10"],  # two-digit ring closure
    "BrC/C=C\\Cl": ["Br", "C", "/", "C", "=", "C", "\\", "Cl"],  # Br/Cl one token, cis/trans bonds
    "c1ccc2[nH]ccc2c1": ["c", "1", "c", "c", "c", "2", "[nH]", "c", "c", "c", "2", "c", "1"],
    "[2H]C#N": ["[2H]", "C", "#", "N"],
    "*C(=O)[O-]": ["*", "C", "(", "=", "O", ")", "[O-]"],
    "[NH3]->[Co+]<-[NH3]": ["[NH3]", "->", "[Co+]", "<-", "[NH3]"],  # RDKit dative bonds (ClinTox's cobalamin)
}


@pytest.mark.parametrize("smiles", TRICKY)
def test_tokenize_is_lossless_on_tricky_smiles(smiles: str) -> None:
    tokens = tokenize(smiles)
    assert tokens == TRICKY[smiles]
    assert "".join(tokens) == smiles


@pytest.mark.parametrize("smiles", TRICKY)
def test_atom_tokens_are_rdkit_atoms_in_order(smiles: str) -> None:
    mol = Chem.MolFromSmiles(smiles)
    atoms = [t for t in tokenize(smiles) if is_atom_token(t)]
    assert len(atoms) == mol.GetNumAtoms()
    for token, atom in zip(atoms, mol.GetAtoms()):
        assert atom.GetSymbol().lower() in token.lower() or token == "*"


def test_tokenize_rejects_characters_outside_smiles() -> None:
    with pytest.raises(InvalidRecordError, match="not valid SMILES tokens"):
        tokenize("CC!O")


def test_vocabulary_fits_train_only_and_counts_unknowns() -> None:
    vocab = Vocabulary().fit([tokenize("CCO"), tokenize("CCN")])
    assert vocab.tokens_[: len(SPECIALS)] == list(SPECIALS) and vocab.tokens_[len(SPECIALS)] == "C"  # most frequent first
    ids, n_unknown = vocab.encode(tokenize("CCCl"))
    assert n_unknown == 1 and ids[-1] == vocab.index_["<unk>"]
    assert vocab.decode(vocab.encode(tokenize("CCO"))[0]) == ["C", "C", "O"]
    assert vocab.unknown_tokens([tokenize("CBr"), tokenize("CBr")]) == {"Br": 2}
    again = Vocabulary.from_state(vocab.state_dict())
    assert again.tokens_ == vocab.tokens_ and (again.encode(["N", "S"])[0] == vocab.encode(["N", "S"])[0]).all()


def test_vocabulary_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        Vocabulary().encode(["C"])


def test_random_smiles_are_seeded_and_the_same_molecule() -> None:
    smiles = "CC(=O)Oc1ccccc1C(=O)O"
    first, again, other = randomize_smiles(smiles, 5, 3), randomize_smiles(smiles, 5, 3), randomize_smiles(smiles, 5, 4)
    assert first == again and first != other
    canonical = Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
    assert {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in first} == {canonical}
    assert len(set(first)) > 1
