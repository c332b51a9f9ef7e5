"""A teacher shrunk towards ridge regression, its weight chosen on inner validation (issue 19)."""
import pytest
import torch
from torch import nn

from distill.config import ModelSpec
from distill.core.shrinkage import shrink_teacher
from distill.core.task import FoldData
from distill.errors import DistillError
from distill.models import build_model
from distill.models.shrunk import Shrunk
from distill.protocols import execute, load_config
from distill.protocols.forecast.run import run_forecast


class _Fixed(nn.Module):
    """A 'teacher' whose forecast is a fixed linear map of the flattened window plus an offset."""

    def __init__(self, coef: torch.Tensor, offset: float) -> None:
        super().__init__()
        self.coef, self.offset = coef, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.coef.T + self.offset


def _linear_fold(seed: int = 0) -> tuple[FoldData, torch.Tensor]:
    """Targets that are exactly linear in the window: ridge (nearly) recovers them."""
    generator = torch.Generator().manual_seed(seed)
    coef = torch.randn(2, 6, generator=generator)
    x = torch.randn(300, 3, 2, generator=generator)
    y = x.flatten(1) @ coef.T
    return FoldData(index=0, x_train=x[:200], y_train=y[:200], x_test=x[250:], y_test=y[250:],
                    test_rows=torch.arange(250, 300), x_val=x[200:250], y_val=y[200:250]), coef


def test_a_teacher_worse_than_ridge_on_inner_validation_is_replaced_by_it():
    fold, coef = _linear_fold()
    shrunk, record = shrink_teacher(_Fixed(coef, offset=3.0), ModelSpec(model="mlp"), fold)
    assert record.weight == 0.0
    assert record.validation_mse["ridge"] < record.validation_mse["teacher"]
    assert torch.allclose(shrunk(fold.x_test), fold.y_test, atol=0.15)  # ridge: alpha >= 1


def test_a_teacher_better_than_ridge_on_inner_validation_is_kept():
    fold, coef = _linear_fold()
    fold.y_train = fold.y_train + torch.randn_like(fold.y_train) * 5  # ridge learns from noisy targets
    shrunk, record = shrink_teacher(_Fixed(coef, offset=0.0), ModelSpec(model="mlp"), fold)
    assert record.weight == 1.0
    assert torch.allclose(shrunk(fold.x_test), fold.y_test, atol=1e-5)


def test_the_shrunk_forecast_is_the_weighted_mix_and_rebuilds_from_its_spec():
    base = build_model("mlp", (3, 2), 2, hidden=[4])
    shrunk = Shrunk.of(base, torch.randn(2, 6), torch.randn(2), 0.3, (3, 2), "mlp", {"hidden": [4]})
    x = torch.randn(5, 3, 2)
    expected = 0.3 * base(x) + 0.7 * shrunk.anchor(x.flatten(1))
    assert torch.allclose(shrunk(x), expected)
    rebuilt = build_model("shrunk", (3, 2), 2, base="mlp", base_options={"hidden": [4]})
    rebuilt.load_state_dict(shrunk.state_dict())
    assert torch.allclose(rebuilt(x), expected)


def test_shrinking_without_inner_validation_is_a_one_line_error():
    fold, coef = _linear_fold()
    fold.x_val = fold.y_val = None
    with pytest.raises(DistillError, match="inner validation"):
        shrink_teacher(_Fixed(coef, 0.0), ModelSpec(model="mlp"), fold)


@pytest.mark.parametrize("recipe, overrides, message", [
    ("covid-lstm", ["data.quantiles=hub", "teacher.blend=[]"], "task is quantile"),
    ("hinton-digits", [], "task is classification"),
    ("covid-lstm", ["cv.inner_validation=0"], "inner validation"),
])
def test_shrinking_a_teacher_that_does_not_forecast_points_fails_before_training(recipe, overrides, message,
                                                                                 tiny_forecast, tiny_classification,
                                                                                 tmp_path):
    base = tiny_forecast if recipe == "covid-lstm" else tiny_classification
    with pytest.raises(DistillError, match=message):
        execute(load_config(recipe, [*base, *overrides, "teacher.shrink=ridge"]), tmp_path / "run",
                show_progress=False)
    assert not (tmp_path / "run" / "results.json").exists()


def test_a_shrunk_run_records_each_folds_weight_and_its_final_teacher_is_shrunk(tiny_forecast):
    run = run_forecast(load_config("covid-lstm", [*tiny_forecast, "report.auto_ets=false", "teacher.shrink=ridge"]),
                       show_progress=False)
    records = run.results["teacher_shrinkage"]
    assert len(records) == len(run.protocol.folds)
    assert all(0.0 <= entry["weight"] <= 1.0 for entry in records)
    assert all(entry["validation_mse"]["shrunk"] <= entry["validation_mse"]["teacher"] for entry in records)
    assert all(isinstance(models["teacher"], Shrunk) for models in run.protocol.models)
    assert isinstance(run.final.models["teacher"], Shrunk)
    assert any("shrunk towards ridge" in note for note in run.results["notes"])
