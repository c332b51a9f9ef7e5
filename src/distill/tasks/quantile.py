"""The quantile-regression task: models output (rows, horizon, levels) quantiles, trained with the pinball loss;
students learn the teacher's quantiles (`quantile_distillation_loss`); point scores use the median."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from distill.config import ModelSpec, StudentSpec
from distill.core.task import FoldData, Task
from distill.core.train import predict
from distill.errors import DistillError
from distill.losses import LossTerms
from distill.losses.pinball import check_levels, pinball_loss
from distill.methods import Guide, Quantile


class QuantileTask(Task[ModelSpec, StudentSpec]):
    """Multi-horizon quantile regression over `levels` (default the Forecast Hub's 23).

    Models come from the `quantile` family (`distill.models.quantile`), so their quantiles never cross. Early
    stopping and curves use the pinball loss on the truth; `mse` / `mae` (and `mae_original`, in the target's
    units) score the median, so point tables read as for `RegressionTask`.
    """

    name = "quantile"
    curve_metric = "pinball"

    def __init__(self, levels: Sequence[float] | str = "hub") -> None:
        self.levels = check_levels(levels)
        self.tau = torch.tensor(self.levels)
        if 0.5 not in self.levels:
            raise DistillError("quantile forecasts need the median (level 0.5) among their levels for point scores")
        self.median = self.levels.index(0.5)

    def output_dim(self, spec: ModelSpec, fold: FoldData | None) -> int:
        if fold is None:
            raise DistillError("a quantile model's output count is the fold's horizon; no fold was given")
        return int(fold.y_train.shape[1])

    def teacher_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
        return pinball_loss(model(x), targets, self.tau)

    def guide(self, teacher: nn.Module, x: torch.Tensor, spec: StudentSpec) -> Guide:
        return Guide(predict(teacher, x))  # (rows, horizon, levels): the teacher's quantiles

    def student_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, guide: Guide,
                     spec: StudentSpec) -> LossTerms:
        return Quantile(spec.alpha, self.levels).losses(model(x), targets, guide)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]:
        error = outputs[..., self.median] - targets  # (rows, horizon)
        mae = float(error.abs().mean())
        return {"pinball": float(pinball_loss(outputs, targets, self.tau)), "mse": float(error.pow(2).mean()),
                "mae": mae, "mae_original": mae * fold.units}

    def fidelity(self, outputs: torch.Tensor, teacher: torch.Tensor) -> dict[str, float]:
        error = outputs - teacher  # (rows, horizon, levels)
        return {"mse": float(error.pow(2).mean()), "mae": float(error.abs().mean())}
