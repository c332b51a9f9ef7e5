"""Stratified K-fold splits for classification: every fold keeps the class proportions of the whole."""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

from distill.errors import DistillError


def stratified_folds(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, test_idx) for each of `folds` shuffled, stratified folds; test parts are disjoint and cover y."""
    y = np.asarray(y)
    if not isinstance(folds, int) or folds < 2:
        raise DistillError(f"folds must be an integer >= 2, got {folds!r}")
    if y.ndim != 1 or len(y) == 0:
        raise DistillError(f"stratified folds need a non-empty 1-D array of class labels, got shape {y.shape}")
    classes, counts = np.unique(y, return_counts=True)
    rarest = counts.argmin()
    if counts[rarest] < folds:
        raise DistillError(f"class {classes[rarest].item()!r} has {counts[rarest]} members, fewer than folds={folds}; "
                           "every class needs at least one member per fold")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))
