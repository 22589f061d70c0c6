"""Stratified, seeded splits of labelled records (one record per unit, e.g. an ICU stay): holdout and k-fold.

scikit-learn does the stratification; this module only fixes the order (train, val, test) and the seeding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from medrnn.data.splits import Split, check_sizes
from medrnn.errors import ConfigError


def stratified_split(y: np.ndarray, sizes: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Train/val/test positions with the label ratio of `y` kept in each part (Raindrop's P12 protocol)."""
    train_f, val_f, test_f = check_sizes(sizes)
    y = np.asarray(y)
    index = np.arange(len(y))
    rest, test = train_test_split(index, test_size=test_f, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_f / (train_f + val_f), stratify=y[rest], random_state=seed)
    return Split(np.sort(train), np.sort(val), np.sort(test))


def stratified_fold(y: np.ndarray, folds: int, fold: int, seed: int = 0, val_fraction: float = 0.1) -> Split:
    """Fold `fold` of a stratified k-fold as test; validation is a stratified `val_fraction` of the other folds."""
    if not 0 <= fold < folds:
        raise ConfigError(f"fold {fold} out of range for {folds} folds (valid: 0..{folds - 1})")
    y = np.asarray(y)
    rest, test = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))[fold]
    train, val = train_test_split(rest, test_size=val_fraction, stratify=y[rest], random_state=seed)
    return Split(np.sort(train), np.sort(val), np.sort(test))
