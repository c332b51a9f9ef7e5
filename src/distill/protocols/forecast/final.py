"""The forecasting run's final models: teacher and students fitted on every window after cross-validation.

The scaling is fitted on every window too (the final models' `models/scaling-final.json`), exactly as each
fold's was fitted on its own fitting windows; see `distill.core.final_fit` for the epochs and the order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from distill.config import ModelSpec
from distill.core.final_fit import final_epochs, fit_final
from distill.core.protocol import ProtocolResult
from distill.core.task import Task
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.windows import WindowTable, minmax_folds, window_log_folds


@dataclass
class FinalModels:
    """The final models by name, the spec each was built from, their epochs, and their fitted scaling."""

    models: dict[str, nn.Module]
    specs: dict[str, ModelSpec]
    epochs: dict[str, int]
    scaling: dict
    windows: int


def fit_final_models(config: ForecastConfig, table: WindowTable, values: np.ndarray, columns: list[str],
                     target_index: int, protocol: ProtocolResult, task: Task) -> FinalModels:
    """Scale every window with statistics fitted on all of them, then fit the teacher (the architecture most
    folds chose) and every student on all windows."""
    every, none = np.arange(len(table.starts)), np.array([], dtype=int)
    if config.data.scaling == "window_log":
        folds, codecs = window_log_folds(config, table, target_index, [(every, none, none)])
    else:
        folds, codecs = minmax_folds(config, values, table, target_index, [(every, none, none)])
    teacher = max(protocol.teacher_specs, key=protocol.teacher_specs.count)
    teacher_curves = [outcome.curves for outcome, spec in zip(protocol.outcomes["teacher"], protocol.teacher_specs)
                      if spec == teacher]
    epochs = {"teacher": final_epochs(teacher_curves, teacher, config.train),
              **{name: final_epochs([outcome.curves for outcome in protocol.outcomes[name]], spec, config.train)
                 for name, spec in config.students.items()}}
    models = fit_final(folds[0], task, teacher, config.students, config.train, config.seed, epochs,
                       protocol.teacher_shrinkage)
    return FinalModels(models, {"teacher": teacher, **config.students}, epochs, codecs[0].describe(columns),
                       len(every))


def final_note(final: FinalModels) -> str:
    """The report's note on the final models."""
    epochs = ", ".join(f"{name} {count}" for name, count in final.epochs.items())
    return (f"Final models: after cross-validation, the teacher and every student were fitted once more on all "
            f"{final.windows} windows (scaling fitted on all of them; epochs: {epochs}, the median best epoch of "
            "each model's folds on inner validation, or train.epochs without it). They are the models to deploy "
            "(models/<name>-final.pt, used by `distill predict` by default); the cross-validated scores estimate "
            "their error, as no data is left to score them on.")
