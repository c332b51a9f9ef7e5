"""Ridge regression on flattened window inputs, its penalty chosen on inner validation windows.

The forecasting recipes' `ridge` baseline and the anchor a teacher is shrunk towards (`distill.core.shrinkage`)
are this one fit: minimise ||y - Xb - c||^2 + alpha ||b||^2 (scikit-learn's `Ridge`, intercept unpenalised),
with alpha the grid value of lowest mean absolute error on the validation windows.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.linear_model import Ridge

RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def fit_ridge(inputs: np.ndarray, targets: np.ndarray, val_inputs: np.ndarray, val_targets: np.ndarray,
              alphas: tuple[float, ...] = RIDGE_ALPHAS) -> Ridge:
    """Ridge regression on the flattened window inputs; alpha chosen on the inner validation windows."""
    from sklearn.linear_model import Ridge  # imported here: scikit-learn would add ~20 MB to training's peak memory
    flat, val_flat = inputs.reshape(len(inputs), -1), val_inputs.reshape(len(val_inputs), -1)
    errors = {alpha: np.abs(Ridge(alpha=alpha).fit(flat, targets).predict(val_flat) - val_targets).mean()
              for alpha in alphas}
    return Ridge(alpha=min(errors, key=lambda alpha: errors[alpha])).fit(flat, targets)
