"""Plain-word flags for results that cannot mean what a table suggests: a test target that never changes
(every model ties, and a paired test compares noise), and a trained model whose outputs do not vary across
test inputs (a constant predictor; distilling a constant is not distillation)."""
from __future__ import annotations

from collections.abc import Set as AbstractSet

import torch

from distill.core.protocol import ProtocolResult

RELATIVE_SPREAD = 1e-6  # outputs whose spread over test rows is below this share of their size count as constant


def is_constant(values: torch.Tensor) -> bool:
    """True when every column of (rows, ...) `values` takes one value over the rows (to RELATIVE_SPREAD)."""
    if len(values) < 2:
        return False
    flat = values.reshape(len(values), -1).double()
    spread = flat.max(0).values - flat.min(0).values
    size = flat.abs().max(0).values.clamp_min(1.0)
    return bool((spread <= RELATIVE_SPREAD * size).all())


def constant_flags(protocol: ProtocolResult, skip: AbstractSet[str] = frozenset(), where: str = "") -> list[str]:
    """One sentence per constant test target and per trained model with constant test outputs (`skip`: the
    baselines, constant by design); `where` names the cell in protocols with several."""
    prefix = f"{where}: " if where else ""
    flags = [f"{prefix}CONSTANT TARGET: the test target of fold {fold.index + 1} takes a single value; every "
             "model's score on it says nothing about skill" for fold in protocol.folds if is_constant(fold.y_test)]
    for name, runs in protocol.outcomes.items():
        if name in skip:
            continue
        folds = [str(index + 1) for index, run in enumerate(runs) if is_constant(run.test_outputs)]
        if folds:
            flags.append(f"{prefix}CONSTANT MODEL: {name} gives the same output for every test input in fold(s) "
                         f"{', '.join(folds)}; it has learned no dependence on its inputs there")
    return flags
